// The overdue feed as CSV, for `collectionsctl import`. The first row names
// the columns (any order; see kFeedColumnsHelp); each later row is one loan
// as of a date. Money columns end in _fen (whole fen) or _cny (CNY with at
// most two decimals). RFC 4180 quoting; a UTF-8 byte-order mark and blank
// lines are ignored.
//
// Thread-safety: none (a reader over one stream).
#ifndef COLLECTIONS_CLIENTS_CTL_FEED_CSV_H_
#define COLLECTIONS_CLIENTS_CTL_FEED_CSV_H_

#include <istream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "collections/v1/case.pb.h"

namespace collections::ctl {

extern const char kFeedColumnsHelp[];

// Splits CSV into records of fields.
class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}
  // The next record and the line it starts on; false at the end.
  // *error is set (and false returned) for an unterminated quote.
  bool Next(std::vector<std::string>* fields, int64_t* line, std::string* error);

 private:
  std::istream& in_;
  int64_t line_ = 0;
  bool first_ = true;
};

// A row the reader could not turn into a record.
struct RowProblem {
  int64_t line = 0;
  std::string loan_id;
  std::string field;
  std::string message;
};

class FeedReader {
 public:
  explicit FeedReader(std::istream& in) : csv_(in) {}

  // Reads the header. INVALID_ARGUMENT naming an unknown, repeated or
  // missing column.
  absl::Status Start();

  // The next data row: true with *record filled, or true with *problem
  // filled (a row that cannot be sent); false at the end of the input.
  // *line is the row's line in the file.
  bool Next(v1::DelinquencyRecord* record, RowProblem* problem, int64_t* line);
  bool ok() const { return fatal_.empty(); }
  const std::string& fatal() const { return fatal_; }  // e.g. an unterminated quote

 private:
  CsvReader csv_;
  std::map<std::string, int> column_;  // name -> index
  size_t width_ = 0;
  std::string fatal_;
};

}  // namespace collections::ctl

#endif  // COLLECTIONS_CLIENTS_CTL_FEED_CSV_H_
