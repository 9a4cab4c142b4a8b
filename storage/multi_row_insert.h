// MultiRowInsert: the rows of one INSERT gathered in memory, then written
// with as few statements as the backends' bound-value limits allow (a
// multi-row VALUES list each). For a command that writes many rows of a
// table at once, such as an import's new cases: one statement per row costs
// a round trip per row on PostgreSQL.
//
// Thread-safety: none; one writer thread uses it within one command.
#ifndef COLLECTIONS_STORAGE_MULTI_ROW_INSERT_H_
#define COLLECTIONS_STORAGE_MULTI_ROW_INSERT_H_

#include <string>
#include <vector>

#include "soci/soci.h"

namespace collections::storage {

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
  // values added do not fill whole rows (a bug).
  long long Flush(soci::session& sql);

 private:
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
