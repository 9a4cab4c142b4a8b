// The report book (issue 17, migration 13): each case's snapshot figures
// as validity intervals, written by a day's run only for the cases whose
// figures changed, and the day's portfolio kept by their difference.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "gtest/gtest.h"
#include "soci/soci.h"
#include "storage/reports.h"
#include "storage/schema.h"
#include "tests/storage/store_fixture.h"
#include "workflow/dates.h"

namespace collections::storage {
namespace {

TEST_P(StoreTest, DayRunWritesBookRowsOnlyForTheCasesThatChanged) {
  std::vector<v1::Case> cases;
  for (int i = 0; i < 40; ++i) cases.push_back(Open(absl::StrCat("L-B", i)));
  // The cases' oldest unpaid due day is 2026-10-20: 30 days past due on
  // the first day (bucket 1-30), 31 on the next (31-60).
  const absl::CivilDay first(2026, 11, 19), next = first + 1;
  const long long d0 = workflow::DayNumber(first), d1 = workflow::DayNumber(next);
  ASSERT_TRUE(TakeReportSnapshot(*store_, first).ok());
  auto sql = Raw();
  auto count = [&](const std::string& where) {
    long long n = -1;
    *sql << "SELECT COUNT(*) FROM report_book WHERE " << where, soci::into(n);
    return n;
  };
  EXPECT_EQ(count(absl::StrCat("valid_from_day = ", d0, " AND valid_to_day = 1000000000")), 40);

  // Two cases' overdue amounts change; a third gets a note (no figure
  // changes).
  for (int i : {3, 17}) {
    workflow::Transition t = Following(cases[i]);
    t.next.mutable_overdue()->set_principal_fen(1'000 * CNY);
    ASSERT_TRUE(Apply(t, cases[i].version()).ok());
  }
  ASSERT_TRUE(Apply(Following(cases[5]), cases[5].version()).ok());

  ASSERT_TRUE(TakeReportSnapshot(*store_, next).ok());
  EXPECT_EQ(count(absl::StrCat("valid_from_day = ", d1)), 2);
  EXPECT_EQ(count(absl::StrCat("valid_to_day = ", d0)), 2);
  EXPECT_EQ(count("1 = 1"), 42);
  // The day runs once more before the next one: nothing new to write.
  ASSERT_TRUE(TakeReportSnapshot(*store_, next).ok());
  EXPECT_EQ(count("1 = 1"), 42);

  // The day's portfolio is the whole book, moved to 31-60 by the date and
  // with the two cases' new figures.
  ReportQuery q;
  q.from = q.to = next;
  absl::StatusOr<v1::PortfolioReport> portfolio = ReadPortfolio(*store_, q);
  ASSERT_TRUE(portfolio.ok()) << portfolio.status();
  EXPECT_EQ(portfolio->cases(), 40);
  EXPECT_EQ(portfolio->overdue_fen(), 38 * 3'000 * CNY + 2 * 1'000 * CNY);
  ASSERT_EQ(portfolio->cells_size(), 1);
  EXPECT_EQ(portfolio->cells(0).dpd_bucket(), "31-60");
  // The first day's book is as it was.
  q.from = q.to = first;
  portfolio = ReadPortfolio(*store_, q);
  ASSERT_TRUE(portfolio.ok()) << portfolio.status();
  EXPECT_EQ(portfolio->overdue_fen(), 40 * 3'000 * CNY);
  ASSERT_EQ(portfolio->cells_size(), 1);
  EXPECT_EQ(portfolio->cells(0).dpd_bucket(), "1-30");

  // Roll rates between the two days read both books from the intervals.
  q.from = first;
  q.to = next;
  absl::StatusOr<v1::RollRateReport> rolls = ReadRollRates(*store_, q);
  ASSERT_TRUE(rolls.ok()) << rolls.status();
  ASSERT_EQ(rolls->cells_size(), 1);
  EXPECT_EQ(rolls->cells(0).from_bucket(), "1-30");
  EXPECT_EQ(rolls->cells(0).to_bucket(), "31-60");
  EXPECT_EQ(rolls->cells(0).cases(), 40);
  EXPECT_EQ(rolls->cells(0).overdue_fen_at_start(), 40 * 3'000 * CNY);
  EXPECT_EQ(rolls->cells(0).overdue_fen_at_end(), 38 * 3'000 * CNY + 2 * 1'000 * CNY);
}

// Migration 13 turns the per-case rows of each complete day into one-day
// intervals (the newest day's left open) with a due day that buckets as
// the stored bucket did: the past answers do not change, and the next
// day's run goes on from them.
TEST_P(StoreTest, Migration13TurnsDailySnapshotsIntoIntervals) {
  std::vector<v1::Case> cases;
  for (int i = 0; i < 3; ++i) cases.push_back(Open(absl::StrCat("L-M", i)));
  const absl::CivilDay first(2026, 11, 19), next = first + 1;
  const long long d0 = workflow::DayNumber(first), d1 = workflow::DayNumber(next);
  // The rows migration 5's snapshots left for the two days.
  ASSERT_TRUE(TakeReportSnapshot(*store_, first).ok());
  ASSERT_TRUE(TakeReportSnapshot(*store_, next).ok());
  store_.reset();
  auto sql = Raw();
  UndoMigration13(*sql);
  for (const v1::Case& c : cases) {
    for (const auto& [day, bucket] : {std::pair{d0, 1}, std::pair{d1, 2}}) {
      *sql << "INSERT INTO report_snapshots (snap_key, bucket, stage, case_class, overdue_fen, "
              "principal_fen, policy_version, product, region, queue) VALUES ("
           << day * (1LL << 40) + c.case_id() << ", " << bucket << ", 1, " << v1::CASE_CLASS_MILD
           << ", " << 3'000 * CNY << ", " << 1'000'000 * CNY << ", 1, 'mortgage', 'ZJ', 'sms')";
    }
  }
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  long long rows = -1, open = -1;
  *sql << "SELECT COUNT(*) FROM report_book", soci::into(rows);
  *sql << "SELECT COUNT(*) FROM report_book WHERE valid_from_day = " << d1
       << " AND valid_to_day = 1000000000",
      soci::into(open);
  EXPECT_EQ(rows, 6);
  EXPECT_EQ(open, 3);

  ReportQuery q;
  q.from = first;
  q.to = next;
  absl::StatusOr<v1::RollRateReport> rolls = ReadRollRates(*store_, q);
  ASSERT_TRUE(rolls.ok()) << rolls.status();
  ASSERT_EQ(rolls->cells_size(), 1);
  EXPECT_EQ(rolls->cells(0).from_bucket(), "1-30");
  EXPECT_EQ(rolls->cells(0).to_bucket(), "31-60");
  EXPECT_EQ(rolls->cells(0).cases(), 3);

  // The next day's run starts from the converted book: one case paid.
  workflow::Transition t = Following(cases[1]);
  t.next.mutable_overdue()->set_principal_fen(1'000 * CNY);
  ASSERT_TRUE(Apply(t, cases[1].version()).ok());
  ASSERT_TRUE(TakeReportSnapshot(*store_, next + 1).ok());
  q.from = q.to = next + 1;
  absl::StatusOr<v1::PortfolioReport> portfolio = ReadPortfolio(*store_, q);
  ASSERT_TRUE(portfolio.ok()) << portfolio.status();
  EXPECT_EQ(portfolio->cases(), 3);
  EXPECT_EQ(portfolio->overdue_fen(), 2 * 3'000 * CNY + 1'000 * CNY);
  ASSERT_EQ(portfolio->cells_size(), 1);
  EXPECT_EQ(portfolio->cells(0).dpd_bucket(), "31-60");
  q.from = first;
  rolls = ReadRollRates(*store_, q);
  ASSERT_TRUE(rolls.ok()) << rolls.status();
  ASSERT_EQ(rolls->cells_size(), 1);
  EXPECT_EQ(rolls->cells(0).overdue_fen_at_end(), 2 * 3'000 * CNY + 1'000 * CNY);
}

// Migration 17: a stage change followed by another records the stage that
// next change moved the case to (report_events.next_stage): the writer
// sets it with the link to the next change, the migration backfills the
// changes recorded before. The stage funnel reads where the period left a
// case that changed again from it, the same answer either way.
TEST_P(StoreTest, Migration17RecordsTheStageEachChangeLedTo) {
  v1::Case a = Open("L-F1"), b = Open("L-F2");
  auto move = [&](v1::Case& c, v1::Stage to) {
    workflow::Transition t = Following(c);
    t.event.set_stage_before(c.stage());
    t.event.set_stage_after(to);
    t.next.set_stage(to);
    ASSERT_TRUE(Apply(t, c.version()).ok());
    c = t.next;
  };
  ASSERT_NO_FATAL_FAILURE(move(a, v1::STAGE_COUNSELLING));
  ASSERT_NO_FATAL_FAILURE(move(a, v1::STAGE_RESOLVED));
  ASSERT_NO_FATAL_FAILURE(move(b, v1::STAGE_COUNSELLING));
  auto sql = Raw();
  auto links = [&] {
    std::vector<std::string> out;
    soci::rowset<std::string> rs =
        (sql->prepare << "SELECT case_id || ':' || stage_after || '->' || next_stage FROM "
                         "report_events WHERE stage_after <> stage_before ORDER BY case_id, seq");
    for (const std::string& r : rs) out.push_back(r);
    return out;
  };
  const std::string ia = absl::StrCat(a.case_id()), ib = absl::StrCat(b.case_id());
  const std::vector<std::string> expected = {ia + ":1->2", ia + ":2->5", ia + ":5->0", ib + ":1->2",
                                             ib + ":2->0"};
  EXPECT_EQ(links(), expected);

  ReportQuery q;
  q.from = q.to = absl::CivilDay(2026, 11, 1);
  auto funnel = [&] {
    absl::StatusOr<v1::StageFunnelReport> f = ReadStageFunnel(*store_, q);
    EXPECT_TRUE(f.ok()) << f.status();
    std::vector<std::string> out;
    for (const v1::FunnelRow& r : f->rows()) {
      out.push_back(absl::StrCat(r.stage(), ": ", r.entered(), " entered, ", r.resolved(),
                                 " resolved, ", r.moved_on(), " moved on, ", r.still_there(),
                                 " still there, ", r.closed(), " closed"));
    }
    return out;
  };
  const std::vector<std::string> rows = {
      "1: 2 entered, 1 resolved, 1 moved on, 0 still there, 0 closed",
      "2: 2 entered, 1 resolved, 0 moved on, 1 still there, 0 closed",
      "3: 0 entered, 0 resolved, 0 moved on, 0 still there, 0 closed",
      "4: 0 entered, 0 resolved, 0 moved on, 0 still there, 0 closed"};
  EXPECT_EQ(funnel(), rows);

  // The same book recorded before migration 17: backfilled on opening.
  store_.reset();
  UndoMigration17(*sql);
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(links(), expected);
  EXPECT_EQ(funnel(), rows);
}

}  // namespace
}  // namespace collections::storage
