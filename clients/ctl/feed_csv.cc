#include "clients/ctl/feed_csv.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "clients/ctl/args.h"

namespace collections::ctl {

const char kFeedColumnsHelp[] = R"(Columns (first row; any order):
  required  loan_id, as_of, oldest_unpaid_due_date (YYYY-MM-DD), borrower_id,
            principal_outstanding_{fen|cny}, overdue_principal_{fen|cny}
  optional  overdue_interest_{fen|cny}, overdue_penalty_{fen|cny} (default 0),
            borrower_name, phones (separated by ;), address, time_zone (IANA),
            region, product, prior_delinquencies,
            credit_band (excellent, good, fair, poor, very_poor)
  Money ends in _fen (whole fen) or _cny (CNY, at most 2 decimals).
)";

namespace {

const std::set<std::string>& TextColumns() {
  static const auto* names = new std::set<std::string>{"loan_id",
                                                       "as_of",
                                                       "oldest_unpaid_due_date",
                                                       "borrower_id",
                                                       "borrower_name",
                                                       "phones",
                                                       "address",
                                                       "time_zone",
                                                       "region",
                                                       "product",
                                                       "prior_delinquencies",
                                                       "credit_band"};
  return *names;
}
const std::vector<std::string>& MoneyColumns() {
  static const auto* names = new std::vector<std::string>{
      "principal_outstanding", "overdue_principal", "overdue_interest", "overdue_penalty"};
  return *names;
}

bool ParseDate(const std::string& s, v1::Date* out) {
  std::vector<std::string> parts = absl::StrSplit(s, '-');
  int y = 0, m = 0, d = 0;
  if (parts.size() != 3 || parts[0].size() != 4 || parts[1].size() != 2 || parts[2].size() != 2 ||
      !absl::SimpleAtoi(parts[0], &y) || !absl::SimpleAtoi(parts[1], &m) ||
      !absl::SimpleAtoi(parts[2], &d)) {
    return false;
  }
  const absl::CivilDay day(y, m, d);
  if (day.year() != y || day.month() != m || day.day() != d) return false;  // 2026-02-30
  out->set_year(y);
  out->set_month(m);
  out->set_day(d);
  return true;
}

}  // namespace

bool CsvReader::Next(std::vector<std::string>* fields, int64_t* line, std::string* error) {
  fields->clear();
  std::string field;
  bool quoted = false, any = false, was_quoted = false;
  *line = line_ + 1;
  int c;
  while ((c = in_.get()) != EOF) {
    if (first_) {
      first_ = false;
      // A UTF-8 byte-order mark.
      if (c == 0xEF && in_.peek() == 0xBB) {
        in_.get();
        if (in_.get() == 0xBF) continue;
      }
    }
    const char ch = static_cast<char>(c);
    if (quoted) {
      if (ch == '"') {
        if (in_.peek() == '"') {
          in_.get();
          field += '"';
        } else {
          quoted = false;
        }
      } else {
        if (ch == '\n') ++line_;
        field += ch;
      }
      continue;
    }
    if (ch == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = any = true;
    } else if (ch == ',') {
      fields->push_back(std::move(field));
      field.clear();
      was_quoted = false;
      any = true;
    } else if (ch == '\r') {
      // CRLF: the \n ends the record.
    } else if (ch == '\n') {
      ++line_;
      if (!any && field.empty()) {  // a blank line
        *line = line_ + 1;
        continue;
      }
      fields->push_back(std::move(field));
      return true;
    } else {
      field += ch;
      any = true;
    }
  }
  if (quoted) {
    *error = absl::StrCat("line ", *line, ": a quoted field is never closed");
    return false;
  }
  if (!any && field.empty()) return false;
  ++line_;
  fields->push_back(std::move(field));
  return true;
}

absl::Status FeedReader::Start() {
  std::vector<std::string> header;
  int64_t line = 0;
  if (!csv_.Next(&header, &line, &fatal_)) {
    return absl::InvalidArgumentError(fatal_.empty() ? "the file is empty: the first row must "
                                                       "name the columns"
                                                     : fatal_);
  }
  std::set<std::string> known = TextColumns();
  for (const std::string& m : MoneyColumns()) {
    known.insert(m + "_fen");
    known.insert(m + "_cny");
  }
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(header[i]));
    if (!known.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("column ", i + 1, " \"", header[i], "\" is not a feed column"));
    }
    if (!column_.emplace(name, static_cast<int>(i)).second) {
      return absl::InvalidArgumentError(absl::StrCat("column \"", name, "\" appears twice"));
    }
  }
  for (const char* required : {"loan_id", "as_of", "oldest_unpaid_due_date", "borrower_id"}) {
    if (!column_.count(required)) {
      return absl::InvalidArgumentError(absl::StrCat("column \"", required, "\" is missing"));
    }
  }
  for (const std::string& m : MoneyColumns()) {
    const bool fen = column_.count(m + "_fen"), cny = column_.count(m + "_cny");
    if (fen && cny) {
      return absl::InvalidArgumentError(absl::StrCat("give ", m, "_fen or ", m, "_cny, not both"));
    }
    if (!fen && !cny && (m == "principal_outstanding" || m == "overdue_principal")) {
      return absl::InvalidArgumentError(
          absl::StrCat("column \"", m, "_fen\" (or ", m, "_cny) is missing"));
    }
  }
  width_ = header.size();
  return absl::OkStatus();
}

bool FeedReader::Next(v1::DelinquencyRecord* record, RowProblem* problem, int64_t* line) {
  std::vector<std::string> fields;
  if (!csv_.Next(&fields, line, &fatal_)) return false;
  *record = v1::DelinquencyRecord();
  *problem = RowProblem();
  problem->line = *line;
  auto get = [&](const std::string& name) -> std::string {
    auto it = column_.find(name);
    if (it == column_.end() || it->second >= static_cast<int>(fields.size())) return "";
    return std::string(absl::StripAsciiWhitespace(fields[it->second]));
  };
  problem->loan_id = get("loan_id");
  auto fail = [&](const std::string& field, const std::string& message) {
    problem->field = field;
    problem->message = message;
    return true;
  };
  if (fields.size() != width_) {
    return fail("", absl::StrCat("has ", fields.size(), " fields; the header has ", width_));
  }
  record->set_loan_id(get("loan_id"));
  for (const auto& [column, date] :
       {std::pair<const char*, v1::Date*>{"as_of", record->mutable_as_of()},
        {"oldest_unpaid_due_date", record->mutable_oldest_unpaid_due_date()}}) {
    if (!ParseDate(get(column), date)) {
      return fail(column, absl::StrCat("\"", get(column), "\" is not a date (YYYY-MM-DD)"));
    }
  }
  v1::Borrower& b = *record->mutable_borrower();
  b.set_borrower_id(get("borrower_id"));
  b.set_name(get("borrower_name"));
  for (absl::string_view phone : absl::StrSplit(get("phones"), ';', absl::SkipWhitespace())) {
    b.add_phones(std::string(absl::StripAsciiWhitespace(phone)));
  }
  b.set_address(get("address"));
  b.set_time_zone(get("time_zone"));
  b.set_region(get("region"));
  record->set_product(get("product"));
  for (const std::string& m : MoneyColumns()) {
    std::string column = column_.count(m + "_fen") ? m + "_fen" : m + "_cny";
    const std::string text = get(column);
    if (!column_.count(column)) continue;  // optional and absent: 0
    if (text.empty() && (m == "overdue_interest" || m == "overdue_penalty")) continue;
    int64_t fen = 0;
    const bool in_fen = absl::EndsWith(column, "_fen");
    if (in_fen ? !(absl::SimpleAtoi(text, &fen) && fen >= 0) : !ParseCny(text, &fen)) {
      return fail(column, absl::StrCat("\"", text, "\" is not ",
                                       in_fen ? "a whole number of fen"
                                              : "an amount in CNY (at most 2 decimals)"));
    }
    if (m == "principal_outstanding") record->set_principal_outstanding_fen(fen);
    if (m == "overdue_principal") record->mutable_overdue()->set_principal_fen(fen);
    if (m == "overdue_interest") record->mutable_overdue()->set_interest_fen(fen);
    if (m == "overdue_penalty") record->mutable_overdue()->set_penalty_fen(fen);
  }
  if (const std::string n = get("prior_delinquencies"); !n.empty()) {
    int v = 0;
    if (!absl::SimpleAtoi(n, &v) || v < 0) {
      return fail("prior_delinquencies", absl::StrCat("\"", n, "\" is not a count"));
    }
    record->mutable_credit()->set_prior_delinquencies(v);
  }
  if (const std::string band = get("credit_band"); !band.empty()) {
    v1::CreditBand value;
    if (!v1::CreditBand_Parse(absl::StrCat("CREDIT_BAND_", absl::AsciiStrToUpper(band)), &value) ||
        value == v1::CREDIT_BAND_UNSPECIFIED) {
      return fail("credit_band", absl::StrCat("\"", band,
                                              "\" is not one of excellent, good, fair, poor, "
                                              "very_poor"));
    }
    record->mutable_credit()->set_score_band(value);
  }
  return true;
}

}  // namespace collections::ctl
