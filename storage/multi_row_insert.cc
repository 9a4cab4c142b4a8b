#include "storage/multi_row_insert.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"

namespace collections::storage {
namespace {

// Below both backends' limits on bound values per statement: PostgreSQL's
// 65,535 and SQLite's 32,766 (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
constexpr int kMaxValuesPerStatement = 30000;

}  // namespace

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

long long MultiRowInsert::Flush(soci::session& sql) {
  if (values_.size() % per_row_ != 0) {
    throw std::logic_error(
        absl::StrCat("MultiRowInsert: ", values_.size(), " values do not fill rows of ", per_row_));
  }
  const int total_rows = rows();
  const int rows_per_statement = std::max(1, kMaxValuesPerStatement / per_row_);
  // SOCI hands PostgreSQL ":v0".. as $1..; SQLite gets anonymous "?"s:
  // it looks every named parameter up by name in a list, which costs the
  // square of their number at this size.
  const bool named = sql.get_backend_name() != "sqlite3";
  long long inserted = 0;
  for (int first = 0; first < total_rows; first += rows_per_statement) {
    const int n = std::min(rows_per_statement, total_rows - first);
    std::string text = head_;
    text.reserve(head_.size() + n * (row_.size() + 8 * per_row_) + tail_.size());
    int placeholder = 0;
    for (int r = 0; r < n; ++r) {
      text += r == 0 ? " " : ", ";
      for (char ch : row_) {
        if (ch == '?' && named) {
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
  values_.clear();
  return inserted;
}

}  // namespace collections::storage
