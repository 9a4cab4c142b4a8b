// The report book (issue 17, migration 13): each case's snapshot figures
// as validity intervals, written by a day's run only for the cases whose
// figures changed, and the day's portfolio kept by their difference.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "gtest/gtest.h"
#include "soci/soci.h"
#include "storage/report_facts.h"
#include "storage/reports.h"
#include "storage/schema.h"
#include "storage/store_internal.h"
#include "tests/storage/store_fixture.h"
#include "workflow/dates.h"

namespace collections::storage {
namespace {

// The transition that moves `c` to stage `to`, on its business date or on
// `day`.
workflow::Transition StageMove(const v1::Case& c, v1::Stage to,
                               std::optional<absl::CivilDay> day = std::nullopt) {
  workflow::Transition t = Following(c);
  if (day) {
    *t.event.mutable_business_date() = workflow::DayToProto(*day);
    *t.next.mutable_business_date() = workflow::DayToProto(*day);
  }
  t.event.set_stage_before(c.stage());
  t.event.set_stage_after(to);
  t.next.set_stage(to);
  return t;
}

// SQLite: the day's run gives back part of the writer's page cache and
// keeps the rest for the next day; the cache's limit is the configured one
// again afterwards, so that the next import has the whole cache.
TEST_P(StoreTest, DayRunLeavesTheWritersPageCacheLimitAsConfigured) {
  if (GetParam() != Backend::kSqlite) GTEST_SKIP() << "SQLite's page cache";
  StoreOptions options = OneWriter();
  options.sqlite_writer_cache_kib = 3 * 1024;
  store_.reset();
  OpenStore(options);
  for (int i = 0; i < 20; ++i) Open(absl::StrCat("L-C", i));
  const absl::CivilDay first(2026, 11, 19);
  ASSERT_TRUE(TakeReportSnapshot(*store_, first).ok());
  ASSERT_TRUE(TakeReportSnapshot(*store_, first + 1).ok());
  long long cache_size = 0;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) {
                    return RunReportStep(uow, [&](soci::session& sql, Backend) {
                      sql << "PRAGMA cache_size", soci::into(cache_size);
                    });
                  })
                  .ok());
  EXPECT_EQ(cache_size, -3 * 1024);
}

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
    workflow::Transition t = StageMove(c, to);
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

// Each stage change records the day its case last entered the new stage
// before (prev_entry_day: the funnel counts a first entry of the period by
// it) and closes the case's previous change (next_change_day, next_stage).
// On PostgreSQL the read, the link and the insert are one statement; the
// rows must be those of the three statements SQLite runs.
TEST_P(StoreTest, AStageChangeRecordsWhenItsStageWasLastEnteredAndLinksTheOneBefore) {
  v1::Case c = Open("L-R1");  // REMINDER on 2026-11-01
  const absl::CivilDay d0(2026, 11, 1);
  for (const auto& [to, day] :
       {std::pair{v1::STAGE_COUNSELLING, d0 + 2}, std::pair{v1::STAGE_REMINDER, d0 + 4},
        std::pair{v1::STAGE_COUNSELLING, d0 + 7}}) {
    workflow::Transition t = StageMove(c, to, day);
    ASSERT_TRUE(Apply(t, c.version()).ok());
    c = t.next;
  }
  auto sql = Raw();
  std::vector<std::string> rows;
  soci::rowset<std::string> rs =
      (sql->prepare << "SELECT stage_before || '->' || stage_after || ' on ' || day || ' prev ' "
                       "|| prev_entry_day || ' next ' || next_change_day || ':' || next_stage "
                       "FROM report_events WHERE case_id = :c AND stage_after <> stage_before "
                       "ORDER BY seq",
       soci::use(static_cast<long long>(c.case_id())));
  for (const std::string& r : rs) rows.push_back(r);
  const long long d = workflow::DayNumber(d0);
  EXPECT_EQ(rows,
            (std::vector<std::string>{
                absl::StrCat("0->1 on ", d, " prev -1 next ", d + 2, ":2"),
                absl::StrCat("1->2 on ", d + 2, " prev -1 next ", d + 4, ":1"),
                absl::StrCat("2->1 on ", d + 4, " prev ", d, " next ", d + 7, ":2"),
                absl::StrCat("1->2 on ", d + 7, " prev ", d + 2, " next ", kNoLaterChange, ":0")}));
}

// Migrations 21 and 23: the stage changes counted by day. The writer
// counts each commit's stage changes into report_stage_change_deltas, the
// day's run moves them into report_stage_changes_by_day, and the stage
// funnel and the effectiveness report's flow read both. At every step (no
// run yet, after each run, a command that failed, a database of version
// 22 or of version 20 opened) the counts are report_events' own, and the
// answers, for periods before, across and after the folded days, with and
// without a filter, stay the same.
TEST_P(StoreTest, StageChangesAreCountedAsTheyCommitAndMovedByTheDaysRun) {
  const absl::CivilDay d0(2026, 11, 1);
  std::vector<v1::Case> cases;
  for (int i = 0; i < 6; ++i) cases.push_back(Open(absl::StrCat("L-C", i)));
  // Case i moves on day d0 + i % 4: to counselling, then legal action or
  // back to reminder (a re-entry), or resolved.
  auto move = [&](v1::Case& c, v1::Stage to, absl::CivilDay day) {
    workflow::Transition t = StageMove(c, to, day);
    ASSERT_TRUE(Apply(t, c.version()).ok());
    c = t.next;
  };
  const v1::Stage next[] = {v1::STAGE_LEGAL_ACTION, v1::STAGE_REMINDER, v1::STAGE_RESOLVED};
  for (int i = 0; i < 6; ++i) {
    ASSERT_NO_FATAL_FAILURE(move(cases[i], v1::STAGE_COUNSELLING, d0 + i % 4));
    ASSERT_NO_FATAL_FAILURE(move(cases[i], next[i % 3], d0 + i % 4 + 1));
  }
  auto sql = Raw();
  auto answers = [&] {
    std::vector<std::string> out;
    for (int from = 0; from < 6; ++from) {
      for (int to = from; to < 6; ++to) {
        for (const char* region : {"", "ZJ", "SH"}) {
          ReportQuery q;
          q.from = d0 + from;
          q.to = d0 + to;
          q.region = region;
          absl::StatusOr<v1::StageFunnelReport> f = ReadStageFunnel(*store_, q);
          EXPECT_TRUE(f.ok()) << f.status();
          absl::StatusOr<v1::EffectivenessReport> e = ReadEffectiveness(*store_, q);
          EXPECT_TRUE(e.ok()) << e.status();
          if (!f.ok() || !e.ok()) return out;
          std::string line = absl::StrCat(from, "..", to, " ", region, ":");
          for (const v1::FunnelRow& r : f->rows()) {
            absl::StrAppend(&line, " ", r.stage(), "=", r.entered(), "/", r.resolved(), "/",
                            r.moved_on(), "/", r.still_there(), "/", r.closed());
          }
          absl::StrAppend(&line, " cured ", e->totals().cured(), " entered ", e->totals().entered(),
                          " trend");
          for (const v1::TrendPoint& p : e->trend()) {
            absl::StrAppend(&line, " ", p.cured(), "/", p.entered());
          }
          out.push_back(line);
        }
      }
    }
    return out;
  };
  // Rows waiting in report_stage_change_deltas for the day's run.
  auto deltas = [&] {
    long long n = -1;
    *sql << "SELECT COUNT(*) FROM report_stage_change_deltas", soci::into(n);
    return n;
  };
  constexpr char kKept[] =
      "(SELECT * FROM report_stage_changes_by_day UNION ALL SELECT * FROM "
      "report_stage_change_deltas) k";
  // report_events counted by day, and the kept counts, through `day`.
  auto counts = [&](const std::string& table, const std::string& count, long long day) {
    std::vector<std::string> out;
    soci::rowset<soci::row> rs =
        (sql->prepare << "SELECT day || ' ' || stage_before || '->' || stage_after || ' ' || "
                         "CASE WHEN stage_after IN (1, 2, 3, 4) THEN prev_entry_day ELSE -1 "
                         "END || ' ' || region || ' ' || CAST("
                      << count << " AS BIGINT) FROM " << table
                      << " WHERE stage_after <> stage_before AND day <= " << day
                      << " GROUP BY day, stage_before, stage_after, CASE WHEN stage_after IN "
                         "(1, 2, 3, 4) THEN prev_entry_day ELSE -1 END, region ORDER BY 1");
    for (const soci::row& r : rs) out.push_back(r.get<std::string>(0));
    return out;
  };
  // Every change of every day, counted as it committed (no run yet).
  const long long all = workflow::DayNumber(d0 + 10);
  EXPECT_GT(deltas(), 0);
  EXPECT_EQ(counts(kKept, "SUM(changes)", all), counts("report_events", "COUNT(*)", all));
  EXPECT_FALSE(counts("report_events", "COUNT(*)", all).empty());
  const std::vector<std::string> expected = answers();
  ASSERT_EQ(expected.size(), 63u);

  // A command that fails after its stage change leaves no count.
  {
    v1::Case c = cases[0];
    workflow::Transition failed = StageMove(c, v1::STAGE_RESOLVED, d0 + 5);
    const std::vector<std::string> before = counts(kKept, "SUM(changes)", all);
    absl::Status s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
      absl::Status applied = uow.Apply(failed, c.version());
      if (!applied.ok()) return applied;
      return absl::FailedPreconditionError("changed its mind");
    });
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_EQ(counts(kKept, "SUM(changes)", all), before);
    EXPECT_EQ(counts("report_events", "COUNT(*)", all), before);
  }

  // The runs of days d0 .. d0 + 4: each moves every count into the kept
  // counts by day.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(TakeReportSnapshot(*store_, d0 + i).ok());
    EXPECT_EQ(deltas(), 0);
    EXPECT_EQ(counts(kKept, "SUM(changes)", all), counts("report_events", "COUNT(*)", all));
  }
  EXPECT_EQ(answers(), expected);
  // A change after the runs is counted at once.
  {
    v1::Case c = cases[1];
    ASSERT_NO_FATAL_FAILURE(move(c, v1::STAGE_RESOLVED, d0 + 4));
    EXPECT_EQ(deltas(), 1);
    EXPECT_EQ(counts(kKept, "SUM(changes)", all), counts("report_events", "COUNT(*)", all));
    ASSERT_TRUE(TakeReportSnapshot(*store_, d0 + 5).ok());
    EXPECT_EQ(deltas(), 0);
    EXPECT_EQ(counts(kKept, "SUM(changes)", all), counts("report_events", "COUNT(*)", all));
  }
  const std::vector<std::string> expected_after = answers();
  EXPECT_NE(expected_after, expected);
  // The current intervals' sums (roll rates read them) are the intervals'.
  auto sums = [&](const std::string& from) {
    std::vector<std::string> out;
    soci::rowset<soci::row> rs = (sql->prepare << "SELECT oldest_due_day || ' ' || region || ' ' "
                                                  "|| queue || ' ' || "
                                               << from);
    for (const soci::row& r : rs) out.push_back(r.get<std::string>(0));
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::string current_sums = "cases || ' ' || overdue_fen FROM report_book_current_sums";
  const std::string current_intervals =
      "COUNT(*) || ' ' || SUM(overdue_fen) FROM report_book WHERE valid_to_day = 1000000000 "
      "GROUP BY oldest_due_day, policy_version, product, region, queue";
  EXPECT_EQ(sums(current_sums), sums(current_intervals));
  EXPECT_FALSE(sums(current_sums).empty());
  auto rolls = [&] {
    std::vector<std::string> out;
    for (int from = 0; from < 5; ++from) {
      ReportQuery q;
      q.from = d0 + from;
      q.to = d0 + 4;
      absl::StatusOr<v1::RollRateReport> r = ReadRollRates(*store_, q);
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) out.push_back(r->ShortDebugString());
    }
    return out;
  };
  const std::vector<std::string> expected_rolls = rolls();

  // The same book at version 22, version 21's counts kept through d0 + 2
  // and the later days only in report_events: counted on opening.
  store_.reset();
  UndoMigration23(*sql, workflow::DayNumber(d0 + 2));
  EXPECT_NE(counts("report_stage_changes_by_day", "SUM(changes)", all),
            counts("report_events", "COUNT(*)", all));
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(deltas(), 0);
  EXPECT_EQ(counts(kKept, "SUM(changes)", all), counts("report_events", "COUNT(*)", all));
  EXPECT_EQ(answers(), expected_after);

  // The same book before migration 21: counted on opening, through the
  // day before the last run's yesterday (version 21), then the rest
  // (version 23).
  store_.reset();
  UndoMigration21(*sql);
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(deltas(), 0);
  EXPECT_EQ(counts(kKept, "SUM(changes)", all), counts("report_events", "COUNT(*)", all));
  EXPECT_EQ(answers(), expected_after);
  EXPECT_EQ(sums(current_sums), sums(current_intervals));
  EXPECT_EQ(rolls(), expected_rolls);
}

// Migration 18: the SLA report's open work comes from counts the database
// keeps with every change of a task or of its case's filters, folded by the
// day's run. Whatever changes and whenever the fold runs, the report says
// what counting the open tasks themselves says.
TEST_P(StoreTest, Migration18KeepsTheSlaReportsOpenWorkCounted) {
  // Three cases, each with an SMS task (deadline a day after kNow) and a
  // reminder call (not before a day after kNow, deadline a day later).
  std::vector<v1::Case> cases;
  for (int i = 0; i < 3; ++i) cases.push_back(Open(absl::StrCat("L-S", i)));
  auto sql = Raw();
  auto counted = [&](const ReportQuery& q) {
    absl::StatusOr<v1::SlaReport> sla = ReadSlaBreaches(*store_, q);
    EXPECT_TRUE(sla.ok()) << sla.status();
    std::vector<std::string> out;
    for (const v1::SlaRow& r : sla->rows()) {
      out.push_back(absl::StrCat(r.queue(), ": ", r.open(), " open, ", r.past_deadline(), " late, ",
                                 r.held_back(), " held, ", r.incidents(), " incidents"));
    }
    return out;
  };
  // The same figures from every open task (what the report read before).
  auto recounted = [&](const ReportQuery& q) {
    const long long now = absl::ToUnixMicros(q.now);
    std::vector<std::string> out;
    soci::rowset<std::string> rs =
        (sql->prepare << "SELECT t.queue || ': ' || SUM(CASE WHEN t.state IN (1, 2) THEN 1 "
                         "ELSE 0 END) || ' open, ' || SUM(CASE WHEN t.state IN (1, 2) AND "
                         "t.deadline_us > 0 AND t.deadline_us < "
                      << now
                      << " THEN 1 ELSE 0 END) || ' late, ' || SUM(CASE WHEN t.state = 1 AND "
                         "t.hold_reason <> '' AND t.not_before_us > "
                      << now
                      << " THEN 1 ELSE 0 END) || ' held, ' || SUM(CASE WHEN t.state = 5 THEN 1 "
                         "ELSE 0 END) || ' incidents' FROM tasks t JOIN cases c ON c.case_id = "
                         "t.case_id WHERE t.state IN (1, 2, 5) AND c.region LIKE '"
                      << (q.region.empty() ? "%" : q.region) << "' GROUP BY t.queue ORDER BY "
                      << "t.queue");
    for (const std::string& r : rs) out.push_back(r);
    return out;
  };
  auto changes = [&] {
    long long n = -1;
    *sql << "SELECT COUNT(*) FROM report_open_task_changes", soci::into(n);
    return n;
  };
  // Before the first deadline, on its day before and after it, two days on;
  // every region and one.
  auto check = [&](const std::string& when) {
    for (const absl::Duration at : {absl::ZeroDuration(), absl::Hours(23), absl::Hours(25),
                                    absl::Hours(48) + absl::Minutes(2), absl::Hours(72)}) {
      for (const std::string region : {"", "ZJ", "SH"}) {
        ReportQuery q;
        q.from = q.to = absl::CivilDay(2026, 11, 1);
        q.now = kNow + at;
        q.region = region;
        EXPECT_EQ(counted(q), recounted(q))
            << when << ", now + " << at << ", region '" << region << "'";
      }
    }
  };
  ASSERT_NO_FATAL_FAILURE(check("opened"));
  EXPECT_GT(changes(), 0);

  // Every kind of change the counts follow, through the tables themselves:
  // a claim, a completion, an incident, a cancellation, a hold, a new
  // deadline, another queue, and a case moved to another region.
  const std::string c0 = absl::StrCat(cases[0].case_id()), c1 = absl::StrCat(cases[1].case_id()),
                    c2 = absl::StrCat(cases[2].case_id());
  const long long day = 86'400'000'000LL;
  *sql << "UPDATE tasks SET state = 2 WHERE case_id = " << c0 << " AND queue = 'sms'";
  *sql << "UPDATE tasks SET state = 3 WHERE case_id = " << c0 << " AND queue = 'call.early'";
  *sql << "UPDATE tasks SET state = 5 WHERE case_id = " << c1 << " AND queue = 'sms'";
  *sql << "UPDATE tasks SET state = 4 WHERE case_id = " << c1 << " AND queue = 'call.early'";
  *sql << "UPDATE tasks SET hold_reason = 'call cap reached', not_before_us = not_before_us + "
       << day << " WHERE case_id = " << c2 << " AND queue = 'call.early'";
  *sql << "UPDATE tasks SET deadline_us = deadline_us + " << day << " WHERE case_id = " << c2
       << " AND queue = 'sms'";
  *sql << "UPDATE tasks SET queue = 'call.late' WHERE case_id = " << c0 << " AND queue = 'sms'";
  *sql << "UPDATE cases SET region = 'SH' WHERE case_id = " << c2;
  ASSERT_NO_FATAL_FAILURE(check("changed"));

  // The day's run folds the changes into the counts: the same answers.
  ASSERT_TRUE(TakeReportSnapshot(*store_, absl::CivilDay(2026, 11, 1)).ok());
  EXPECT_EQ(changes(), 0);
  ASSERT_NO_FATAL_FAILURE(check("folded"));
  *sql << "UPDATE tasks SET state = 1 WHERE case_id = " << c1 << " AND queue = 'sms'";
  *sql << "UPDATE cases SET region = 'ZJ' WHERE case_id = " << c2;
  ASSERT_NO_FATAL_FAILURE(check("changed after the fold"));

  // Counted by the migration on a book opened before it.
  store_.reset();
  UndoMigration18(*sql);
  *sql << "UPDATE tasks SET state = 3 WHERE case_id = " << c2 << " AND queue = 'sms'";
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(changes(), 0);
  ASSERT_NO_FATAL_FAILURE(check("migrated"));
}

}  // namespace
}  // namespace collections::storage
