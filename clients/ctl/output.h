// What collectionsctl prints: a Document of titled sections, each a table
// of typed cells, rendered three ways from the same data:
//   table  aligned for a terminal (money as 1,234.56 CNY, rates as 37.5%),
//   csv    for spreadsheets (RFC 4180; money as 1234.56 in *_cny columns,
//          rates as fractions); one section (--section) at a time,
//   json   for scripts: one object, money as integer fen in *_fen keys,
//          rates as fractions or null.
// Pure; no I/O beyond the stream given.
#ifndef COLLECTIONS_CLIENTS_CTL_OUTPUT_H_
#define COLLECTIONS_CLIENTS_CTL_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace collections::ctl {

enum class Kind {
  kText,
  kInt,
  kMoney,  // fen
  kRate,   // numerator / denominator; undefined when the denominator is 0
  kRatio,  // numerator / denominator as a plain number (CNY per CNY)
};

struct Column {
  std::string key;  // snake_case; money columns get _cny / _fen appended
  Kind kind = Kind::kText;
};

struct Cell {
  std::string text;
  int64_t n = 0;
  int64_t d = 0;  // rates: the denominator

  static Cell Text(std::string s) { return {std::move(s), 0, 0}; }
  static Cell Int(int64_t v) { return {"", v, 0}; }
  static Cell Money(int64_t fen) { return {"", fen, 0}; }
  static Cell Rate(int64_t num, int64_t den) { return {"", num, den}; }
};

struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;

  Table& Add(std::vector<Cell> row) {
    rows.push_back(std::move(row));
    return *this;
  }
};

struct Section {
  std::string name;   // for --section and JSON keys
  std::string title;  // shown above the table
  Table table;
};

struct Document {
  std::string kind;  // "portfolio", "case", ...
  std::string title;
  // Shown in the heading and as JSON fields: as_of, from, to, filters...
  std::vector<std::pair<std::string, std::string>> meta;
  std::vector<Section> sections;
};

enum class Format { kTable, kCsv, kJson };

// "1,234.56" (table) and "1234.56" (csv): fen as CNY, never via floating
// point.
std::string FormatCny(int64_t fen, bool thousands);
// "37.5%" or "-".
std::string FormatPercent(int64_t num, int64_t den);

// Writes `doc`. For CSV, `section` picks the section (empty: the first);
// false with *error when there is no such section.
bool Render(const Document& doc, Format format, const std::string& section, std::ostream& out,
            std::string* error);

// A cell as the table format shows it, and a column's heading there.
std::string DisplayText(const Column& column, const Cell& cell);
std::string DisplayHeader(const Column& column);

// JSON string literal with escapes.
std::string JsonString(const std::string& s);

}  // namespace collections::ctl

#endif  // COLLECTIONS_CLIENTS_CTL_OUTPUT_H_
