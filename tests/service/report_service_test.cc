// ReportService through real gRPC on SQLite and PostgreSQL: every figure of
// the hand-computed week (report_service_fixture.h), each rate's numerator
// and denominator checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/service/report_service_fixture.h"

namespace collections::report_test {
namespace {

using workflow::DayToProto;

TEST_P(ReportServiceTest, FiguresOfAHandComputedWeek) {
  ASSERT_NO_FATAL_FAILURE(RunTheWeek());

  // --- Portfolio on day 6: B, C, E, F open; A and D cured.
  {
    v1::PortfolioReport p;
    CALL(Portfolio, v1::ReportRequest(), &p);
    EXPECT_EQ(workflow::DayFromProto(p.as_of(), "").value(), kDay6);
    struct Cell {
      v1::CaseClass c;
      v1::Stage s;
      std::string bucket;
      int64_t cases, overdue;
    };
    const std::vector<Cell> want = {
        {v1::CASE_CLASS_MILD, v1::STAGE_REMINDER, "1-30", 1, 4'000 * CNY},             // B, 26 dpd
        {v1::CASE_CLASS_MODERATE, v1::STAGE_COUNSELLING, "31-60", 1, 2'000 * CNY},     // C, 51 dpd
        {v1::CASE_CLASS_SEVERE, v1::STAGE_REPAYMENT_PLAN, "91-180", 1, 29'000 * CNY},  // E
        {v1::CASE_CLASS_SEVERE, v1::STAGE_LEGAL_ACTION, "180+", 1, 25'000 * CNY},      // F
    };
    ASSERT_EQ(p.cells_size(), static_cast<int>(want.size())) << p.DebugString();
    for (size_t i = 0; i < want.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(p.cells(i).case_class(), want[i].c);
      EXPECT_EQ(p.cells(i).stage(), want[i].s);
      EXPECT_EQ(p.cells(i).dpd_bucket(), want[i].bucket);
      EXPECT_EQ(p.cells(i).cases(), want[i].cases);
      EXPECT_EQ(p.cells(i).overdue_fen(), want[i].overdue);
      EXPECT_EQ(p.cells(i).principal_outstanding_fen(), 600'000 * CNY);
    }
    EXPECT_EQ(p.cases(), 4);
    EXPECT_EQ(p.overdue_fen(), 60'000 * CNY);
    EXPECT_EQ(p.principal_outstanding_fen(), 4 * 600'000 * CNY);

    // Day 0 closed with A cured, C paid 1,000 and E's 1,000 waived (the
    // run of day 1 began by running day 0 again); by product only F.
    v1::ReportRequest day0;
    *day0.mutable_to() = DayToProto(kDay0);
    CALL(Portfolio, day0, &p);
    EXPECT_EQ(p.cases(), 5);
    EXPECT_EQ(p.overdue_fen(), 70'000 * CNY);
    v1::ReportRequest consumer;
    consumer.set_product("consumer");
    CALL(Portfolio, consumer, &p);
    EXPECT_EQ(p.cases(), 1);
    EXPECT_EQ(p.overdue_fen(), 25'000 * CNY);
  }

  // --- Stage funnel: six opened on day 0; E moved from legal action to a
  // plan; A and D cured.
  {
    v1::StageFunnelReport f;
    CALL(StageFunnel, Week(), &f);
    ASSERT_EQ(f.rows_size(), 4);
    auto check = [&](int i, v1::Stage stage, int64_t entered, int64_t resolved, int64_t moved_on,
                     int64_t still, int64_t closed) {
      SCOPED_TRACE(v1::Stage_Name(stage));
      EXPECT_EQ(f.rows(i).stage(), stage);
      EXPECT_EQ(f.rows(i).entered(), entered);
      EXPECT_EQ(f.rows(i).resolved(), resolved);
      EXPECT_EQ(f.rows(i).moved_on(), moved_on);
      EXPECT_EQ(f.rows(i).still_there(), still);
      EXPECT_EQ(f.rows(i).closed(), closed);
    };
    check(0, v1::STAGE_REMINDER, 2, 1, 0, 1, 0);        // A cured, B there
    check(1, v1::STAGE_COUNSELLING, 2, 1, 0, 1, 0);     // D cured, C there
    check(2, v1::STAGE_REPAYMENT_PLAN, 1, 0, 0, 1, 0);  // E
    check(3, v1::STAGE_LEGAL_ACTION, 2, 0, 1, 1, 0);    // E on to a plan, F there
    EXPECT_EQ(workflow::DayFromProto(f.as_of(), "").value(), kDay6);
  }

  // --- Roll rates, close of day 0 -> close of day 6, each case tracked (A
  // was cured before day 0 closed).
  {
    v1::RollRateReport r;
    CALL(RollRates, Week(), &r);
    EXPECT_EQ(workflow::DayFromProto(r.from(), "").value(), kDay0);
    EXPECT_EQ(workflow::DayFromProto(r.to(), "").value(), kDay6);
    EXPECT_THAT(r.buckets(), ::testing::ElementsAre("current", "1-30", "31-60", "61-90", "91-180",
                                                    "180+", "resolved", "closed"));
    std::map<std::pair<std::string, std::string>, v1::RollRateCell> cells;
    for (const auto& c : r.cells()) cells[{c.from_bucket(), c.to_bucket()}] = c;
    ASSERT_EQ(cells.size(), 5u) << r.DebugString();
    // 1-30 at the start: B (4,000), D (10,000). Case roll rate to
    // "resolved" 1 / 2, amount roll rate 10,000 / 14,000.
    const auto& stay = cells.at({"1-30", "1-30"});  // B
    EXPECT_EQ(stay.cases(), 1);
    EXPECT_EQ(stay.cases_at_start(), 2);
    EXPECT_EQ(stay.overdue_fen(), 4'000 * CNY);
    EXPECT_EQ(stay.overdue_fen_at_start(), 14'000 * CNY);
    EXPECT_EQ(stay.overdue_fen_at_end(), 4'000 * CNY);
    const auto& cured = cells.at({"1-30", "resolved"});  // D
    EXPECT_EQ(cured.cases(), 1);
    EXPECT_EQ(cured.cases_at_start(), 2);
    EXPECT_EQ(cured.overdue_fen(), 10'000 * CNY);
    EXPECT_EQ(cured.overdue_fen_at_start(), 14'000 * CNY);
    EXPECT_EQ(cured.overdue_fen_at_end(), 0);
    const auto& c = cells.at({"31-60", "31-60"});  // C, 2,000 after paying 1,000
    EXPECT_EQ(c.cases(), 1);
    EXPECT_EQ(c.cases_at_start(), 1);
    EXPECT_EQ(c.overdue_fen(), 2'000 * CNY);
    EXPECT_EQ(c.overdue_fen_at_end(), 2'000 * CNY);
    EXPECT_EQ(cells.at({"91-180", "91-180"}).overdue_fen_at_end(), 29'000 * CNY);  // E
    EXPECT_EQ(cells.at({"180+", "180+"}).cases(), 1);                              // F
  }

  // --- Strategy effectiveness, window 30 days.
  {
    v1::EffectivenessReport e;
    CALL(StrategyEffectiveness, Week(), &e);
    EXPECT_EQ(e.cure_window_days(), 30);
    std::map<v1::TaskType, v1::EffectivenessRow> rows;
    for (const auto& r : e.rows()) rows[r.action()] = r;
    ASSERT_EQ(rows.size(), 5u) << e.DebugString();

    // B's promise came by a signal, not a task: kept rate 0 / (0 + 1).
    const auto& none = rows.at(v1::TASK_TYPE_UNSPECIFIED);
    EXPECT_EQ(none.case_class(), v1::CASE_CLASS_MILD);
    EXPECT_EQ(none.stage(), v1::STAGE_REMINDER);
    EXPECT_EQ(none.promises(), 1);
    EXPECT_EQ(none.promises_kept(), 0);
    EXPECT_EQ(none.promises_broken(), 1);
    EXPECT_EQ(none.tasks(), 0);
    EXPECT_EQ(none.recovered_fen(), 0);

    const auto& sms = rows.at(v1::TASK_TYPE_SMS_REMINDER);  // A and B
    EXPECT_EQ(sms.case_class(), v1::CASE_CLASS_MILD);
    EXPECT_EQ(sms.stage(), v1::STAGE_REMINDER);
    EXPECT_EQ(sms.tasks(), 2);
    EXPECT_EQ(sms.cost_fen(), 2 * 10);
    EXPECT_EQ(sms.cases(), 2);  // cure rate 1 / 2: A
    EXPECT_EQ(sms.cured(), 1);
    EXPECT_EQ(sms.contacts(), 0);
    EXPECT_EQ(sms.recovered_fen(), 3'000 * CNY);  // A's payment, last touch the SMS

    const auto& call = rows.at(v1::TASK_TYPE_COUNSELLING_CALL);  // C and D
    EXPECT_EQ(call.case_class(), v1::CASE_CLASS_MODERATE);
    EXPECT_EQ(call.stage(), v1::STAGE_COUNSELLING);
    EXPECT_EQ(call.tasks(), 2);
    EXPECT_EQ(call.cost_fen(), 2 * 800);
    EXPECT_EQ(call.cases(), 2);  // cure rate 1 / 2: D on day 6
    EXPECT_EQ(call.cured(), 1);
    EXPECT_EQ(call.contacts(), 2);  // right-party rate 1 / 2: C
    EXPECT_EQ(call.right_party_contacts(), 1);
    EXPECT_EQ(call.promises(), 1);  // kept rate 1 / (1 + 0)
    EXPECT_EQ(call.promises_kept(), 1);
    EXPECT_EQ(call.promises_broken(), 0);
    EXPECT_EQ(call.recovered_fen(), 11'000 * CNY);  // C's 1,000 and D's 10,000

    const auto& visit = rows.at(v1::TASK_TYPE_HOME_VISIT);  // E
    EXPECT_EQ(visit.case_class(), v1::CASE_CLASS_SEVERE);
    EXPECT_EQ(visit.stage(), v1::STAGE_LEGAL_ACTION);
    EXPECT_EQ(visit.cost_fen(), 5000);
    EXPECT_EQ(visit.contacts(), 1);  // met: right-party 1 / 1
    EXPECT_EQ(visit.right_party_contacts(), 1);
    EXPECT_EQ(visit.cured(), 0);

    const auto& letter = rows.at(v1::TASK_TYPE_LEGAL_LETTER);  // E, the waiver's last touch
    EXPECT_EQ(letter.cost_fen(), 2000);
    EXPECT_EQ(letter.contacts(), 0);
    EXPECT_EQ(letter.concessions_fen(), 1'000 * CNY);
    EXPECT_EQ(letter.recovered_fen(), 0);

    // Cost and benefit: 14,000 recovered for 86.20 spent.
    EXPECT_EQ(e.totals().tasks(), 6);
    EXPECT_EQ(e.totals().cost_fen(), 20 + 1600 + 5000 + 2000);
    EXPECT_EQ(e.totals().recovered_fen(), 14'000 * CNY);
    EXPECT_EQ(e.totals().concessions_fen(), 1'000 * CNY);
    EXPECT_EQ(e.totals().cured(), 2);
    EXPECT_EQ(e.totals().entered(), 6);

    // One point a day; money and cures on day 0 and day 6.
    ASSERT_EQ(e.trend_size(), 7);
    EXPECT_EQ(e.trend(0).recovered_fen(), 4'000 * CNY);
    EXPECT_EQ(e.trend(0).cured(), 1);
    EXPECT_EQ(e.trend(0).entered(), 6);
    EXPECT_EQ(e.trend(0).cost_fen(), 8620);
    EXPECT_EQ(e.trend(6).recovered_fen(), 10'000 * CNY);
    EXPECT_EQ(e.trend(6).cured(), 1);
    EXPECT_EQ(e.trend(3).recovered_fen(), 0);

    // A queue filter keeps its tasks and the money attributed to them.
    v1::ReportRequest sms_only = Week();
    sms_only.set_queue("sms");
    CALL(StrategyEffectiveness, sms_only, &e);
    ASSERT_EQ(e.rows_size(), 1);
    EXPECT_EQ(e.totals().recovered_fen(), 3'000 * CNY);
    EXPECT_EQ(e.totals().cost_fen(), 20);
  }

  // --- Overdue reasons: C (unemployment), E (illness).
  {
    v1::OverdueReasonsReport r;
    CALL(OverdueReasons, Week(), &r);
    ASSERT_EQ(r.rows_size(), 2) << r.DebugString();
    EXPECT_EQ(r.rows(0).case_class(), v1::CASE_CLASS_MODERATE);
    EXPECT_EQ(r.rows(0).reason(), v1::OVERDUE_REASON_UNEMPLOYMENT);
    EXPECT_EQ(r.rows(0).cases(), 1);
    EXPECT_EQ(r.rows(1).case_class(), v1::CASE_CLASS_SEVERE);
    EXPECT_EQ(r.rows(1).reason(), v1::OVERDUE_REASON_ILLNESS);
    ASSERT_EQ(r.trend_size(), 2);
    EXPECT_EQ(workflow::DayFromProto(r.trend(0).start(), "").value(), kDay0);
  }

  // --- Agents.
  {
    v1::AgentProductivityReport a;
    CALL(AgentProductivity, Week(), &a);
    std::map<std::string, v1::AgentRow> rows;
    for (const auto& r : a.rows()) rows[r.agent() + "/" + r.queue()] = r;
    ASSERT_EQ(rows.size(), 4u) << a.DebugString();
    const auto& li = rows.at("agent-li/call.counselling");
    EXPECT_EQ(li.completed(), 2);
    EXPECT_EQ(li.contacts(), 2);
    EXPECT_EQ(li.right_party_contacts(), 1);
    EXPECT_EQ(li.promises(), 1);
    EXPECT_EQ(li.promises_kept(), 1);
    EXPECT_EQ(li.recovered_fen(), 11'000 * CNY);
    EXPECT_EQ(li.handled(), 2);
    EXPECT_EQ(li.avg_handling_seconds(), 90);
    EXPECT_EQ(li.cost_fen(), 1600);
    EXPECT_EQ(rows.at("gw-sms/sms").completed(), 2);
    EXPECT_EQ(rows.at("gw-sms/sms").recovered_fen(), 3'000 * CNY);
    EXPECT_EQ(rows.at("field-wang/field").right_party_contacts(), 1);
    EXPECT_EQ(rows.at("letters-bot/letters").recovered_fen(), 0);
  }

  // --- SLA: F's letter is past its 72 h deadline; F's visit is held back.
  {
    v1::SlaReport s;
    CALL(SlaBreaches, Week(), &s);
    std::map<std::string, v1::SlaRow> rows;
    for (const auto& r : s.rows()) rows[r.queue()] = r;
    const auto& letters = rows.at("letters");
    EXPECT_EQ(letters.open(), 1);
    EXPECT_EQ(letters.past_deadline(), 1);
    EXPECT_EQ(letters.completed(), 1);
    EXPECT_EQ(letters.completed_late(), 0);
    const auto& field = rows.at("field");
    EXPECT_EQ(field.open(), 1);
    EXPECT_EQ(field.past_deadline(), 0);
    EXPECT_EQ(field.held_back(), 1);
    EXPECT_EQ(field.completed(), 1);
    EXPECT_EQ(rows.at("sms").completed(), 2);
    ASSERT_EQ(s.holds_size(), 1) << s.DebugString();
    EXPECT_EQ(s.holds(0).queue(), "field");
    EXPECT_EQ(s.holds(0).reason(), "cease contact");
    EXPECT_EQ(s.holds(0).tasks(), 1);
    EXPECT_EQ(workflow::DayFromProto(s.as_of(), "").value(), kDay6);
  }
}

COLLECTIONS_INSTANTIATE_BACKENDS(ReportServiceTest);

}  // namespace
}  // namespace collections::report_test
