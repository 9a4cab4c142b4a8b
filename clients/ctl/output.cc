#include "clients/ctl/output.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json_text.h"

namespace collections::ctl {
namespace {

std::string Header(const Column& c, Format format) {
  if (c.kind == Kind::kMoney) {
    return absl::StrCat(c.key, format == Format::kJson ? "_fen" : "_cny");
  }
  return c.key;
}

std::string Fraction(int64_t num, int64_t den) {
  return absl::StrFormat("%.4f", static_cast<double>(num) / static_cast<double>(den));
}

std::string Show(const Column& c, const Cell& cell, Format format) {
  switch (c.kind) {
    case Kind::kText:
      return cell.text;
    case Kind::kInt:
      return absl::StrCat(cell.n);
    case Kind::kMoney:
      return FormatCny(cell.n, format == Format::kTable);
    case Kind::kRate:
      if (format == Format::kTable) return FormatPercent(cell.n, cell.d);
      return cell.d == 0 ? "" : Fraction(cell.n, cell.d);
    case Kind::kRatio:
      if (cell.d == 0) return format == Format::kTable ? "-" : "";
      return format == Format::kTable
                 ? absl::StrFormat("%.2f", static_cast<double>(cell.n) / cell.d)
                 : Fraction(cell.n, cell.d);
  }
  return "";
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void RenderTable(const Document& doc, std::ostream& out) {
  out << doc.title;
  std::vector<std::string> meta;
  for (const auto& [k, v] : doc.meta) meta.push_back(absl::StrCat(k, " ", v));
  if (!meta.empty()) out << " (" << absl::StrJoin(meta, ", ") << ")";
  out << "\n";
  for (const Section& s : doc.sections) {
    out << "\n";
    if (!s.title.empty()) out << s.title << "\n";
    const Table& t = s.table;
    if (t.rows.empty()) {
      out << "  (none)\n";
      continue;
    }
    std::vector<size_t> width(t.columns.size());
    std::vector<std::vector<std::string>> text;
    for (size_t i = 0; i < t.columns.size(); ++i) {
      width[i] = Header(t.columns[i], Format::kTable).size();
    }
    for (const auto& row : t.rows) {
      std::vector<std::string>& line = text.emplace_back();
      for (size_t i = 0; i < t.columns.size(); ++i) {
        line.push_back(i < row.size() ? Show(t.columns[i], row[i], Format::kTable) : "");
        width[i] = std::max(width[i], line.back().size());
      }
    }
    auto emit = [&](const std::vector<std::string>& cells) {
      std::string line;
      for (size_t i = 0; i < cells.size(); ++i) {
        const bool right = t.columns[i].kind != Kind::kText;
        const std::string pad(width[i] - cells[i].size(), ' ');
        absl::StrAppend(&line, i ? "  " : "", right ? pad : "", cells[i], right ? "" : pad);
      }
      line.erase(line.find_last_not_of(' ') + 1);
      out << line << "\n";
    };
    std::vector<std::string> header;
    for (const Column& c : t.columns) header.push_back(Header(c, Format::kTable));
    emit(header);
    for (const auto& line : text) emit(line);
  }
}

void RenderCsv(const Section& s, std::ostream& out) {
  std::vector<std::string> header;
  for (const Column& c : s.table.columns) header.push_back(CsvField(Header(c, Format::kCsv)));
  out << absl::StrJoin(header, ",") << "\r\n";
  for (const auto& row : s.table.rows) {
    std::vector<std::string> cells;
    for (size_t i = 0; i < s.table.columns.size(); ++i) {
      cells.push_back(
          CsvField(i < row.size() ? Show(s.table.columns[i], row[i], Format::kCsv) : ""));
    }
    out << absl::StrJoin(cells, ",") << "\r\n";
  }
}

std::string JsonValue(const Column& c, const Cell& cell) {
  switch (c.kind) {
    case Kind::kText:
      return JsonString(cell.text);
    case Kind::kInt:
    case Kind::kMoney:
      return absl::StrCat(cell.n);
    case Kind::kRate:
    case Kind::kRatio:
      return cell.d == 0 ? "null" : Fraction(cell.n, cell.d);
  }
  return "null";
}

void RenderJson(const Document& doc, std::ostream& out) {
  out << "{\n  \"kind\": " << JsonString(doc.kind);
  for (const auto& [k, v] : doc.meta) out << ",\n  " << JsonString(k) << ": " << JsonString(v);
  for (const Section& s : doc.sections) {
    out << ",\n  " << JsonString(s.name) << ": [";
    for (size_t r = 0; r < s.table.rows.size(); ++r) {
      const auto& row = s.table.rows[r];
      std::vector<std::string> fields;
      for (size_t i = 0; i < s.table.columns.size() && i < row.size(); ++i) {
        const Column& c = s.table.columns[i];
        fields.push_back(
            absl::StrCat(JsonString(Header(c, Format::kJson)), ": ", JsonValue(c, row[i])));
      }
      out << (r ? ",\n    {" : "\n    {") << absl::StrJoin(fields, ", ") << "}";
    }
    out << (s.table.rows.empty() ? "]" : "\n  ]");
  }
  out << "\n}\n";
}

}  // namespace

std::string FormatCny(int64_t fen, bool thousands) {
  const bool negative = fen < 0;
  const uint64_t abs = negative ? 0 - static_cast<uint64_t>(fen) : static_cast<uint64_t>(fen);
  std::string whole = absl::StrCat(abs / 100);
  if (thousands) {
    for (int i = static_cast<int>(whole.size()) - 3; i > 0; i -= 3) whole.insert(i, ",");
  }
  return absl::StrFormat("%s%s.%02d", negative ? "-" : "", whole, static_cast<int>(abs % 100));
}

std::string FormatPercent(int64_t num, int64_t den) {
  if (den == 0) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(num) / static_cast<double>(den));
}

std::string DisplayText(const Column& column, const Cell& cell) {
  return Show(column, cell, Format::kTable);
}

std::string DisplayHeader(const Column& column) { return Header(column, Format::kTable); }

std::string JsonString(const std::string& s) { return absl::StrCat("\"", JsonEscaped(s), "\""); }

bool Render(const Document& doc, Format format, const std::string& section, std::ostream& out,
            std::string* error) {
  switch (format) {
    case Format::kTable:
      RenderTable(doc, out);
      return true;
    case Format::kJson:
      RenderJson(doc, out);
      return true;
    case Format::kCsv:
      for (const Section& s : doc.sections) {
        if (section.empty() || s.name == section) {
          RenderCsv(s, out);
          return true;
        }
      }
      std::vector<std::string> names;
      for (const Section& s : doc.sections) names.push_back(s.name);
      *error = absl::StrCat("no section \"", section,
                            "\" (this output has: ", absl::StrJoin(names, ", "), ")");
      return false;
  }
  return false;
}

}  // namespace collections::ctl
