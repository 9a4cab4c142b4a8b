// ReportService through real gRPC on SQLite and PostgreSQL: periods checked
// and missing snapshots named, today's book live and the dates each report
// covers, roll rates that tell closed from cured, plan payments recovered,
// old snapshots kept at month ends.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/service/report_service_fixture.h"

namespace collections::report_test {
namespace {

using ::testing::HasSubstr;
using workflow::DayToProto;

TEST_P(ReportServiceTest, PeriodsAreCheckedAndMissingSnapshotsNamed) {
  Import({Row("A", 10, 3'000 * CNY)});
  v1::ReportRequest future;
  *future.mutable_to() = DayToProto(kDay0 + 1);
  v1::PortfolioReport p;
  auto ctx = Context();
  grpc::Status s = reports_->Portfolio(ctx.get(), future, &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("after the current business date"));

  v1::ReportRequest backwards;
  *backwards.mutable_from() = DayToProto(kDay0);
  *backwards.mutable_to() = DayToProto(kDay0 - 1);
  v1::StageFunnelReport f;
  ctx = Context();
  s = reports_->StageFunnel(ctx.get(), backwards, &f);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::ReportRequest window;
  window.set_cure_window_days(400);
  v1::EffectivenessReport e;
  ctx = Context();
  EXPECT_EQ(reports_->StrategyEffectiveness(ctx.get(), window, &e).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // The server's start took the first day's snapshot (before the import):
  // a period before it has none; one reaching into it starts there.
  v1::RollRateReport r;
  v1::ReportRequest early;
  *early.mutable_from() = DayToProto(kDay0 - 10);
  *early.mutable_to() = DayToProto(kDay0 - 5);
  ctx = Context();
  s = reports_->RollRates(ctx.get(), early, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("exist from 2026-11-29 to 2026-11-29"));
  early.clear_to();
  ctx = Context();
  ASSERT_TRUE(reports_->RollRates(ctx.get(), early, &r).ok());
  EXPECT_EQ(workflow::DayFromProto(r.from(), "").value(), kDay0);
}

// The day a feed is imported, today's book shows it: the current business
// date's portfolio (and the end of a roll to it) is computed from the cases
// as they stand, not from the snapshot the day's run took before the
// import. Past days come from their snapshots, and every answer says which
// dates its figures come from.
TEST_P(ReportServiceTest, TodaysBookIsLiveAndReportsSayWhichDatesTheyCover) {
  Import({Row("A", 10, 3'000 * CNY), Row("B", 40, 6'000 * CNY)});
  const auto day = [](const v1::Date& d) { return workflow::DayFromProto(d, "").value(); };

  v1::PortfolioReport p;
  CALL(Portfolio, v1::ReportRequest(), &p);
  EXPECT_EQ(p.cases(), 2) << p.DebugString();
  EXPECT_EQ(p.overdue_fen(), 9'000 * CNY);
  EXPECT_TRUE(p.live());
  EXPECT_EQ(day(p.as_of()), kDay0);
  EXPECT_EQ(day(p.data_from()), kDay0);
  EXPECT_EQ(day(p.data_to()), kDay0);
  ASSERT_EQ(p.cells_size(), 2);
  EXPECT_EQ(p.cells(0).dpd_bucket(), "1-30");
  EXPECT_EQ(p.cells(1).dpd_bucket(), "31-60");

  // Day 0 closes with both; on day 1 A pays in full.
  ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 1));
  Pay("A", "P-A", 3'000 * CNY);
  CALL(Portfolio, v1::ReportRequest(), &p);
  EXPECT_EQ(p.cases(), 1) << p.DebugString();
  EXPECT_TRUE(p.live());
  EXPECT_EQ(day(p.as_of()), kDay0 + 1);

  v1::ReportRequest yesterday;
  *yesterday.mutable_to() = DayToProto(kDay0);
  CALL(Portfolio, yesterday, &p);
  EXPECT_EQ(p.cases(), 2);
  EXPECT_FALSE(p.live());
  EXPECT_EQ(day(p.data_from()), kDay0);
  EXPECT_EQ(day(p.data_to()), kDay0);

  // The roll from day 0 to today ends with the cases as they are now: A
  // cured, B still 31-60 (a day older).
  v1::ReportRequest roll;
  *roll.mutable_from() = DayToProto(kDay0);
  v1::RollRateReport rolls;
  CALL(RollRates, roll, &rolls);
  EXPECT_TRUE(rolls.live());
  EXPECT_EQ(day(rolls.from()), kDay0);
  EXPECT_EQ(day(rolls.to()), kDay0 + 1);
  EXPECT_EQ(day(rolls.data_from()), kDay0);
  EXPECT_EQ(day(rolls.data_to()), kDay0 + 1);
  std::map<std::string, v1::RollRateCell> cells;
  for (const auto& c : rolls.cells()) cells[c.from_bucket() + ">" + c.to_bucket()] = c;
  ASSERT_EQ(cells.size(), 2u) << rolls.DebugString();
  EXPECT_EQ(cells.at("1-30>resolved").cases(), 1);
  EXPECT_EQ(cells.at("31-60>31-60").overdue_fen_at_end(), 6'000 * CNY);

  // A roll ending on a past day is that day's snapshot.
  *roll.mutable_to() = DayToProto(kDay0);
  CALL(RollRates, roll, &rolls);
  EXPECT_FALSE(rolls.live());

  // Flows: a 30-day period on a database whose first day is day 0 has data
  // from day 0 only; a period wholly before it has none.
  v1::StageFunnelReport f;
  CALL(StageFunnel, v1::ReportRequest(), &f);
  EXPECT_EQ(day(f.from()), kDay0 + 1 - 29);
  EXPECT_EQ(day(f.data_from()), kDay0);
  EXPECT_EQ(day(f.data_to()), kDay0 + 1);
  EXPECT_EQ(f.rows(0).entered() + f.rows(1).entered(), 2);
  v1::ReportRequest before;
  *before.mutable_from() = DayToProto(kDay0 - 20);
  *before.mutable_to() = DayToProto(kDay0 - 10);
  v1::EffectivenessReport e;
  CALL(StrategyEffectiveness, before, &e);
  EXPECT_FALSE(e.has_data_from());
  EXPECT_FALSE(e.has_data_to());
  v1::SlaReport sla;
  CALL(SlaBreaches, v1::ReportRequest(), &sla);
  EXPECT_EQ(day(sla.data_from()), kDay0);
  EXPECT_EQ(day(sla.data_to()), kDay0 + 1);
  v1::OverdueReasonsReport reasons;
  CALL(OverdueReasons, v1::ReportRequest(), &reasons);
  EXPECT_EQ(day(reasons.data_from()), kDay0);
  v1::AgentProductivityReport agents;
  CALL(AgentProductivity, v1::ReportRequest(), &agents);
  EXPECT_EQ(day(agents.data_from()), kDay0);
}

// A case that leaves the book is "resolved" at the end of a roll, unless it
// was closed (written off, restructured, legal concluded) in the period.
TEST_P(ReportServiceTest, RollRatesTellClosedFromCured) {
  Import({Row("P", 40, 6'000 * CNY), Row("Q", 45, 8'000 * CNY), Row("R", 50, 9'000 * CNY)});
  ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 1));  // day 0 closes with all three open
  Pay("P", "P-1", 6'000 * CNY);
  v1::Signal bankrupt;
  bankrupt.mutable_bankruptcy()->set_court_reference("(2026) Hu 01 Po 7");
  Signal("Q", bankrupt);
  v1::TaskOutcome write_off;
  write_off.mutable_review()->set_decision("no assets");
  write_off.mutable_review()->set_write_off(true);
  Complete(Claim("supervisor", "Q", "sup-zhao"), write_off);
  ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 2));  // day 1 closes without P and Q

  v1::ReportRequest r;
  *r.mutable_from() = DayToProto(kDay0);
  *r.mutable_to() = DayToProto(kDay0 + 1);
  v1::RollRateReport rolls;
  CALL(RollRates, r, &rolls);
  std::map<std::string, v1::RollRateCell> cells;
  for (const auto& c : rolls.cells()) cells[c.to_bucket()] = c;
  ASSERT_EQ(cells.size(), 3u) << rolls.DebugString();
  for (const auto& [to, c] : cells) {
    EXPECT_EQ(c.from_bucket(), "31-60");
    EXPECT_EQ(c.cases(), 1) << to;
    EXPECT_EQ(c.cases_at_start(), 3);
    EXPECT_EQ(c.overdue_fen_at_start(), 23'000 * CNY);
  }
  EXPECT_EQ(cells.at("resolved").overdue_fen(), 6'000 * CNY);  // P
  EXPECT_EQ(cells.at("closed").overdue_fen(), 8'000 * CNY);    // Q
  EXPECT_EQ(cells.at("closed").overdue_fen_at_end(), 0);
  EXPECT_EQ(cells.at("31-60").overdue_fen_at_end(), 9'000 * CNY);  // R

  // The funnel says the same of the counselling stage.
  v1::StageFunnelReport f;
  CALL(StageFunnel, r, &f);
  EXPECT_EQ(f.rows(1).stage(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(f.rows(1).entered(), 3);
  EXPECT_EQ(f.rows(1).resolved(), 1);
  EXPECT_EQ(f.rows(1).closed(), 1);
  EXPECT_EQ(f.rows(1).still_there(), 1);
}

// Issue 10: money paid into a plan is recovered (its interest too), and a
// case is not cured or closed while its plan still runs.
TEST_P(ReportServiceTest, PlanPaymentsAreRecoveredAndTheCaseEndsWithThePlan) {
  Import({Row("G", 120, 30'000 * CNY)});  // severe
  v1::ProposePlanRequest propose;
  propose.set_case_id(CaseId("G"));
  propose.set_kind(v1::PLAN_KIND_RESTRUCTURING);
  propose.set_periods(12);
  propose.set_new_rate_basis_points(2400);
  *propose.mutable_first_due_date() = DayToProto(kDay0 + 10);
  propose.set_request_id("plan-G");
  v1::ProposePlanResponse proposed;
  grpc::Status s = plans_->ProposePlan(ContextAs("alice", "agent").get(), propose, &proposed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const v1::Plan& plan = proposed.plan();
  ASSERT_EQ(plan.total_fen(), 33'900 * CNY);  // 30,000 of arrears, 3,900 of interest
  v1::ApprovePlanRequest approve;
  approve.set_plan_id(plan.plan_id());
  v1::ApprovePlanResponse approved;
  s = plans_->ApprovePlan(ContextAs("bob", "agent").get(), approve, &approved);
  ASSERT_TRUE(s.ok()) << s.error_message();
  int64_t paid = 0;
  for (int n = 0; n < 11; ++n) {
    Pay("G", absl::StrCat("G-", n + 1), plan.instalments(n).amount_fen());
    paid += plan.instalments(n).amount_fen();
  }
  ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 1));
  v1::ReportRequest r;
  *r.mutable_from() = DayToProto(kDay0);
  *r.mutable_to() = DayToProto(kDay0 + 1);
  v1::EffectivenessReport eff;
  CALL(StrategyEffectiveness, r, &eff);
  EXPECT_EQ(eff.totals().recovered_fen(), paid);  // 31,350.00: more than the arrears
  EXPECT_EQ(eff.totals().cured(), 0);
  v1::StageFunnelReport funnel;
  CALL(StageFunnel, r, &funnel);
  ASSERT_EQ(funnel.rows(2).stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(funnel.rows(2).entered(), 1);
  EXPECT_EQ(funnel.rows(2).still_there(), 1);
  EXPECT_EQ(funnel.rows(2).closed(), 0);

  // The 12th instalment is the plan's interest: recovered, and it closes
  // the case as restructured.
  Pay("G", "G-12", plan.instalments(11).amount_fen());
  paid += plan.instalments(11).amount_fen();
  ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 1));
  CALL(StrategyEffectiveness, r, &eff);
  EXPECT_EQ(eff.totals().recovered_fen(), 33'900 * CNY);
  EXPECT_EQ(paid, 33'900 * CNY);
  EXPECT_EQ(eff.totals().cured(), 0);  // closed as restructured, not cured
  EXPECT_EQ(eff.totals().unallocated_fen(), 0);
  CALL(StageFunnel, r, &funnel);
  EXPECT_EQ(funnel.rows(2).still_there(), 0);
  EXPECT_EQ(funnel.rows(2).closed(), 1);

  // Issue 10: 120.00 CNY posted after the case closed is shown apart from
  // what was recovered, never in it; and an overpayment the same way.
  Pay("G", "G-LATE", 120 * CNY);
  Import({Row("H", 10, 1'000 * CNY)});
  Pay("H", "H-1", 1'050 * CNY);  // cures H, 50.00 beyond what is owed
  ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 1));
  CALL(StrategyEffectiveness, r, &eff);
  EXPECT_EQ(eff.totals().recovered_fen(), 33'900 * CNY + 1'000 * CNY);
  EXPECT_EQ(eff.totals().unallocated_fen(), 170 * CNY);
  EXPECT_EQ(eff.totals().cured(), 1);  // H only; G's late payment cures nothing
  int64_t rows_recovered = 0, rows_unallocated = 0, trend_recovered = 0, trend_unallocated = 0;
  for (const auto& row : eff.rows()) {
    rows_recovered += row.recovered_fen();
    rows_unallocated += row.unallocated_fen();
  }
  for (const auto& p : eff.trend()) {
    trend_recovered += p.recovered_fen();
    trend_unallocated += p.unallocated_fen();
  }
  EXPECT_EQ(rows_recovered, eff.totals().recovered_fen());
  EXPECT_EQ(rows_unallocated, 170 * CNY);
  EXPECT_EQ(trend_recovered, eff.totals().recovered_fen());
  EXPECT_EQ(trend_unallocated, 170 * CNY);
}

// Past 100 days a snapshot keeps its per-case rows only on the first and
// last day of a month; its summary (the portfolio) stays.
TEST_P(ReportServiceTest, OldSnapshotsKeepMonthEndsAndSummaries) {
  Import({Row("A", 10, 3'000 * CNY)});
  ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 102));
  v1::ReportRequest day0;
  *day0.mutable_to() = DayToProto(kDay0);
  v1::PortfolioReport p;
  CALL(Portfolio, day0, &p);
  EXPECT_EQ(workflow::DayFromProto(p.as_of(), "").value(), kDay0);
  EXPECT_EQ(p.cases(), 1);

  // 2026-11-29 lost its cases; 2026-11-30, a month's last day, kept them.
  v1::ReportRequest r;
  *r.mutable_from() = DayToProto(kDay0);
  v1::RollRateReport rolls;
  CALL(RollRates, r, &rolls);
  EXPECT_EQ(workflow::DayFromProto(rolls.from(), "").value(), absl::CivilDay(2026, 11, 30));
  ASSERT_EQ(rolls.cells_size(), 1);
  EXPECT_EQ(rolls.cells(0).from_bucket(), "1-30");
  EXPECT_EQ(rolls.cells(0).to_bucket(), "91-180");
}

}  // namespace
}  // namespace collections::report_test
