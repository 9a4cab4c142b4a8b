// collectionsctl's pure parts: CNY amounts into fen, the feed CSV (quoting,
// line numbers, bad rows), and the three output formats of one document.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "clients/ctl/args.h"
#include "clients/ctl/feed_csv.h"
#include "clients/ctl/output.h"
#include "clients/ctl/report_views.h"

namespace collections::ctl {
namespace {

using ::testing::HasSubstr;

TEST(ParseCny, WholeAndTwoDecimalsOnly) {
  int64_t fen = 0;
  ASSERT_TRUE(ParseCny("1500", &fen));
  EXPECT_EQ(fen, 150000);
  ASSERT_TRUE(ParseCny("1500.5", &fen));
  EXPECT_EQ(fen, 150050);
  ASSERT_TRUE(ParseCny(" 0.07 ", &fen));
  EXPECT_EQ(fen, 7);
  for (const char* bad : {"", "-1", "1.234", "1.", ".5", "1,500", "1e3", "abc"}) {
    EXPECT_FALSE(ParseCny(bad, &fen)) << bad;
  }
}

TEST(Args, FlagsSwitchesAndWhatToFix) {
  const std::vector<Flag> flags = {
      {"from", "DATE", ""}, {"upheld", "", ""}, {"policy_version", "N", ""}};
  auto args = Args::Parse({"--from=2026-01-01", "--upheld", "x", "--policy_version", "3"}, flags);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("from"), "2026-01-01");
  EXPECT_TRUE(args->Has("upheld"));
  EXPECT_EQ(args->Int("policy_version", 0).value(), 3);
  EXPECT_THAT(args->positional(), ::testing::ElementsAre("x"));
  EXPECT_THAT(std::string(Args::Parse({"--policy-version=3"}, flags).status().message()),
              HasSubstr("did you mean --policy_version?"));
  EXPECT_THAT(std::string(Args::Parse({"--from"}, flags).status().message()),
              HasSubstr("needs a value"));
  EXPECT_THAT(std::string(Args::Parse({"--from=a", "--from=b"}, flags).status().message()),
              HasSubstr("given twice"));
}

TEST(FeedReader, QuotedFieldsLinesAndProblems) {
  std::istringstream in(
      "\xEF\xBB\xBFloan_id,as_of,oldest_unpaid_due_date,borrower_id,address,phones,"
      "principal_outstanding_cny,overdue_principal_fen,credit_band\r\n"
      "L1,2026-11-29,2026-11-01,B1,\"8 Road, \"\"Old\"\" Town\nShanghai\",1;2,1000.50,500,good\r\n"
      "\r\n"
      "L2,2026-11-29,2026-11-01,B2,x,,12,7,excellent-ish\n"
      "L3,2026-11-31,2026-11-01,B3,x,,12,7,good\n"
      "L4,2026-11-29\n");
  FeedReader feed(in);
  ASSERT_TRUE(feed.Start().ok());
  v1::DelinquencyRecord r;
  RowProblem p;
  int64_t line = 0;
  ASSERT_TRUE(feed.Next(&r, &p, &line));
  EXPECT_TRUE(p.message.empty()) << p.message;
  EXPECT_EQ(line, 2);
  EXPECT_EQ(r.borrower().address(), "8 Road, \"Old\" Town\nShanghai");
  EXPECT_EQ(r.borrower().phones_size(), 2);
  EXPECT_EQ(r.principal_outstanding_fen(), 100050);
  EXPECT_EQ(r.overdue().principal_fen(), 500);
  EXPECT_EQ(r.credit().score_band(), v1::CREDIT_BAND_GOOD);
  ASSERT_TRUE(feed.Next(&r, &p, &line));
  EXPECT_EQ(line, 5);  // the quoted line break and the blank line count
  EXPECT_EQ(p.field, "credit_band");
  ASSERT_TRUE(feed.Next(&r, &p, &line));
  EXPECT_EQ(p.field, "as_of");
  EXPECT_THAT(p.message, HasSubstr("2026-11-31"));
  ASSERT_TRUE(feed.Next(&r, &p, &line));
  EXPECT_THAT(p.message, HasSubstr("has 2 fields"));
  EXPECT_FALSE(feed.Next(&r, &p, &line));
  EXPECT_TRUE(feed.ok());
}

TEST(FeedReader, HeaderSaysWhatIsWrong) {
  std::istringstream unknown("loan_id,as_of,amount\n");
  EXPECT_THAT(std::string(FeedReader(unknown).Start().message()), HasSubstr("\"amount\""));
  std::istringstream missing("loan_id,as_of,oldest_unpaid_due_date,borrower_id\n");
  EXPECT_THAT(std::string(FeedReader(missing).Start().message()),
              HasSubstr("principal_outstanding_fen"));
}

TEST(Render, OneDocumentThreeWays) {
  Document doc{"demo", "Demo", {{"as_of", "2026-11-29"}}, {}};
  Table t{{{"name", Kind::kText},
           {"cases", Kind::kInt},
           {"overdue", Kind::kMoney},
           {"rate", Kind::kRate}},
          {}};
  t.Add({Cell::Text("a, b"), Cell::Int(3), Cell::Money(123456789), Cell::Rate(1, 3)});
  t.Add({Cell::Text("c"), Cell::Int(0), Cell::Money(-5), Cell::Rate(0, 0)});
  doc.sections.push_back({"rows", "Rows", t});
  std::string error;
  std::ostringstream table, csv, json;
  ASSERT_TRUE(Render(doc, Format::kTable, "", table, &error));
  EXPECT_EQ(table.str(),
            "Demo (as_of 2026-11-29)\n\nRows\n"
            "name  cases   overdue_cny   rate\n"
            "a, b      3  1,234,567.89  33.3%\n"
            "c         0         -0.05      -\n");
  ASSERT_TRUE(Render(doc, Format::kCsv, "", csv, &error));
  EXPECT_EQ(csv.str(),
            "name,cases,overdue_cny,rate\r\n\"a, b\",3,1234567.89,0.3333\r\nc,0,-0.05,\r\n");
  ASSERT_TRUE(Render(doc, Format::kJson, "", json, &error));
  EXPECT_THAT(json.str(),
              HasSubstr("{\"name\": \"a, b\", \"cases\": 3, \"overdue_fen\": 123456789, "
                        "\"rate\": 0.3333}"));
  EXPECT_THAT(json.str(), HasSubstr("\"rate\": null"));
  EXPECT_FALSE(Render(doc, Format::kCsv, "trend", csv, &error));
  EXPECT_THAT(error, HasSubstr("has: rows"));
}

v1::Date Day(int y, int m, int d) {
  v1::Date out;
  out.set_year(y);
  out.set_month(m);
  out.set_day(d);
  return out;
}

std::string TableOf(const Document& doc) {
  std::ostringstream out;
  std::string error;
  EXPECT_TRUE(Render(doc, Format::kTable, "", out, &error)) << error;
  return out.str();
}

// Every report says which dates its figures come from, and the book
// whether it is today's live one or a stored snapshot.
TEST(ReportViews, SayWhichDatesTheDataCovers) {
  v1::PortfolioReport p;
  *p.mutable_as_of() = Day(2026, 11, 29);
  *p.mutable_data_from() = p.as_of();
  *p.mutable_data_to() = p.as_of();
  p.set_live(true);
  EXPECT_THAT(TableOf(View(p)),
              HasSubstr("Portfolio (as_of 2026-11-29, data_from 2026-11-29, data_to 2026-11-29, "
                        "book live)\n"));
  p.set_live(false);
  EXPECT_THAT(TableOf(View(p)), HasSubstr("book snapshot"));

  v1::StageFunnelReport f;
  *f.mutable_as_of() = Day(2026, 11, 30);
  *f.mutable_from() = Day(2026, 11, 1);
  *f.mutable_to() = Day(2026, 11, 30);
  *f.mutable_data_from() = Day(2026, 11, 29);
  *f.mutable_data_to() = Day(2026, 11, 30);
  EXPECT_THAT(TableOf(View(f)),
              HasSubstr("(as_of 2026-11-30, from 2026-11-01, to 2026-11-30, data_from 2026-11-29, "
                        "data_to 2026-11-30)"));
  std::ostringstream json;
  std::string error;
  ASSERT_TRUE(Render(View(f), Format::kJson, "", json, &error));
  EXPECT_THAT(json.str(), HasSubstr("\"data_from\": \"2026-11-29\""));

  // A period with no data at all says so.
  v1::EffectivenessReport e;
  *e.mutable_from() = Day(2026, 10, 1);
  *e.mutable_to() = Day(2026, 10, 10);
  EXPECT_THAT(TableOf(View(e)), HasSubstr("data_from none, data_to none"));

  v1::RollRateReport r;
  r.set_live(true);
  EXPECT_THAT(TableOf(View(r)), HasSubstr("book live"));
}

// The label after the longest bar of the funnel chart stays inside the
// chart (a 1,000,000-case book's "361130 entered" was cut at its edge).
TEST(ReportViews, FunnelChartFitsItsLongestLabel) {
  v1::StageFunnelReport f;
  v1::FunnelRow* row = f.add_rows();
  row->set_stage(v1::STAGE_REMINDER);
  row->set_entered(361130);
  row->set_still_there(361130);
  ReportSet set;
  set.funnel = f;
  const std::string page = HtmlPage(set, {}, "now");
  const size_t chart = page.find(R"(aria-label="Stage funnel")");
  ASSERT_NE(chart, std::string::npos);
  const size_t width_at = page.find(R"(width=")", page.rfind("<svg", chart)) + 7;
  const double width = std::stod(page.substr(width_at, page.find('"', width_at) - width_at));
  const size_t label = page.find(">361130 entered</text>", chart);
  ASSERT_NE(label, std::string::npos);
  const size_t x_at = page.rfind(R"(<text x=")", label) + 9;
  const double x = std::stod(page.substr(x_at, page.find('"', x_at) - x_at));
  // About 7 px a character at the page's 11 px chart font.
  EXPECT_LE(x + 7.0 * std::string("361130 entered").size(), width);
}

}  // namespace
}  // namespace collections::ctl
