// ReportService through real gRPC on SQLite and PostgreSQL, against a small
// portfolio whose every figure is computed by hand below: six cases opened
// on 2026-11-29 and driven for a week by tasks, payments, a promise, a plan
// with a waiver and aging. Each rate's numerator and denominator is checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/plan_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "workflow/dates.h"

namespace collections {
namespace {

using ::testing::HasSubstr;
using workflow::DayToProto;

constexpr int64_t CNY = 100;
const absl::CivilDay kDay0(2026, 11, 29);  // the fixture's first business date
const absl::CivilDay kDay6 = kDay0 + 6;

// A feed row: `dpd` days past due on kDay0, `overdue` split 10% penalty,
// 20% interest, the rest principal; 600,000 CNY outstanding.
v1::DelinquencyRecord Row(const std::string& loan, int dpd, int64_t overdue,
                          const std::string& product = "mortgage-30y") {
  v1::DelinquencyRecord r;
  r.set_loan_id(loan);
  *r.mutable_as_of() = DayToProto(kDay0);
  *r.mutable_oldest_unpaid_due_date() = DayToProto(kDay0 - dpd);
  r.mutable_borrower()->set_borrower_id("B-" + loan);
  r.mutable_borrower()->set_name("Li Lei");
  r.mutable_borrower()->add_phones("+86 139 0000 0000");
  r.mutable_borrower()->set_address("8 Nanjing Rd, Shanghai");
  r.mutable_borrower()->set_region("SH");
  r.set_product(product);
  r.set_principal_outstanding_fen(600'000 * CNY);
  r.mutable_overdue()->set_penalty_fen(overdue / 10);
  r.mutable_overdue()->set_interest_fen(overdue / 5);
  r.mutable_overdue()->set_principal_fen(overdue - overdue / 10 - overdue / 5);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  return r;
}

v1::TaskOutcome Sms() {
  v1::TaskOutcome o;
  o.mutable_sms()->set_delivered(true);
  o.mutable_sms()->set_gateway_reference("gw");
  return o;
}

class ReportServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cases_ = v1::CaseService::NewStub(channel_);
    tasks_ = v1::TaskService::NewStub(channel_);
    plans_ = v1::PlanService::NewStub(channel_);
    reports_ = v1::ReportService::NewStub(channel_);
  }

  void Import(const std::vector<v1::DelinquencyRecord>& rows) {
    auto context = Context();
    v1::ImportDelinquenciesResponse response;
    auto writer = cases_->ImportDelinquencies(context.get(), &response);
    for (const auto& r : rows) {
      v1::ImportDelinquenciesRequest request;
      *request.mutable_record() = r;
      ASSERT_TRUE(writer->Write(request));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }

  int64_t CaseId(const std::string& loan) {
    auto context = Context();
    v1::GetCaseRequest request;
    request.set_loan_id(loan);
    v1::GetCaseResponse out;
    EXPECT_TRUE(cases_->GetCase(context.get(), request, &out).ok()) << loan;
    return out.case_().case_id();
  }

  // Runs the business date up to `to` (again, for the current date: that
  // re-takes its snapshot), the fake clock along with it.
  void AdvanceTo(absl::CivilDay to) {
    clock_->Advance(absl::Hours(24) * (to - date_));
    date_ = to;
    auto context = Context(absl::Seconds(120));
    v1::AdvanceBusinessDateRequest request;
    *request.mutable_to() = DayToProto(to);
    v1::AdvanceBusinessDateResponse response;
    grpc::Status s = cases_->AdvanceBusinessDate(context.get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Claims `queue` as `worker`; keeps the task of `loan`, releases others.
  v1::Task Claim(const std::string& queue, const std::string& loan, const std::string& worker) {
    const int64_t case_id = CaseId(loan);
    auto context = Context();
    v1::ClaimTasksRequest request;
    request.set_worker_id(worker);
    request.add_queues(queue);
    request.set_max_tasks(100);
    v1::ClaimTasksResponse out;
    grpc::Status s = tasks_->ClaimTasks(context.get(), request, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::Task found;
    for (const v1::Task& t : out.tasks()) {
      if (t.case_id() == case_id && found.task_id() == 0) {
        found = t;
        continue;
      }
      auto release_context = Context();
      v1::ReleaseTaskRequest release;
      release.set_task_id(t.task_id());
      release.set_lease_token(t.lease_token());
      v1::ReleaseTaskResponse ignored;
      EXPECT_TRUE(tasks_->ReleaseTask(release_context.get(), release, &ignored).ok());
    }
    EXPECT_NE(found.task_id(), 0) << "no task of " << loan << " in " << queue;
    return found;
  }

  void Complete(const v1::Task& task, const v1::TaskOutcome& outcome) {
    auto context = Context();
    v1::CompleteTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_token(task.lease_token());
    request.set_request_id(absl::StrCat("r", task.task_id()));
    *request.mutable_outcome() = outcome;
    v1::CompleteTaskResponse out;
    grpc::Status s = tasks_->CompleteTask(context.get(), request, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void Pay(const std::string& loan, const std::string& id, int64_t fen) {
    auto context = Context();
    v1::RecordPaymentRequest request;
    request.set_loan_id(loan);
    request.mutable_payment()->set_payment_id(id);
    request.mutable_payment()->set_amount_fen(fen);
    v1::RecordPaymentResponse response;
    grpc::Status s = cases_->RecordPayment(context.get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void Signal(const std::string& loan, const v1::Signal& signal) {
    auto context = Context();
    v1::SignalCaseRequest request;
    request.set_case_id(CaseId(loan));
    *request.mutable_signal() = signal;
    v1::SignalCaseResponse out;
    grpc::Status s = cases_->SignalCase(context.get(), request, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& who) {
    auto context = Context();
    context->AddMetadata("collections-actor", who);
    context->AddMetadata("collections-role", "agent");
    return context;
  }

  // The week of the portfolio; every report figure below follows from it.
  void RunTheWeek() {
    // Day 0. A, B mild (reminder); C moderate by days, D moderate by
    // amount (counselling); E, F severe (legal action), F another product.
    Import({Row("A", 10, 3'000 * CNY), Row("B", 20, 4'000 * CNY), Row("C", 45, 3'000 * CNY),
            Row("D", 5, 10'000 * CNY), Row("E", 120, 30'000 * CNY),
            Row("F", 200, 25'000 * CNY, "consumer")});

    Complete(Claim("sms", "A", "gw-sms"), Sms());
    Complete(Claim("sms", "B", "gw-sms"), Sms());

    // Counselling: C reached (reason, promise of 1,000); D not reached. Each
    // call takes 90 s from claim to completion.
    {
      v1::Task c = Claim("call.counselling", "C", "agent-li");
      clock_->Advance(absl::Seconds(90));
      v1::TaskOutcome o;
      v1::CallOutcome& call = *o.mutable_call();
      call.set_result(v1::CALL_RESULT_REACHED);
      call.set_right_party_contact(true);
      call.set_overdue_reason(v1::OVERDUE_REASON_UNEMPLOYMENT);
      call.mutable_promise()->set_amount_fen(1'000 * CNY);
      *call.mutable_promise()->mutable_due_date() = DayToProto(kDay0 + 1);
      Complete(c, o);
      v1::Task d = Claim("call.counselling", "D", "agent-li");
      clock_->Advance(absl::Seconds(90));
      v1::TaskOutcome no_answer;
      no_answer.mutable_call()->set_result(v1::CALL_RESULT_NO_ANSWER);
      Complete(d, no_answer);
    }

    // E: visited (met, illness), then a legal letter sent.
    {
      v1::TaskOutcome visit;
      visit.mutable_visit()->set_result(v1::VISIT_RESULT_MET);
      visit.mutable_visit()->set_overdue_reason(v1::OVERDUE_REASON_ILLNESS);
      Complete(Claim("field", "E", "field-wang"), visit);
      v1::TaskOutcome letter;
      letter.mutable_letter()->set_sent(true);
      letter.mutable_letter()->set_reference("EMS-1");
      Complete(Claim("letters", "E", "letters-bot"), letter);
    }

    Pay("C", "P-C", 1'000 * CNY);  // keeps C's promise
    Pay("A", "P-A", 3'000 * CNY);  // cures A

    // E: a catch-up plan with 1,000 of penalty interest waived.
    {
      v1::ProposePlanRequest propose;
      propose.set_case_id(CaseId("E"));
      propose.set_kind(v1::PLAN_KIND_CATCH_UP);
      propose.set_periods(3);
      propose.set_waiver_fen(1'000 * CNY);
      *propose.mutable_first_due_date() = DayToProto(kDay0 + 10);
      v1::ProposePlanResponse proposed;
      grpc::Status s = plans_->ProposePlan(As("alice").get(), propose, &proposed);
      ASSERT_TRUE(s.ok()) << s.error_message();
      v1::ApprovePlanRequest approve;
      approve.set_plan_id(proposed.plan().plan_id());
      v1::ApprovePlanResponse approved;
      s = plans_->ApprovePlan(As("bob").get(), approve, &approved);
      ASSERT_TRUE(s.ok()) << s.error_message();
      ASSERT_EQ(approved.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
    }

    // Day 1: B promises 500 for day 2 by phone banking (a signal, no task)
    // and breaks it.
    ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 1));
    v1::Signal promise;
    promise.mutable_promise_to_pay()->set_amount_fen(500 * CNY);
    *promise.mutable_promise_to_pay()->mutable_due_date() = DayToProto(kDay0 + 2);
    Signal("B", promise);

    // Day 6: D pays in full; the day's snapshot is taken again after it.
    ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay6));
    Pay("D", "P-D", 10'000 * CNY);
    ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay6));

    // F asks not to be contacted; its visit is then held back at claim.
    v1::Signal cease;
    cease.mutable_cease_contact()->set_reason("asked");
    Signal("F", cease);
    auto context = Context();
    v1::ClaimTasksRequest claim;
    claim.set_worker_id("field-wang");
    claim.add_queues("field");
    claim.set_max_tasks(10);
    v1::ClaimTasksResponse none;
    ASSERT_TRUE(tasks_->ClaimTasks(context.get(), claim, &none).ok());
    ASSERT_EQ(none.tasks_size(), 0);
  }

  v1::ReportRequest Week() const {
    v1::ReportRequest r;
    *r.mutable_from() = DayToProto(kDay0);
    *r.mutable_to() = DayToProto(kDay6);
    return r;
  }

  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
  std::unique_ptr<v1::PlanService::Stub> plans_;
  std::unique_ptr<v1::ReportService::Stub> reports_;
  absl::CivilDay date_ = kDay0;
};

#define CALL(method, request, out)                                 \
  do {                                                             \
    auto ctx_ = Context();                                         \
    grpc::Status s_ = reports_->method(ctx_.get(), request, out);  \
    ASSERT_TRUE(s_.ok()) << #method << ": " << s_.error_message(); \
  } while (0)

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
  v1::ProposePlanResponse proposed;
  grpc::Status s = plans_->ProposePlan(As("alice").get(), propose, &proposed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const v1::Plan& plan = proposed.plan();
  ASSERT_EQ(plan.total_fen(), 33'900 * CNY);  // 30,000 of arrears, 3,900 of interest
  v1::ApprovePlanRequest approve;
  approve.set_plan_id(plan.plan_id());
  v1::ApprovePlanResponse approved;
  s = plans_->ApprovePlan(As("bob").get(), approve, &approved);
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

COLLECTIONS_INSTANTIATE_BACKENDS(ReportServiceTest);

}  // namespace
}  // namespace collections
