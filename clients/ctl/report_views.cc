#include "clients/ctl/report_views.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "collections/v1/common.pb.h"

namespace collections::ctl {
namespace {

std::string Short(const std::string& name, absl::string_view prefix) {
  absl::string_view s = name;
  absl::ConsumePrefix(&s, prefix);
  return s.empty() ? "unspecified" : absl::AsciiStrToLower(s);
}

std::string Cases(int64_t n) { return absl::StrCat(n, n == 1 ? " case" : " cases"); }

Column Text(std::string key) { return {std::move(key), Kind::kText}; }
Column Int(std::string key) { return {std::move(key), Kind::kInt}; }
Column Money(std::string key) { return {std::move(key), Kind::kMoney}; }
Column Rate(std::string key) { return {std::move(key), Kind::kRate}; }
Column Ratio(std::string key) { return {std::move(key), Kind::kRatio}; }

std::string DateOrNone(const v1::Date& d) {
  const std::string text = DateText(d);
  return text.empty() ? "none" : text;
}

// The period asked for, then the dates the figures come from ("none":
// the period holds no data).
template <typename Report>
std::vector<std::pair<std::string, std::string>> Period(const Report& r) {
  return {{"as_of", DateText(r.as_of())},
          {"from", DateText(r.from())},
          {"to", DateText(r.to())},
          {"data_from", DateOrNone(r.data_from())},
          {"data_to", DateOrNone(r.data_to())}};
}

// Whether the book (today's) was computed live or read from a snapshot.
std::pair<std::string, std::string> BookSource(bool live) {
  return {"book", live ? "live" : "snapshot"};
}

std::string Escape(const std::string& s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

// --- SVG ---------------------------------------------------------------------

constexpr char kBlue[] = "#2f6f9f";
constexpr char kAmber[] = "#e0a030";
constexpr char kGreen[] = "#3f9a5a";
constexpr char kGrey[] = "#8c8c8c";
constexpr char kRed[] = "#b8433a";

std::string SvgText(double x, double y, const std::string& text, const char* anchor = "start",
                    const char* extra = "") {
  return absl::StrFormat(R"(<text x="%.1f" y="%.1f" text-anchor="%s" %s>%s</text>)", x, y, anchor,
                         extra, Escape(text));
}

std::string SvgRect(double x, double y, double w, double h, const std::string& fill,
                    const std::string& title = "") {
  std::string t = title.empty() ? "" : absl::StrCat("<title>", Escape(title), "</title>");
  return absl::StrFormat(
      R"(<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">%s</rect>)", x, y,
      std::max(w, 0.0), std::max(h, 0.0), fill, t);
}

std::string Svg(int width, int height, const std::string& label, const std::string& body) {
  return absl::StrFormat(
      R"(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">%s</svg>)",
      width, height, width, height, Escape(label), body);
}

std::string Legend(double x, double y,
                   const std::vector<std::pair<std::string, const char*>>& items) {
  std::string out;
  for (const auto& [name, color] : items) {
    out += SvgRect(x, y - 9, 10, 10, color);
    out += SvgText(x + 14, y, name);
    x += 24 + 7.0 * name.size();
  }
  return out;
}

// Stage funnel: one bar per stage, split by where the entrants stood at the
// end of the period.
std::string FunnelChart(const v1::StageFunnelReport& r) {
  int64_t most = 1;
  size_t longest_label = 0;
  for (const auto& row : r.rows()) {
    most = std::max(most, row.entered());
    longest_label = std::max(longest_label, absl::StrCat(row.entered(), " entered").size());
  }
  const double left = 130, width = 560, bar = 26, gap = 14, top = 34;
  // The label after the longest bar must fit: 7 px a character at the
  // page's 11 px font, and a margin (a book's "361130 entered" was cut).
  const int chart_width =
      std::max(780, static_cast<int>(left + width + 6 + 7.0 * longest_label + 12));
  std::string body = Legend(
      left, 16,
      {{"still there", kBlue}, {"moved on", kAmber}, {"resolved", kGreen}, {"closed", kGrey}});
  double y = top;
  for (const auto& row : r.rows()) {
    body += SvgText(left - 8, y + bar * 0.68, StageText(row.stage()), "end");
    double x = left;
    for (const auto& [n, color, name] : std::vector<std::tuple<int64_t, const char*, const char*>>{
             {row.still_there(), kBlue, "still there"},
             {row.moved_on(), kAmber, "moved on"},
             {row.resolved(), kGreen, "resolved"},
             {row.closed(), kGrey, "closed"}}) {
      const double w = width * n / most;
      body += SvgRect(x, y, w, bar, color, absl::StrCat(name, ": ", n));
      x += w;
    }
    body += SvgText(x + 6, y + bar * 0.68, absl::StrCat(row.entered(), " entered"));
    y += bar + gap;
  }
  return Svg(chart_width, static_cast<int>(y + 6), "Stage funnel", body);
}

// Roll rates: share of each start bucket's cases by where they ended.
std::string RollHeatMap(const v1::RollRateReport& r) {
  std::map<std::string, std::map<std::string, std::pair<int64_t, int64_t>>> share;
  for (const auto& c : r.cells())
    share[c.from_bucket()][c.to_bucket()] = {c.cases(), c.cases_at_start()};
  const double left = 80, top = 44, cw = 78, ch = 30;
  std::string body = SvgText(left + cw * r.buckets_size() / 2, 14, "at the end", "middle",
                             R"(font-weight="bold")");
  body += SvgText(8, top - 8, "at the start", "start", R"(font-weight="bold")");
  for (int j = 0; j < r.buckets_size(); ++j) {
    body += SvgText(left + cw * j + cw / 2, top - 8, r.buckets(j), "middle");
  }
  double y = top;
  for (int i = 0; i < 6 && i < r.buckets_size(); ++i) {
    const std::string& from = r.buckets(i);
    auto row = share.find(from);
    if (row == share.end()) continue;
    body += SvgText(left - 8, y + ch * 0.65, from, "end");
    for (int j = 0; j < r.buckets_size(); ++j) {
      auto cell = row->second.find(r.buckets(j));
      const int64_t n = cell == row->second.end() ? 0 : cell->second.first;
      const int64_t d = row->second.begin()->second.second;
      const double s = d == 0 ? 0 : static_cast<double>(n) / d;
      const std::string fill =
          n == 0 ? "#f4f4f4" : absl::StrFormat("hsl(210, 60%%, %.0f%%)", 92 - 55 * s);
      body += SvgRect(left + cw * j, y, cw - 2, ch - 2, fill,
                      absl::StrCat(from, " -> ", r.buckets(j), ": ", n, " of ", d));
      if (n > 0) {
        body += SvgText(left + cw * j + cw / 2 - 1, y + ch * 0.62, FormatPercent(n, d), "middle",
                        s > 0.5 ? R"(fill="white")" : "");
      }
    }
    y += ch;
  }
  return Svg(static_cast<int>(left + cw * r.buckets_size() + 10), static_cast<int>(y + 10),
             "Roll-rate heat map", body);
}

// Recovery (bars, CNY) and cures (line, cases) per step of the period.
std::string TrendChart(const v1::EffectivenessReport& r) {
  const int n = r.trend_size();
  if (n == 0) return "";
  int64_t most_money = 1, most_cured = 1;
  for (const auto& p : r.trend()) {
    most_money = std::max(most_money, p.recovered_fen());
    most_cured = std::max(most_cured, p.cured());
  }
  const double left = 90, right = 50, top = 30, height = 170, width = 720;
  const double plot = width - left - right, step = plot / n;
  std::string body = Legend(left, 16, {{"recovered (CNY)", kGreen}, {"cases cured", kRed}});
  body += absl::StrFormat(R"(<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>)", left,
                          top + height, left + plot, top + height);
  body += SvgText(left - 6, top + 10, FormatCny(most_money, true), "end");
  body += SvgText(left - 6, top + height, "0", "end");
  body += SvgText(left + plot + 6, top + 10, absl::StrCat(most_cured), "start");
  std::string points;
  for (int i = 0; i < n; ++i) {
    const auto& p = r.trend(i);
    const double h = height * p.recovered_fen() / most_money;
    body += SvgRect(left + step * i + step * 0.15, top + height - h, step * 0.7, h, kGreen,
                    absl::StrCat(DateText(p.start()), ": ", FormatCny(p.recovered_fen(), true),
                                 " CNY recovered, ", p.cured(), " cured"));
    absl::StrAppendFormat(&points, "%.1f,%.1f ", left + step * (i + 0.5),
                          top + height - height * p.cured() / most_cured);
  }
  body += absl::StrFormat(R"(<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>)",
                          points, kRed);
  for (int i : {0, n / 2, n - 1}) {
    body +=
        SvgText(left + step * (i + 0.5), top + height + 16, DateText(r.trend(i).start()), "middle");
    if (n == 1) break;
  }
  return Svg(static_cast<int>(width), static_cast<int>(top + height + 26),
             "Recovery and cure trend", body);
}

// Overdue reasons over every class, most frequent first.
std::string ReasonsChart(const v1::OverdueReasonsReport& r) {
  std::map<int, int64_t> by_reason;
  for (const auto& row : r.rows()) by_reason[row.reason()] += row.cases();
  if (by_reason.empty()) return "";
  std::vector<std::pair<int64_t, int>> sorted;
  for (const auto& [reason, n] : by_reason) sorted.push_back({-n, reason});
  std::sort(sorted.begin(), sorted.end());
  const int64_t most = -sorted.front().first;
  const double left = 140, width = 520, bar = 20, gap = 8;
  std::string body;
  double y = 8;
  for (const auto& [neg, reason] : sorted) {
    const double w = width * -neg / most;
    body += SvgText(left - 8, y + bar * 0.72, ReasonText(reason), "end");
    body += SvgRect(left, y, w, bar, kAmber, absl::StrCat(ReasonText(reason), ": ", -neg));
    body += SvgText(left + w + 6, y + bar * 0.72, Cases(-neg));
    y += bar + gap;
  }
  return Svg(760, static_cast<int>(y + 4), "Overdue reasons", body);
}

// The book: overdue amount per days-past-due bucket.
std::string BookChart(const v1::PortfolioReport& r) {
  std::vector<std::string> buckets = {"current", "1-30", "31-60", "61-90", "91-180", "180+"};
  std::map<std::string, std::pair<int64_t, int64_t>> by;  // fen, cases
  for (const auto& c : r.cells()) {
    by[c.dpd_bucket()].first += c.overdue_fen();
    by[c.dpd_bucket()].second += c.cases();
  }
  int64_t most = 1;
  for (const auto& [b, v] : by) most = std::max(most, v.first);
  const double left = 40, top = 24, height = 150, col = 100;
  std::string body;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const auto v = by[buckets[i]];
    const double h = height * v.first / most;
    const double x = left + col * i;
    body += SvgRect(x + 15, top + height - h, col - 30, h, kBlue,
                    absl::StrCat(buckets[i], ": ", FormatCny(v.first, true), " CNY"));
    body += SvgText(x + col / 2, top + height - h - 6, Cases(v.second), "middle");
    body += SvgText(x + col / 2, top + height + 16, buckets[i], "middle");
  }
  return Svg(static_cast<int>(left + col * buckets.size() + 10),
             static_cast<int>(top + height + 26), "Overdue by days past due", body);
}

// Whether an experiment metric is a rate (a fraction) rather than an
// amount in fen.
bool IsRateMetric(const std::string& metric) { return absl::EndsWith(metric, "_rate"); }

// A metric's value as the tables show it: rates in percent, amounts in CNY.
std::string MetricValue(const std::string& metric, double v) {
  return IsRateMetric(metric) ? absl::StrFormat("%.2f", v * 100) : absl::StrFormat("%.2f", v / 100);
}

// Experiment: one chart per metric, each challenger's difference from the
// champion as a dot with its 95 % interval as a bar, around a zero line;
// green when significantly better, red when worse, grey otherwise.
std::string ExperimentCharts(const v1::ExperimentReportAnswer& r) {
  std::map<std::string, std::vector<const v1::ExperimentComparison*>> by_metric;
  std::vector<std::string> order;
  for (const auto& c : r.comparisons()) {
    if (by_metric[c.metric()].empty()) order.push_back(c.metric());
    by_metric[c.metric()].push_back(&c);
  }
  std::string out;
  const double left = 150, plot = 520, row = 26, top = 30;
  for (const std::string& metric : order) {
    const auto& rows = by_metric[metric];
    double reach = 0;
    for (const auto* c : rows) {
      reach = std::max({reach, std::fabs(c->ci_low()), std::fabs(c->ci_high())});
    }
    if (reach == 0) reach = 1;
    auto x_of = [&](double v) { return left + plot / 2 + v / reach * (plot / 2 - 10); };
    const std::string unit = IsRateMetric(metric) ? " pp" : " CNY";
    std::string body =
        SvgText(8, 16, metric + " (challenger - champion)", "start", R"(font-weight="bold")");
    const double height = top + row * rows.size();
    body += absl::StrFormat(R"(<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>)",
                            x_of(0), top - 6, x_of(0), height, kGrey);
    double y = top;
    for (const auto* c : rows) {
      const char* color = c->verdict() == "challenger better"  ? kGreen
                          : c->verdict() == "challenger worse" ? kRed
                                                               : kGrey;
      body += SvgText(left - 8, y + row * 0.55, c->challenger(), "end");
      if (c->verdict() != "no data") {
        body += SvgRect(x_of(c->ci_low()), y + row * 0.35, x_of(c->ci_high()) - x_of(c->ci_low()),
                        3, color,
                        absl::StrCat(c->challenger(), ": ", MetricValue(metric, c->difference()),
                                     unit, " [", MetricValue(metric, c->ci_low()), ", ",
                                     MetricValue(metric, c->ci_high()), "]"));
        body += absl::StrFormat(R"(<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>)",
                                x_of(c->difference()), y + row * 0.35 + 1.5, color);
      }
      body += SvgText(left + plot + 8, y + row * 0.55, c->verdict());
      y += row;
    }
    body += SvgText(x_of(-reach), height + 14, absl::StrCat(MetricValue(metric, -reach), unit),
                    "start");
    body += SvgText(x_of(0), height + 14, "0", "middle");
    body +=
        SvgText(x_of(reach), height + 14, absl::StrCat(MetricValue(metric, reach), unit), "end");
    out += Svg(static_cast<int>(left + plot + 150), static_cast<int>(height + 22),
               absl::StrCat("Experiment: ", metric), body);
  }
  return out;
}

std::string HtmlTable(const Section& s) {
  std::string out = absl::StrCat("<h3>", Escape(s.title), "</h3>");
  if (s.table.rows.empty()) return out + "<p class=\"none\">(none)</p>";
  out += "<table><thead><tr>";
  for (const Column& c : s.table.columns) {
    // Spaces let long headings wrap, so that wide tables fit the page.
    std::string heading = DisplayHeader(c);
    std::replace(heading.begin(), heading.end(), '_', ' ');
    absl::StrAppend(&out, "<th>", Escape(heading), "</th>");
  }
  out += "</tr></thead><tbody>";
  for (const auto& row : s.table.rows) {
    out += "<tr>";
    for (size_t i = 0; i < s.table.columns.size() && i < row.size(); ++i) {
      const Column& c = s.table.columns[i];
      absl::StrAppend(&out, c.kind == Kind::kText ? "<td>" : "<td class=\"n\">",
                      Escape(DisplayText(c, row[i])), "</td>");
    }
    out += "</tr>";
  }
  return out + "</tbody></table>";
}

std::string HtmlSection(const Document& doc, const std::string& chart) {
  std::vector<std::string> meta;
  for (const auto& [k, v] : doc.meta) meta.push_back(absl::StrCat(k, " ", v));
  std::string out = absl::StrCat("<section><h2>", Escape(doc.title), "</h2><p class=\"meta\">",
                                 Escape(absl::StrJoin(meta, " · ")), "</p>");
  if (!chart.empty()) absl::StrAppend(&out, "<figure>", chart, "</figure>");
  for (const Section& s : doc.sections) out += HtmlTable(s);
  return out + "</section>\n";
}

constexpr char kStyle[] = R"(
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #222; margin: 24px auto;
       max-width: 1000px; font-size: 13px; }
h1 { font-size: 22px; margin-bottom: 2px; }
h2 { font-size: 17px; border-bottom: 2px solid #2f6f9f; padding-bottom: 3px; margin-top: 28px; }
h3 { font-size: 13px; margin: 14px 0 4px; color: #444; }
p.meta, p.filters { color: #666; margin: 2px 0; }
figure { margin: 10px 0; }
svg { max-width: 100%; height: auto; font-size: 11px; }
table { border-collapse: collapse; margin: 4px 0 10px; }
table { font-size: 11px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: left; }
td { white-space: nowrap; }
th { background: #f0f4f8; font-weight: 600; vertical-align: bottom; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
p.none { color: #888; font-style: italic; }
.error { color: #b8433a; border: 1px solid #b8433a; padding: 6px 10px; }
@media print {
  body { margin: 0; max-width: none; font-size: 10px; }
  section { page-break-inside: avoid; }
  th { background: #eee; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  svg * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
)";

}  // namespace

std::string DateText(const v1::Date& d) {
  if (d.year() == 0) return "";
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}
std::string ClassText(int c) { return Short(v1::CaseClass_Name(c), "CASE_CLASS_"); }
std::string StageText(int s) { return Short(v1::Stage_Name(s), "STAGE_"); }
std::string ActionText(int t) {
  return t == 0 ? "(no task)" : Short(v1::TaskType_Name(t), "TASK_TYPE_");
}
std::string ReasonText(int r) { return Short(v1::OverdueReason_Name(r), "OVERDUE_REASON_"); }

Document View(const v1::PortfolioReport& r) {
  Document doc{"portfolio",
               "Portfolio",
               {{"as_of", DateText(r.as_of())},
                {"data_from", DateOrNone(r.data_from())},
                {"data_to", DateOrNone(r.data_to())},
                BookSource(r.live())},
               {}};
  Table cells{{Text("class"), Text("stage"), Text("dpd_bucket"), Int("cases"), Money("overdue"),
               Money("principal_outstanding")},
              {}};
  for (const auto& c : r.cells()) {
    cells.Add({Cell::Text(ClassText(c.case_class())), Cell::Text(StageText(c.stage())),
               Cell::Text(c.dpd_bucket()), Cell::Int(c.cases()), Cell::Money(c.overdue_fen()),
               Cell::Money(c.principal_outstanding_fen())});
  }
  doc.sections.push_back({"cells", "Open cases by class, stage and days past due", cells});
  std::map<std::string, std::pair<int64_t, int64_t>> by;
  for (const auto& c : r.cells()) {
    by[c.dpd_bucket()].first += c.cases();
    by[c.dpd_bucket()].second += c.overdue_fen();
  }
  Table buckets{{Text("dpd_bucket"), Int("cases"), Money("overdue"), Rate("overdue_share")}, {}};
  for (const char* b : {"current", "1-30", "31-60", "61-90", "91-180", "180+"}) {
    if (!by.count(b)) continue;
    buckets.Add({Cell::Text(b), Cell::Int(by[b].first), Cell::Money(by[b].second),
                 Cell::Rate(by[b].second, r.overdue_fen())});
  }
  doc.sections.push_back({"buckets", "By days past due", buckets});
  Table totals{{Int("cases"), Money("overdue"), Money("principal_outstanding")}, {}};
  totals.Add({Cell::Int(r.cases()), Cell::Money(r.overdue_fen()),
              Cell::Money(r.principal_outstanding_fen())});
  doc.sections.push_back({"totals", "Totals", totals});
  return doc;
}

Document View(const v1::StageFunnelReport& r) {
  Document doc{"funnel", "Stage funnel", Period(r), {}};
  Table t{{Text("stage"), Int("entered"), Int("still_there"), Int("moved_on"), Int("resolved"),
           Int("closed"), Rate("resolved_share")},
          {}};
  for (const auto& row : r.rows()) {
    t.Add({Cell::Text(StageText(row.stage())), Cell::Int(row.entered()),
           Cell::Int(row.still_there()), Cell::Int(row.moved_on()), Cell::Int(row.resolved()),
           Cell::Int(row.closed()), Cell::Rate(row.resolved(), row.entered())});
  }
  doc.sections.push_back(
      {"stages", "Cases entering each stage, and where they stood at the end", t});
  return doc;
}

Document View(const v1::RollRateReport& r) {
  Document doc{"roll-rates", "Roll rates", Period(r), {}};
  doc.meta.push_back(BookSource(r.live()));
  Table cells{{Text("from_bucket"), Text("to_bucket"), Int("cases"), Int("cases_at_start"),
               Rate("case_rate"), Money("overdue"), Money("overdue_at_start"), Rate("amount_rate"),
               Money("overdue_at_end")},
              {}};
  for (const auto& c : r.cells()) {
    cells.Add({Cell::Text(c.from_bucket()), Cell::Text(c.to_bucket()), Cell::Int(c.cases()),
               Cell::Int(c.cases_at_start()), Cell::Rate(c.cases(), c.cases_at_start()),
               Cell::Money(c.overdue_fen()), Cell::Money(c.overdue_fen_at_start()),
               Cell::Rate(c.overdue_fen(), c.overdue_fen_at_start()),
               Cell::Money(c.overdue_fen_at_end())});
  }
  // The matrix: one row per start bucket, the share of its cases per end.
  Table matrix;
  matrix.columns.push_back(Text("from_bucket"));
  matrix.columns.push_back(Int("cases_at_start"));
  for (const std::string& b : r.buckets()) matrix.columns.push_back(Rate(b));
  std::map<std::string, std::map<std::string, int64_t>> by;
  std::map<std::string, int64_t> start;
  for (const auto& c : r.cells()) {
    by[c.from_bucket()][c.to_bucket()] = c.cases();
    start[c.from_bucket()] = c.cases_at_start();
  }
  for (int i = 0; i < 6 && i < r.buckets_size(); ++i) {
    const std::string& from = r.buckets(i);
    if (!start.count(from)) continue;
    std::vector<Cell> row = {Cell::Text(from), Cell::Int(start[from])};
    for (const std::string& to : r.buckets()) row.push_back(Cell::Rate(by[from][to], start[from]));
    matrix.Add(std::move(row));
  }
  doc.sections.push_back({"matrix", "Share of each bucket's cases by where they ended", matrix});
  doc.sections.push_back({"cells", "Cells (cases and overdue amounts)", cells});
  return doc;
}

Document View(const v1::EffectivenessReport& r) {
  Document doc{"effectiveness", "Strategy effectiveness", Period(r), {}};
  doc.meta.push_back({"cure_window_days", absl::StrCat(r.cure_window_days())});
  Table rows{
      {Text("class"), Text("stage"), Text("action"), Int("tasks"), Money("cost"), Int("cases"),
       Int("cured"), Rate("cure_rate"), Int("contacts"), Int("right_party"), Rate("rpc_rate"),
       Int("promises"), Int("kept"), Int("broken"), Rate("kept_rate"), Money("recovered"),
       Money("concessions"), Ratio("recovered_per_cny"), Money("unallocated")},
      {}};
  for (const auto& e : r.rows()) {
    rows.Add({Cell::Text(ClassText(e.case_class())), Cell::Text(StageText(e.stage())),
              Cell::Text(ActionText(e.action())), Cell::Int(e.tasks()), Cell::Money(e.cost_fen()),
              Cell::Int(e.cases()), Cell::Int(e.cured()), Cell::Rate(e.cured(), e.cases()),
              Cell::Int(e.contacts()), Cell::Int(e.right_party_contacts()),
              Cell::Rate(e.right_party_contacts(), e.contacts()), Cell::Int(e.promises()),
              Cell::Int(e.promises_kept()), Cell::Int(e.promises_broken()),
              Cell::Rate(e.promises_kept(), e.promises_kept() + e.promises_broken()),
              Cell::Money(e.recovered_fen()), Cell::Money(e.concessions_fen()),
              Cell::Rate(e.recovered_fen(), e.cost_fen()), Cell::Money(e.unallocated_fen())});
  }
  doc.sections.push_back({"rows", "By class, stage and action", rows});
  const auto& t = r.totals();
  // unallocated (last, so that existing columns keep their places): money
  // received that paid nothing owed, never in recovered.
  Table totals{{Int("tasks"), Money("cost"), Money("recovered"), Money("concessions"),
                Ratio("recovered_per_cny"), Int("cured"), Int("entered"), Money("unallocated")},
               {}};
  totals.Add({Cell::Int(t.tasks()), Cell::Money(t.cost_fen()), Cell::Money(t.recovered_fen()),
              Cell::Money(t.concessions_fen()), Cell::Rate(t.recovered_fen(), t.cost_fen()),
              Cell::Int(t.cured()), Cell::Int(t.entered()), Cell::Money(t.unallocated_fen())});
  doc.sections.push_back({"totals", "Cost and benefit", totals});
  Table trend{{Text("start"), Int("days"), Money("recovered"), Int("cured"), Money("cost"),
               Int("entered"), Money("unallocated")},
              {}};
  for (const auto& p : r.trend()) {
    trend.Add({Cell::Text(DateText(p.start())), Cell::Int(p.days()), Cell::Money(p.recovered_fen()),
               Cell::Int(p.cured()), Cell::Money(p.cost_fen()), Cell::Int(p.entered()),
               Cell::Money(p.unallocated_fen())});
  }
  doc.sections.push_back({"trend", "Trend", trend});
  return doc;
}

Document View(const v1::OverdueReasonsReport& r) {
  Document doc{"reasons", "Overdue reasons", Period(r), {}};
  std::map<int, int64_t> per_class;
  for (const auto& row : r.rows()) per_class[row.case_class()] += row.cases();
  Table rows{{Text("class"), Text("reason"), Int("cases"), Rate("share_of_class")}, {}};
  for (const auto& row : r.rows()) {
    rows.Add({Cell::Text(ClassText(row.case_class())), Cell::Text(ReasonText(row.reason())),
              Cell::Int(row.cases()), Cell::Rate(row.cases(), per_class[row.case_class()])});
  }
  doc.sections.push_back({"rows", "Cases by the reason their calls and visits recorded", rows});
  Table trend{{Text("start"), Int("days"), Text("reason"), Int("cases")}, {}};
  for (const auto& p : r.trend()) {
    trend.Add({Cell::Text(DateText(p.start())), Cell::Int(p.days()),
               Cell::Text(ReasonText(p.reason())), Cell::Int(p.cases())});
  }
  doc.sections.push_back({"trend", "Trend", trend});
  return doc;
}

Document View(const v1::AgentProductivityReport& r) {
  Document doc{"agents", "Agent productivity", Period(r), {}};
  Table t{{Text("agent"), Text("queue"), Int("completed"), Int("contacts"), Int("right_party"),
           Rate("rpc_rate"), Int("promises"), Int("kept"), Int("broken"), Rate("kept_rate"),
           Money("recovered"), Int("avg_handling_s"), Int("handled"), Money("cost"),
           Money("unallocated")},
          {}};
  for (const auto& a : r.rows()) {
    t.Add({Cell::Text(a.agent()), Cell::Text(a.queue()), Cell::Int(a.completed()),
           Cell::Int(a.contacts()), Cell::Int(a.right_party_contacts()),
           Cell::Rate(a.right_party_contacts(), a.contacts()), Cell::Int(a.promises()),
           Cell::Int(a.promises_kept()), Cell::Int(a.promises_broken()),
           Cell::Rate(a.promises_kept(), a.promises_kept() + a.promises_broken()),
           Cell::Money(a.recovered_fen()), Cell::Int(a.avg_handling_seconds()),
           Cell::Int(a.handled()), Cell::Money(a.cost_fen()), Cell::Money(a.unallocated_fen())});
  }
  doc.sections.push_back({"agents", "Per agent and queue", t});
  return doc;
}

Document View(const v1::SlaReport& r) {
  Document doc{"sla", "SLA and incidents", Period(r), {}};
  Table t{{Text("queue"), Int("open"), Int("past_deadline"), Rate("past_deadline_share"),
           Int("held_back"), Int("incidents"), Int("completed"), Int("completed_late"),
           Rate("late_share")},
          {}};
  for (const auto& s : r.rows()) {
    t.Add({Cell::Text(s.queue()), Cell::Int(s.open()), Cell::Int(s.past_deadline()),
           Cell::Rate(s.past_deadline(), s.open()), Cell::Int(s.held_back()),
           Cell::Int(s.incidents()), Cell::Int(s.completed()), Cell::Int(s.completed_late()),
           Cell::Rate(s.completed_late(), s.completed())});
  }
  doc.sections.push_back({"queues", "Open work now, completions in the period", t});
  Table holds{{Text("queue"), Text("hold"), Int("tasks")}, {}};
  for (const auto& h : r.holds()) {
    holds.Add({Cell::Text(h.queue()), Cell::Text(h.reason()), Cell::Int(h.tasks())});
  }
  doc.sections.push_back({"holds", "Held back now", holds});
  return doc;
}

Document View(const v1::ExperimentReportAnswer& r) {
  Document doc{
      "experiment",
      absl::StrCat("Experiment ", r.experiment_id(), ": ", r.name()),
      {{"as_of", DateText(r.as_of())}, {"cure_window_days", absl::StrCat(r.cure_window_days())}},
      {}};
  Table arms{{Text("arm"), Int("policy_version"), Int("cases"), Int("cured"), Rate("cure_rate"),
              Int("rolled"), Rate("roll_rate"), Money("recovered"), Money("cost"),
              Ratio("recovered_per_cny_spent"), Int("legal_handoffs"), Int("disputes")},
             {}};
  for (const auto& a : r.arms()) {
    arms.Add({Cell::Text(a.arm()), Cell::Int(a.policy_version()), Cell::Int(a.cases()),
              Cell::Int(a.cured()), Cell::Rate(a.cured(), a.cases()), Cell::Int(a.rolled()),
              Cell::Rate(a.rolled(), a.cases()), Cell::Money(a.recovered_fen()),
              Cell::Money(a.cost_fen()), Cell::Rate(a.recovered_fen(), a.cost_fen()),
              Cell::Int(a.legal_handoffs()), Cell::Int(a.disputes())});
  }
  doc.sections.push_back({"arms", "Arms", arms});
  // Rates in percent (differences in percentage points), amounts in CNY.
  Table diffs{
      {Text("challenger"), Text("metric"), Text("unit"), Text("champion"), Text("challenger_value"),
       Text("difference"), Text("ci_low"), Text("ci_high"), Text("verdict")},
      {}};
  for (const auto& c : r.comparisons()) {
    const bool rate = IsRateMetric(c.metric());
    const bool none = c.verdict() == "no data";
    auto value = [&](double v) { return Cell::Text(none ? "-" : MetricValue(c.metric(), v)); };
    diffs.Add({Cell::Text(c.challenger()), Cell::Text(c.metric()),
               Cell::Text(rate ? "percent" : "CNY"), value(c.champion_value()),
               value(c.challenger_value()), value(c.difference()), value(c.ci_low()),
               value(c.ci_high()), Cell::Text(c.verdict())});
  }
  doc.sections.push_back(
      {"comparisons", "Each challenger against the champion (95 % intervals)", diffs});
  return doc;
}

std::string HtmlPage(const ReportSet& reports, const std::vector<std::string>& filters,
                     const std::string& generated) {
  std::string body;
  if (reports.portfolio)
    body += HtmlSection(View(*reports.portfolio), BookChart(*reports.portfolio));
  if (reports.funnel) body += HtmlSection(View(*reports.funnel), FunnelChart(*reports.funnel));
  if (reports.roll_rates) {
    body += HtmlSection(View(*reports.roll_rates), RollHeatMap(*reports.roll_rates));
  }
  if (reports.effectiveness) {
    body += HtmlSection(View(*reports.effectiveness), TrendChart(*reports.effectiveness));
  }
  if (reports.reasons) body += HtmlSection(View(*reports.reasons), ReasonsChart(*reports.reasons));
  if (reports.agents) body += HtmlSection(View(*reports.agents), "");
  if (reports.sla) body += HtmlSection(View(*reports.sla), "");
  if (reports.experiment) {
    body += HtmlSection(View(*reports.experiment), ExperimentCharts(*reports.experiment));
  }
  for (const auto& [name, error] : reports.errors) {
    absl::StrAppend(&body, "<section><h2>", Escape(name), "</h2><p class=\"error\">", Escape(error),
                    "</p></section>\n");
  }
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Collections report</title><style>",
      kStyle, "</style></head>\n<body><h1>Collections report</h1>",
      filters.empty()
          ? ""
          : absl::StrCat("<p class=\"filters\">Filters: ", Escape(absl::StrJoin(filters, ", ")),
                         "</p>"),
      "<p class=\"meta\">", Escape(generated), "</p>\n", body, "</body></html>\n");
}

}  // namespace collections::ctl
