#include "storage/multi_row_insert.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "storage/sql.h"

namespace collections::storage {
namespace {

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

void ArrayLiteral::Add(long long number) {
  Separate();
  absl::StrAppend(&text_, number);
}

void ArrayLiteral::Add(const std::string& text) {
  Separate();
  text_ += '"';
  for (char ch : text) {
    if (ch == '"' || ch == '\\') text_ += '\\';
    text_ += ch;
  }
  text_ += '"';
}

std::string ArrayLiteral::Take() {
  std::string literal = text_.empty() ? "{" : std::move(text_);
  literal += '}';
  text_.clear();
  return literal;
}

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

long long InsertSession::RunWithArrays(const std::string& text, std::vector<std::string> arrays) {
  ArrayStatement& run = PreparedArrays(text, static_cast<int>(arrays.size()));
  for (size_t i = 0; i < arrays.size(); ++i) run.arrays[i] = std::move(arrays[i]);
  run.statement.execute(true);
  return run.statement.get_affected_rows();
}

InsertSession::ArrayStatement& InsertSession::PreparedArrays(const std::string& text, int columns) {
  auto it = prepared_arrays_.find(text);
  if (it != prepared_arrays_.end()) return *it->second;
  auto insert = std::make_unique<ArrayStatement>(sql_);
  insert->arrays.resize(columns);  // never resized again: bound by address
  for (std::string& array : insert->arrays) insert->statement.exchange(soci::use(array));
  insert->statement.alloc();
  insert->statement.prepare(text, soci::details::st_repeatable_query);
  insert->statement.define_and_bind();
  return *prepared_arrays_.emplace(text, std::move(insert)).first->second;
}

MultiRowInsert::MultiRowInsert(std::string head, std::string row, std::string tail)
    : head_(std::move(head)), row_(std::move(row)), tail_(std::move(tail)) {
  per_row_ = static_cast<int>(std::count(row_.begin(), row_.end(), '?'));
  if (per_row_ == 0) throw std::logic_error("MultiRowInsert: a row binds no value");
  if (!absl::EndsWith(head_, " VALUES") || !absl::StartsWith(row_, "(") ||
      !absl::EndsWith(row_, ")")) {
    throw std::logic_error(
        absl::StrCat("MultiRowInsert: not \"... VALUES\" and \"(...)\": ", head_, " ", row_));
  }
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
  return to.sqlite() != nullptr ? FlushSqlite(to) : FlushPostgres(to);
}

std::string MultiRowInsert::ArrayInsertText(const std::vector<bool>& text) const {
  // "INSERT INTO t (a, b, c) VALUES" + "(?, 0, ?)" + tail becomes
  // "INSERT INTO t (a, b, c) SELECT u.c0, 0, u.c1 FROM unnest(CAST(:a0 AS
  // bigint[]), CAST(:a1 AS text[])) AS u(c0, c1)" + tail. (CAST, not "::":
  // SOCI reads ":name" as a placeholder.)
  std::string sql(absl::StripSuffix(head_, "VALUES"));
  sql += "SELECT ";
  int column = 0;
  for (char ch : absl::StripSuffix(absl::StripPrefix(row_, "("), ")")) {
    if (ch == '?') {
      absl::StrAppend(&sql, "u.c", column++);
    } else {
      sql += ch;
    }
  }
  sql += " FROM unnest(";
  for (int i = 0; i < per_row_; ++i) {
    absl::StrAppend(&sql, i == 0 ? "" : ", ", "CAST(:a", i, " AS ", text[i] ? "text" : "bigint",
                    "[])");
  }
  sql += ") AS u(";
  for (int i = 0; i < per_row_; ++i) absl::StrAppend(&sql, i == 0 ? "c" : ", c", i);
  sql += ")";
  sql += tail_;
  return sql;
}

long long MultiRowInsert::FlushPostgres(InsertSession& to) {
  if (values_.empty()) return 0;
  std::vector<bool> text(per_row_);
  for (int i = 0; i < per_row_; ++i) text[i] = values_[i].text;
  std::vector<std::string> arrays(per_row_);
  for (int i = 0; i < per_row_; ++i) {
    ArrayLiteral array;
    for (size_t v = i; v < values_.size(); v += per_row_) {
      const Value& value = values_[v];
      if (value.text != text[i]) {
        throw std::logic_error(
            absl::StrCat("MultiRowInsert: column ", i, " of ", head_, " mixes text and numbers"));
      }
      if (value.text) {
        array.Add(value.string);
      } else {
        array.Add(value.number);
      }
    }
    arrays[i] = array.Take();
  }
  return to.RunWithArrays(ArrayInsertText(text), std::move(arrays));
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
