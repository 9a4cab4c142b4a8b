// The ReportService tests' shared fixture: ReportServiceTest, a small
// portfolio whose every figure is computed by hand (six cases opened on
// 2026-11-29 and driven for a week by RunTheWeek: tasks, payments, a
// promise, a plan with a waiver and aging), and CALL (one report call that
// must succeed). The tests: report_service_test.cc (the week's figures) and
// report_periods_test.cc (periods, live and snapshot dates, roll rates,
// plan recoveries, snapshot retention).
#ifndef COLLECTIONS_TESTS_SERVICE_REPORT_SERVICE_FIXTURE_H_
#define COLLECTIONS_TESTS_SERVICE_REPORT_SERVICE_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/plan_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"

namespace collections::report_test {

using testing::CNY;

inline const absl::CivilDay kDay0 = testing::kToday;  // the fixture's first business date
inline const absl::CivilDay kDay6 = kDay0 + 6;

// A feed row: `dpd` days past due on kDay0, `overdue` split 10% penalty,
// 20% interest, the rest principal; 600,000 CNY outstanding.
inline v1::DelinquencyRecord Row(const std::string& loan, int dpd, int64_t overdue,
                                 const std::string& product = "mortgage-30y") {
  v1::DelinquencyRecord r = testing::FeedRecord(loan, dpd, overdue, kDay0);
  r.set_product(product);
  r.set_principal_outstanding_fen(600'000 * CNY);
  return r;
}

inline v1::TaskOutcome Sms() {
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
    // The figures below count on the first day's snapshot, which the
    // start-up catch-up takes in the background after the port listens.
    ASSERT_TRUE(server_->WaitForCatchUp(absl::Seconds(60)));
    cases_ = v1::CaseService::NewStub(channel_);
    tasks_ = v1::TaskService::NewStub(channel_);
    plans_ = v1::PlanService::NewStub(channel_);
    reports_ = v1::ReportService::NewStub(channel_);
  }

  void Import(const std::vector<v1::DelinquencyRecord>& rows) {
    v1::ImportDelinquenciesResponse response;
    ASSERT_TRUE(testing::ImportRecords(*cases_, rows, &response).ok());
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }

  int64_t CaseId(const std::string& loan) {
    v1::GetCaseResponse out;
    EXPECT_TRUE(testing::GetCaseFile(*cases_, loan, &out).ok()) << loan;
    return out.case_().case_id();
  }

  // Runs the business date up to `to` (again, for the current date: that
  // re-takes its snapshot), the fake clock along with it.
  void AdvanceTo(absl::CivilDay to) {
    clock_->Advance(absl::Hours(24) * (to - date_));
    date_ = to;
    v1::AdvanceBusinessDateResponse response;
    grpc::Status s = testing::AdvanceBusinessDate(*cases_, to, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Claims `queue` as `worker`; keeps the task of `loan`, releases others.
  v1::Task Claim(const std::string& queue, const std::string& loan, const std::string& worker) {
    return testing::ClaimTaskOfCase(*tasks_, worker, queue, CaseId(loan));
  }

  void Complete(const v1::Task& task, const v1::TaskOutcome& outcome) {
    v1::CompleteTaskResponse out;
    grpc::Status s =
        testing::CompleteTask(*tasks_, task, outcome, absl::StrCat("r", task.task_id()), &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void Pay(const std::string& loan, const std::string& id, int64_t fen) {
    v1::RecordPaymentResponse response;
    grpc::Status s = testing::RecordPayment(*cases_, loan, id, fen, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void Signal(const std::string& loan, const v1::Signal& signal) {
    v1::SignalCaseResponse out;
    grpc::Status s = testing::SignalCase(*cases_, CaseId(loan), signal, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
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
      *call.mutable_promise()->mutable_due_date() = workflow::DayToProto(kDay0 + 1);
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
      *propose.mutable_first_due_date() = workflow::DayToProto(kDay0 + 10);
      propose.set_request_id("plan-E");
      v1::ProposePlanResponse proposed;
      grpc::Status s = plans_->ProposePlan(ContextAs("alice", "agent").get(), propose, &proposed);
      ASSERT_TRUE(s.ok()) << s.error_message();
      v1::ApprovePlanRequest approve;
      approve.set_plan_id(proposed.plan().plan_id());
      v1::ApprovePlanResponse approved;
      s = plans_->ApprovePlan(ContextAs("bob", "agent").get(), approve, &approved);
      ASSERT_TRUE(s.ok()) << s.error_message();
      ASSERT_EQ(approved.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
    }

    // Day 1: B promises 500 for day 2 by phone banking (a signal, no task)
    // and breaks it.
    ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + 1));
    v1::Signal promise;
    promise.mutable_promise_to_pay()->set_amount_fen(500 * CNY);
    *promise.mutable_promise_to_pay()->mutable_due_date() = workflow::DayToProto(kDay0 + 2);
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
    *r.mutable_from() = workflow::DayToProto(kDay0);
    *r.mutable_to() = workflow::DayToProto(kDay6);
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

}  // namespace collections::report_test

#endif  // COLLECTIONS_TESTS_SERVICE_REPORT_SERVICE_FIXTURE_H_
