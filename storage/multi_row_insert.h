// MultiRowInsert: the rows of one INSERT gathered in memory, then written
// together. For a command that writes many rows of a table at once, such as
// an import's new cases.
//
// On PostgreSQL they go with as few statements as its bound-value limit
// allows (a multi-row VALUES list each): one statement per row would cost a
// round trip per row. SQLite has no round trips, but parsing a new
// multi-row statement for every command was a sixth of a bulk import's
// writer time, with its allocations about as much again; there each row is
// one step of a one-row statement the InsertSession prepared once.
//
// Thread-safety: none; one writer thread uses it, and its InsertSession,
// within one command.
#ifndef COLLECTIONS_STORAGE_MULTI_ROW_INSERT_H_
#define COLLECTIONS_STORAGE_MULTI_ROW_INSERT_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "soci/soci.h"
#include "soci/sqlite3/soci-sqlite3.h"

namespace collections::storage {

// The session a MultiRowInsert writes through and, on SQLite, the one-row
// INSERT statements prepared on it, by text, each kept for the session's
// life. Destroy it before the session closes (SQLite does not close a
// connection with statements left).
class InsertSession {
 public:
  explicit InsertSession(soci::session& sql);
  ~InsertSession();
  InsertSession(const InsertSession&) = delete;
  InsertSession& operator=(const InsertSession&) = delete;

 private:
  friend class MultiRowInsert;
  soci::session& sql() { return sql_; }
  // SQLite's connection; null on PostgreSQL.
  sqlite_api::sqlite3* sqlite() const { return sqlite_; }
  // The prepared statement of `text` in its writer's form (WriterSql),
  // prepared now if it is new. Throws soci::sqlite3_soci_error.
  sqlite_api::sqlite3_stmt* Prepared(const std::string& text);

  soci::session& sql_;
  sqlite_api::sqlite3* sqlite_ = nullptr;
  absl::flat_hash_map<std::string, sqlite_api::sqlite3_stmt*> prepared_;
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
