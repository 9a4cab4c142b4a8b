// MultiRowInsert: the rows of one INSERT gathered in memory, then written
// together. For a command that writes many rows of a table at once, such as
// an import's new cases.
//
// On PostgreSQL they go in one statement, prepared once per connection:
// each column's values as one array, the rows made by unnest() ("INSERT ...
// SELECT ... FROM unnest($1::bigint[], $2::text[], ...)"), so that any
// number of rows is one round trip of the same statement. (A multi-row
// VALUES list with a placeholder per value was a new statement of up to
// 30,000 parameters for every command, parsed, analysed and planned each
// time; imports ran 8,200-8,600 rows/s that way, 11,400-12,300 with the
// arrays.) SQLite has no round
// trips, but parsing a new multi-row statement for every command was a
// sixth of a bulk import's writer time, with its allocations about as much
// again; there each row is one step of a one-row statement the
// InsertSession prepared once.
//
// Thread-safety: none; one writer thread uses it, and its InsertSession,
// within one command.
#ifndef COLLECTIONS_STORAGE_MULTI_ROW_INSERT_H_
#define COLLECTIONS_STORAGE_MULTI_ROW_INSERT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "soci/soci.h"
#include "soci/sqlite3/soci-sqlite3.h"

namespace collections::storage {

// The session a MultiRowInsert writes through and the statements prepared
// on it, by text, each kept for the session's life: on SQLite one-row
// INSERTs, on PostgreSQL statements of arrays (unnest() INSERTs).
// Destroy it before the session closes (SQLite does not close a connection
// with statements left).
class InsertSession {
 public:
  explicit InsertSession(soci::session& sql);
  ~InsertSession();
  InsertSession(const InsertSession&) = delete;
  InsertSession& operator=(const InsertSession&) = delete;

  // PostgreSQL: runs `text`, whose placeholders take `arrays` in order
  // (array literals, e.g. "{1,2}"), with its statement prepared on first
  // use; returns the rows it changed. Throws soci_error.
  long long RunWithArrays(const std::string& text, std::vector<std::string> arrays);

 private:
  friend class MultiRowInsert;
  soci::session& sql() { return sql_; }
  // SQLite's connection; null on PostgreSQL.
  sqlite_api::sqlite3* sqlite() const { return sqlite_; }
  // The prepared statement of `text` in its writer's form (WriterSql),
  // prepared now if it is new. Throws soci::sqlite3_soci_error.
  sqlite_api::sqlite3_stmt* Prepared(const std::string& text);

  // PostgreSQL: a statement of arrays (an unnest() INSERT, say) and the
  // array literals its placeholders are bound to, in order.
  struct ArrayStatement {
    explicit ArrayStatement(soci::session& sql) : statement(sql) {}
    soci::statement statement;
    std::vector<std::string> arrays;
  };
  // The ArrayStatement of `text` for `columns` bound arrays, prepared now if
  // it is new (and kept only once prepared). Throws soci_error.
  ArrayStatement& PreparedArrays(const std::string& text, int columns);

  soci::session& sql_;
  sqlite_api::sqlite3* sqlite_ = nullptr;
  absl::flat_hash_map<std::string, sqlite_api::sqlite3_stmt*> prepared_;
  absl::flat_hash_map<std::string, std::unique_ptr<ArrayStatement>> prepared_arrays_;
};

// A PostgreSQL array literal ("{1,2}", "{\"a\",\"b\"}") built one
// element at a time, for InsertSession::RunWithArrays and other statements
// that bind arrays. Text elements go in double quotes with '"' and '\'
// escaped, so that no value is read as a separator, a nested array or NULL.
class ArrayLiteral {
 public:
  void Add(long long number);
  void Add(const std::string& text);
  // The literal, closed; the builder starts over empty.
  std::string Take();

 private:
  void Separate() { text_ += text_.empty() ? '{' : ','; }
  std::string text_;
};

class MultiRowInsert {
 public:
  // head: "INSERT INTO t (a, b, c) VALUES"; row: one row with '?' for each
  // bound value, e.g. "(?, ?, 0, ?)"; tail: what follows the rows, e.g.
  // " ON CONFLICT DO NOTHING".
  MultiRowInsert(std::string head, std::string row, std::string tail = "");

  // The next bound value of the current row, in the row's order.
  MultiRowInsert& operator<<(long long value);
  MultiRowInsert& operator<<(std::string value);

  // Complete rows added since the last Flush.
  int rows() const { return static_cast<int>(values_.size()) / per_row_; }

  // Writes the rows and forgets them; returns the rows the database
  // reports as inserted. Throws soci_error, and std::logic_error when the
  // values added do not fill whole rows (a bug). The rows are forgotten
  // either way. On SQLite a failure may leave some of the rows written: the
  // caller fails its command, and the writer rolls the command back (as for
  // any failed statement).
  long long Flush(InsertSession& to);

 private:
  long long FlushSqlite(InsertSession& to);
  long long FlushPostgres(InsertSession& to);
  // The unnest() INSERT of head_, row_ and tail_ for columns whose values
  // are text where `text[i]` is set.
  std::string ArrayInsertText(const std::vector<bool>& text) const;

  struct Value {
    bool text = false;
    long long number = 0;
    std::string string;
  };

  std::string head_, row_, tail_;
  int per_row_ = 0;
  std::vector<Value> values_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_MULTI_ROW_INSERT_H_
