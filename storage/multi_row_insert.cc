#include "storage/multi_row_insert.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "storage/sql.h"

namespace collections::storage {
namespace {

// Below both backends' limits on bound values per statement: PostgreSQL's
// 65,535 and SQLite's 32,766 (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
constexpr int kMaxValuesPerStatement = 30000;

// Throws the connection's last error. A statement given is reset and its
// bindings cleared first (after the message is read: reset may replace it),
// so that none is left pointing into rows its caller forgets.
[[noreturn]] void ThrowSqlite(sqlite_api::sqlite3* db, const std::string& what,
                              sqlite_api::sqlite3_stmt* statement = nullptr) {
  soci::sqlite3_soci_error error(absl::StrCat(what, ": ", sqlite_api::sqlite3_errmsg(db)),
                                 sqlite_api::sqlite3_extended_errcode(db));
  if (statement != nullptr) {
    sqlite_api::sqlite3_reset(statement);
    sqlite_api::sqlite3_clear_bindings(statement);
  }
  throw error;
}

}  // namespace

InsertSession::InsertSession(soci::session& sql) : sql_(sql) {
  if (sql.get_backend_name() == "sqlite3") {
    sqlite_ = static_cast<soci::sqlite3_session_backend*>(sql.get_backend())->conn_;
  }
}

InsertSession::~InsertSession() {
  for (auto& [text, statement] : prepared_) sqlite_api::sqlite3_finalize(statement);
}

sqlite_api::sqlite3_stmt* InsertSession::Prepared(const std::string& text) {
  auto it = prepared_.find(text);
  if (it != prepared_.end()) return it->second;
  sqlite_api::sqlite3_stmt* statement = nullptr;
  const std::string writer_text = WriterSql(text, Backend::kSqlite);
  if (sqlite_api::sqlite3_prepare_v3(sqlite_, writer_text.data(),
                                     static_cast<int>(writer_text.size()),
                                     SQLITE_PREPARE_PERSISTENT, &statement, nullptr) != SQLITE_OK) {
    ThrowSqlite(sqlite_, absl::StrCat("preparing \"", text, "\""));
  }
  prepared_.emplace(text, statement);
  return statement;
}

MultiRowInsert::MultiRowInsert(std::string head, std::string row, std::string tail)
    : head_(std::move(head)), row_(std::move(row)), tail_(std::move(tail)) {
  per_row_ = static_cast<int>(std::count(row_.begin(), row_.end(), '?'));
  if (per_row_ == 0) throw std::logic_error("MultiRowInsert: a row binds no value");
}

MultiRowInsert& MultiRowInsert::operator<<(long long value) {
  values_.push_back({false, value, {}});
  return *this;
}

MultiRowInsert& MultiRowInsert::operator<<(std::string value) {
  values_.push_back({true, 0, std::move(value)});
  return *this;
}

long long MultiRowInsert::Flush(InsertSession& to) {
  if (values_.size() % per_row_ != 0) {
    throw std::logic_error(
        absl::StrCat("MultiRowInsert: ", values_.size(), " values do not fill rows of ", per_row_));
  }
  // The rows are forgotten however the write ends: a failed command is
  // rolled back and run again from its start, which adds them again.
  absl::Cleanup forget = [this] { values_.clear(); };
  if (to.sqlite() != nullptr) return FlushSqlite(to);
  soci::session& sql = to.sql();
  const int total_rows = rows();
  const int rows_per_statement = std::max(1, kMaxValuesPerStatement / per_row_);
  long long inserted = 0;
  for (int first = 0; first < total_rows; first += rows_per_statement) {
    const int n = std::min(rows_per_statement, total_rows - first);
    std::string text = head_;
    text.reserve(head_.size() + n * (row_.size() + 8 * per_row_) + tail_.size());
    int placeholder = 0;
    for (int r = 0; r < n; ++r) {
      text += r == 0 ? " " : ", ";
      for (char ch : row_) {
        if (ch == '?') {  // SOCI hands PostgreSQL ":v0".. as $1..
          absl::StrAppend(&text, ":v", placeholder++);
        } else {
          text += ch;
        }
      }
    }
    text += tail_;
    soci::statement st(sql);
    for (int i = first * per_row_; i < (first + n) * per_row_; ++i) {
      Value& v = values_[i];
      if (v.text) {
        st.exchange(soci::use(v.string));
      } else {
        st.exchange(soci::use(v.number));
      }
    }
    st.alloc();
    // One-time: PostgreSQL runs it with its values in one round trip
    // instead of preparing, executing and deallocating a named statement.
    st.prepare(text, soci::details::st_one_time_query);
    st.define_and_bind();
    st.execute(true);
    inserted += st.get_affected_rows();
  }
  return inserted;
}

long long MultiRowInsert::FlushSqlite(InsertSession& to) {
  sqlite_api::sqlite3* db = to.sqlite();
  sqlite_api::sqlite3_stmt* statement = to.Prepared(absl::StrCat(head_, " ", row_, tail_));
  const auto kStatic = static_cast<sqlite_api::sqlite3_destructor_type>(nullptr);  // SQLITE_STATIC
  long long inserted = 0;
  for (size_t first = 0; first < values_.size(); first += per_row_) {
    for (int i = 0; i < per_row_; ++i) {
      const Value& v = values_[first + i];
      // The strings outlive the step (SQLITE_STATIC: not copied).
      const int rc = v.text
                         ? sqlite_api::sqlite3_bind_text(statement, i + 1, v.string.data(),
                                                         static_cast<int>(v.string.size()), kStatic)
                         : sqlite_api::sqlite3_bind_int64(statement, i + 1, v.number);
      if (rc != SQLITE_OK) ThrowSqlite(db, "binding a row's value", statement);
    }
    if (sqlite_api::sqlite3_step(statement) != SQLITE_DONE) {
      ThrowSqlite(db, absl::StrCat("inserting a row (", head_, ")"), statement);
    }
    inserted += sqlite_api::sqlite3_changes(db);
    sqlite_api::sqlite3_reset(statement);
  }
  sqlite_api::sqlite3_clear_bindings(statement);  // no pointer into values_ kept
  return inserted;
}

}  // namespace collections::storage
