// PlanService through real gRPC on SQLite and PostgreSQL: each plan kind
// proposed and approved, payments that keep it, a missed instalment that
// breaks it, a completed plan; maker-checker and concession limits; bad
// proposals that write nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/plan_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"

namespace collections {
namespace {

using testing::CNY;
using ::testing::HasSubstr;
using testing::kToday;
using workflow::DayToProto;

class PlanServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cases_ = v1::CaseService::NewStub(channel_);
    plans_ = v1::PlanService::NewStub(channel_);
  }

  // A case `dpd` days past due with `overdue` CNY, 10% of it penalty.
  int64_t Open(const std::string& loan, int dpd, int64_t overdue_cny,
               int64_t principal_outstanding_cny = 300'000) {
    v1::DelinquencyRecord r;
    r.set_loan_id(loan);
    *r.mutable_as_of() = DayToProto(kToday);
    *r.mutable_oldest_unpaid_due_date() = DayToProto(kToday - dpd);
    r.mutable_borrower()->set_borrower_id("B-" + loan);
    r.mutable_borrower()->set_name("Wang Wu");
    r.set_principal_outstanding_fen(principal_outstanding_cny * CNY);
    r.mutable_overdue()->set_penalty_fen(overdue_cny * CNY / 10);
    r.mutable_overdue()->set_interest_fen(overdue_cny * CNY / 10);
    r.mutable_overdue()->set_principal_fen(overdue_cny * CNY * 8 / 10);
    v1::ImportDelinquenciesResponse response;
    EXPECT_TRUE(testing::ImportRecords(*cases_, {r}, &response).ok());
    EXPECT_EQ(response.opened(), 1);
    return Case(loan).case_().case_id();
  }

  v1::GetCaseResponse Case(const std::string& loan) {
    v1::GetCaseResponse out;
    EXPECT_TRUE(testing::GetCaseFile(*cases_, loan, &out).ok());
    return out;
  }

  grpc::Status Propose(const v1::ProposePlanRequest& request, v1::Plan* out,
                       const std::string& who = "alice") {
    v1::ProposePlanResponse response;
    v1::ProposePlanRequest sent = request;
    if (sent.request_id().empty()) sent.set_request_id(testing::FreshRequestId());
    grpc::Status s = plans_->ProposePlan(ContextAs(who, "agent").get(), sent, &response);
    *out = response.plan();
    return s;
  }

  grpc::Status Approve(int64_t plan_id, const std::string& who, const std::string& role,
                       v1::ApprovePlanResponse* out) {
    v1::ApprovePlanRequest request;
    request.set_plan_id(plan_id);
    return plans_->ApprovePlan(ContextAs(who, role).get(), request, out);
  }

  v1::ProposePlanRequest Request(int64_t case_id, v1::PlanKind kind, int periods) {
    v1::ProposePlanRequest r;
    r.set_case_id(case_id);
    r.set_kind(kind);
    r.set_periods(periods);
    *r.mutable_first_due_date() = DayToProto(kToday + 10);
    return r;
  }

  v1::RecordPaymentResponse Pay(const std::string& loan, const std::string& id, int64_t fen) {
    v1::RecordPaymentResponse response;
    grpc::Status s = testing::RecordPayment(*cases_, loan, id, fen, &response);
    EXPECT_TRUE(s.ok()) << id << ": " << s.error_message();
    return response;
  }

  static int InstalmentsPaid(const v1::Plan& plan) {
    int n = 0;
    for (const auto& i : plan.instalments()) n += i.paid_fen() == i.amount_fen();
    return n;
  }

  void Advance(absl::CivilDay to) {
    v1::AdvanceBusinessDateResponse response;
    grpc::Status s = testing::AdvanceBusinessDate(*cases_, to, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  // Core banking's overdue position for `loan` as of the business date `as_of`:
  // `overdue_fen` overdue, the oldest unpaid instalment `dpd` days before.
  void ImportPosition(const std::string& loan, absl::CivilDay as_of, int dpd, int64_t overdue_fen) {
    v1::DelinquencyRecord r;
    r.set_loan_id(loan);
    *r.mutable_as_of() = DayToProto(as_of);
    *r.mutable_oldest_unpaid_due_date() = DayToProto(as_of - dpd);
    r.mutable_borrower()->set_borrower_id("B-" + loan);
    r.mutable_borrower()->set_name("Wang Wu");
    r.set_principal_outstanding_fen(300'000 * CNY);
    r.mutable_overdue()->set_principal_fen(overdue_fen);
    v1::ImportDelinquenciesResponse response;
    grpc::Status s = testing::ImportRecords(*cases_, {r}, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.rejected(), 0) << response.DebugString();
  }

  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::PlanService::Stub> plans_;
};

TEST_P(PlanServiceTest, CatchUpPlanKeptByPaymentsCompletesAndResolves) {
  const int64_t id = Open("CU", 45, 6000);  // moderate: counselling
  v1::Plan plan;
  ASSERT_TRUE(Propose(Request(id, v1::PLAN_KIND_CATCH_UP, 3), &plan).ok());
  EXPECT_EQ(plan.state(), v1::PLAN_STATE_PROPOSED);
  EXPECT_EQ(plan.total_fen(), 6000 * CNY);
  EXPECT_EQ(Case("CU").case_().stage(), v1::STAGE_COUNSELLING);

  v1::ApprovePlanResponse approved;
  ASSERT_TRUE(Approve(plan.plan_id(), "bob", "agent", &approved).ok());
  EXPECT_EQ(approved.plan().state(), v1::PLAN_STATE_APPROVED);
  EXPECT_EQ(approved.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(approved.case_().active_plan_id(), plan.plan_id());

  // Each instalment paid on time: the plan holds through its due dates.
  Pay("CU", "I1", 2000 * CNY);
  Advance(kToday + 10 + 6 + 1);  // past instalment 1 and its grace
  EXPECT_EQ(Case("CU").case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  Pay("CU", "I2", 2000 * CNY);
  Pay("CU", "I3", 2000 * CNY);
  v1::GetCaseResponse file = Case("CU");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_RESOLVED);
  ASSERT_EQ(file.plans_size(), 1);
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_COMPLETED);
  EXPECT_EQ(file.plans(0).instalments(2).paid_fen(), 2000 * CNY);
}

TEST_P(PlanServiceTest, MissedInstalmentBreaksThePlanAndTheHistoryStays) {
  const int64_t id = Open("MISS", 40, 6000);
  v1::Plan plan;
  ASSERT_TRUE(Propose(Request(id, v1::PLAN_KIND_TERM_EXTENSION, 24), &plan).ok());
  v1::ApprovePlanResponse approved;
  ASSERT_TRUE(Approve(plan.plan_id(), "bob", "agent", &approved).ok());
  Advance(kToday + 10 + 5);  // due date plus grace: not yet broken
  EXPECT_EQ(Case("MISS").case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  Advance(kToday + 10 + 6);
  v1::GetCaseResponse file = Case("MISS");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(file.case_().active_plan_id(), 0);
  ASSERT_EQ(file.plans_size(), 1);
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_BROKEN);
  bool broken_event = false;
  for (const auto& e : file.events()) broken_event |= e.has_plan_broken();
  EXPECT_TRUE(broken_event);
}

TEST_P(PlanServiceTest, RestructuringCompletesAndClosesTheCase) {
  const int64_t id = Open("RS", 120, 30'000);  // severe
  v1::ProposePlanRequest r = Request(id, v1::PLAN_KIND_RESTRUCTURING, 2);
  r.set_new_rate_basis_points(600);
  v1::Plan plan;
  ASSERT_TRUE(Propose(r, &plan).ok());
  v1::ApprovePlanResponse approved;
  ASSERT_TRUE(Approve(plan.plan_id(), "sue", "supervisor", &approved).ok());
  EXPECT_EQ(approved.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  // The schedule pays more than the arrears (interest): the plan, not the
  // arrears, decides completion.
  Pay("RS", "R1", plan.instalments(0).amount_fen());
  EXPECT_EQ(Case("RS").case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  Pay("RS", "R2", plan.instalments(1).amount_fen());
  v1::GetCaseResponse file = Case("RS");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_CLOSED);
  EXPECT_EQ(file.case_().close_reason(), v1::CLOSE_REASON_RESTRUCTURED);
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_COMPLETED);
}

// Issue 10: a term extension covers the arrears, not the principal not yet
// due, and its first instalment does not end it.
TEST_P(PlanServiceTest, TermExtensionRunsUntilItsLastInstalment) {
  // 1,000,000.00 CNY principal outstanding, 6,000.00 overdue, 45 dpd.
  const int64_t id = Open("TE", 45, 6000, 1'000'000);
  v1::Plan plan;
  ASSERT_TRUE(Propose(Request(id, v1::PLAN_KIND_TERM_EXTENSION, 24), &plan).ok());
  EXPECT_EQ(plan.total_fen(), 6000 * CNY);
  ASSERT_EQ(plan.instalments_size(), 24);
  EXPECT_EQ(plan.instalments(0).amount_fen(), 250 * CNY);
  EXPECT_EQ(plan.instalments(23).amount_fen(), 250 * CNY);
  v1::ApprovePlanResponse approved;
  ASSERT_TRUE(Approve(plan.plan_id(), "bob", "agent", &approved).ok());
  EXPECT_EQ(approved.case_().active_plan_outstanding_fen(), 6000 * CNY);

  // The first instalment on its due date.
  Advance(kToday + 10);
  v1::RecordPaymentResponse first = Pay("TE", "TE-1", 250 * CNY);
  EXPECT_EQ(first.payment().plan_fen(), 250 * CNY);
  EXPECT_EQ(first.payment().unallocated_fen(), 0);
  EXPECT_EQ(first.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  v1::GetCaseResponse file = Case("TE");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(file.case_().overdue().penalty_fen() + file.case_().overdue().interest_fen() +
                file.case_().overdue().principal_fen(),
            5750 * CNY);
  EXPECT_EQ(file.case_().active_plan_outstanding_fen(), 5750 * CNY);
  EXPECT_EQ(file.case_().unallocated_fen(), 0);
  ASSERT_EQ(file.plans_size(), 1);
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_APPROVED);
  EXPECT_EQ(InstalmentsPaid(file.plans(0)), 1);

  // Instalment 2 is taken; so are the rest, and the last one cures the case.
  v1::RecordPaymentResponse second = Pay("TE", "TE-2", 250 * CNY);
  EXPECT_EQ(second.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  for (int n = 3; n <= 23; ++n) Pay("TE", absl::StrCat("TE-", n), 250 * CNY);
  file = Case("TE");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(InstalmentsPaid(file.plans(0)), 23);
  v1::RecordPaymentResponse last = Pay("TE", "TE-24", 250 * CNY);
  EXPECT_EQ(last.case_().stage(), v1::STAGE_RESOLVED);
  EXPECT_EQ(last.case_().close_reason(), v1::CLOSE_REASON_CURED);
  file = Case("TE");
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_COMPLETED);
  EXPECT_EQ(InstalmentsPaid(file.plans(0)), 24);
  EXPECT_EQ(file.case_().paid_total_fen(), 6000 * CNY);
}

// Issue 10: a 12-month restructuring closes the case only after the 12th
// instalment, so that the interest at the new rate is collected.
TEST_P(PlanServiceTest, RestructuringClosesOnlyAfterTheTwelfthInstalment) {
  const int64_t id = Open("RS12", 120, 30'000);  // severe
  v1::ProposePlanRequest r = Request(id, v1::PLAN_KIND_RESTRUCTURING, 12);
  r.set_new_rate_basis_points(2400);
  v1::Plan plan;
  ASSERT_TRUE(Propose(r, &plan).ok());
  // 2,500.00 a month plus interest on what is still owed: 3,100.00,
  // 3,050.00, ... 2,550.00; 33,900.00 in all.
  EXPECT_EQ(plan.total_fen(), 33'900 * CNY);
  v1::ApprovePlanResponse approved;
  ASSERT_TRUE(Approve(plan.plan_id(), "sue", "supervisor", &approved).ok());
  int64_t paid = 0;
  for (int n = 0; n < 11; ++n) {
    v1::RecordPaymentResponse p =
        Pay("RS12", absl::StrCat("RS-", n + 1), plan.instalments(n).amount_fen());
    EXPECT_EQ(p.case_().stage(), v1::STAGE_REPAYMENT_PLAN) << "instalment " << n + 1;
    EXPECT_EQ(p.payment().unallocated_fen(), 0);
    paid += plan.instalments(n).amount_fen();
  }
  v1::GetCaseResponse file = Case("RS12");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(file.case_().overdue().principal_fen() + file.case_().overdue().interest_fen() +
                file.case_().overdue().penalty_fen(),
            0);  // the arrears are paid; the plan's interest is not
  EXPECT_EQ(InstalmentsPaid(file.plans(0)), 11);
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_APPROVED);

  v1::RecordPaymentResponse last = Pay("RS12", "RS-12", plan.instalments(11).amount_fen());
  EXPECT_EQ(last.payment().plan_fen(), plan.instalments(11).amount_fen());
  EXPECT_EQ(last.payment().unallocated_fen(), 0);
  EXPECT_EQ(last.case_().stage(), v1::STAGE_CLOSED);
  EXPECT_EQ(last.case_().close_reason(), v1::CLOSE_REASON_RESTRUCTURED);
  file = Case("RS12");
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_COMPLETED);
  EXPECT_EQ(InstalmentsPaid(file.plans(0)), 12);
  EXPECT_EQ(file.case_().paid_total_fen(), paid + plan.instalments(11).amount_fen());
}

// Issue 10: new arrears reported while a plan runs are still overdue when
// its last instalment is paid. The plan is COMPLETED; the case is not cured
// (nor closed as restructured): it goes where its classification calls for,
// as after a broken plan.
TEST_P(PlanServiceTest, APlanCompletedWithNewArrearsDoesNotCureTheCase) {
  // A moderate case in a catch-up plan: 6,000.00 in three 2,000.00
  // instalments. After the first, core banking reports 5,500.00 overdue,
  // 30 days past due: the plan's 4,000.00 and 1,500.00 of new arrears.
  const int64_t id = Open("NEWARR", 45, 6000);
  v1::Plan plan;
  ASSERT_TRUE(Propose(Request(id, v1::PLAN_KIND_CATCH_UP, 3), &plan).ok());
  v1::ApprovePlanResponse approved;
  ASSERT_TRUE(Approve(plan.plan_id(), "bob", "agent", &approved).ok());
  Pay("NEWARR", "NA-1", 2000 * CNY);
  Advance(kToday + 35);
  ImportPosition("NEWARR", kToday + 35, 30, 5500 * CNY);
  EXPECT_EQ(Case("NEWARR").case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  Pay("NEWARR", "NA-2", 2000 * CNY);
  v1::RecordPaymentResponse last = Pay("NEWARR", "NA-3", 2000 * CNY);
  EXPECT_EQ(last.case_().stage(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(last.case_().close_reason(), v1::CLOSE_REASON_UNSPECIFIED);
  EXPECT_EQ(last.case_().active_plan_id(), 0);
  v1::GetCaseResponse file = Case("NEWARR");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_COUNSELLING);
  const v1::OverdueAmounts& o = file.case_().overdue();
  EXPECT_EQ(o.principal_fen() + o.interest_fen() + o.penalty_fen(), 1500 * CNY);
  ASSERT_EQ(file.plans_size(), 1);
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_COMPLETED);
  EXPECT_EQ(InstalmentsPaid(file.plans(0)), 3);
  const v1::CaseEvent& completed = file.events(file.events_size() - 1);
  ASSERT_TRUE(completed.has_plan_completed());
  EXPECT_EQ(completed.stage_after(), v1::STAGE_COUNSELLING);
  EXPECT_THAT(completed.summary(),
              HasSubstr("1,500.00 CNY still overdue beyond the plan: not cured"));
  bool counselling_work = false;
  for (const auto& t : file.tasks()) {
    counselling_work |=
        t.type() == v1::TASK_TYPE_COUNSELLING_CALL && t.state() == v1::TASK_STATE_READY;
  }
  EXPECT_TRUE(counselling_work);

  // A restructuring of a severe case (120 dpd, 30,000.00): 2,000.00 of new
  // arrears after the first instalment. Its completion leaves them overdue:
  // back to legal action, not closed as restructured.
  const int64_t rs = Open("RSARR", 120, 30'000);
  v1::ProposePlanRequest r = Request(rs, v1::PLAN_KIND_RESTRUCTURING, 2);
  r.set_new_rate_basis_points(600);
  *r.mutable_first_due_date() = DayToProto(kToday + 45);  // the date is now kToday + 35
  grpc::Status s = Propose(r, &plan);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(Approve(plan.plan_id(), "sue", "supervisor", &approved).ok());
  v1::RecordPaymentResponse first = Pay("RSARR", "RA-1", plan.instalments(0).amount_fen());
  const v1::OverdueAmounts& before = first.case_().overdue();
  const int64_t overdue_then =
      before.principal_fen() + before.interest_fen() + before.penalty_fen() + 2000 * CNY;
  Advance(kToday + 60);
  ImportPosition("RSARR", kToday + 60, 180, overdue_then);
  last = Pay("RSARR", "RA-2", plan.instalments(1).amount_fen());
  EXPECT_EQ(last.case_().stage(), v1::STAGE_LEGAL_ACTION);
  EXPECT_EQ(last.case_().close_reason(), v1::CLOSE_REASON_UNSPECIFIED);
  file = Case("RSARR");
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_COMPLETED);
  const v1::OverdueAmounts& left = file.case_().overdue();
  EXPECT_EQ(left.principal_fen() + left.interest_fen() + left.penalty_fen(),
            overdue_then - plan.instalments(1).amount_fen());
  EXPECT_THAT(file.events(file.events_size() - 1).summary(),
              HasSubstr("not cured nor closed as restructured"));
}

// Issue 10: a payment core banking posts after the plan closed the case is
// recorded, held as unallocated, and leaves the case CLOSED.
TEST_P(PlanServiceTest, PaymentAfterThePlanClosedTheCaseIsHeld) {
  const int64_t id = Open("RSL", 120, 30'000);
  v1::ProposePlanRequest r = Request(id, v1::PLAN_KIND_RESTRUCTURING, 2);
  r.set_new_rate_basis_points(600);
  v1::Plan plan;
  ASSERT_TRUE(Propose(r, &plan).ok());
  v1::ApprovePlanResponse approved;
  ASSERT_TRUE(Approve(plan.plan_id(), "sue", "supervisor", &approved).ok());
  Pay("RSL", "RSL-1", plan.instalments(0).amount_fen());
  Pay("RSL", "RSL-2", plan.instalments(1).amount_fen());
  ASSERT_EQ(Case("RSL").case_().stage(), v1::STAGE_CLOSED);

  v1::RecordPaymentResponse late = Pay("RSL", "RSL-LATE", 120 * CNY);
  EXPECT_FALSE(late.duplicate());
  EXPECT_EQ(late.payment().unallocated_fen(), 120 * CNY);
  EXPECT_EQ(late.payment().plan_fen(), 0);
  v1::GetCaseResponse file = Case("RSL");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_CLOSED);
  EXPECT_EQ(file.case_().close_reason(), v1::CLOSE_REASON_RESTRUCTURED);
  EXPECT_EQ(file.case_().unallocated_fen(), 120 * CNY);
  EXPECT_EQ(file.case_().paid_total_fen(), plan.total_fen() + 120 * CNY);
  EXPECT_EQ(file.plans(0).state(), v1::PLAN_STATE_COMPLETED);
  EXPECT_THAT(file.events(file.events_size() - 1).summary(),
              HasSubstr("received after the case was closed (CLOSE_REASON_RESTRUCTURED)"));
}

TEST_P(PlanServiceTest, DeferralNeedsAGenuineHardship) {
  const int64_t id = Open("DEF", 45, 6000);
  v1::ProposePlanRequest r = Request(id, v1::PLAN_KIND_DEFERRAL, 4);
  r.set_deferral_months(2);
  v1::Plan plan;
  grpc::Status s = Propose(r, &plan);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("not offered"));
  EXPECT_EQ(Case("DEF").events_size(), 1);  // nothing written
}

TEST_P(PlanServiceTest, MakerCheckerAndConcessionLimits) {
  const int64_t id = Open("MC", 45, 20'000);  // 2,000 CNY penalty
  v1::ProposePlanRequest r = Request(id, v1::PLAN_KIND_CATCH_UP, 6);
  r.set_waiver_fen(1500 * CNY);  // over an agent's 1,000 CNY
  v1::Plan plan;
  ASSERT_TRUE(Propose(r, &plan, "alice").ok());
  EXPECT_EQ(plan.waiver_fen(), 1500 * CNY);

  v1::ApprovePlanResponse out;
  grpc::Status s = Approve(plan.plan_id(), "alice", "supervisor", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("cannot also approve"));
  s = Approve(plan.plan_id(), "bob", "agent", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("supervisor"));
  EXPECT_EQ(Case("MC").case_().stage(), v1::STAGE_COUNSELLING);  // nothing changed

  ASSERT_TRUE(Approve(plan.plan_id(), "sue", "supervisor", &out).ok());
  EXPECT_EQ(out.case_().waived_total_fen(), 1500 * CNY);
  EXPECT_EQ(out.case_().overdue().penalty_fen(), 500 * CNY);
  // The waiver is its own event, with approver and amount.
  v1::GetCaseResponse file = Case("MC");
  const v1::CaseEvent& last = file.events(file.events_size() - 1);
  ASSERT_TRUE(last.has_penalty_waived());
  EXPECT_EQ(last.penalty_waived().amount_fen(), 1500 * CNY);
  EXPECT_EQ(last.penalty_waived().approver(), "sue");

  // Approved once: a second approval is refused.
  s = Approve(plan.plan_id(), "tom", "supervisor", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_P(PlanServiceTest, BadProposalsChangeNothing) {
  const int64_t id = Open("BAD", 45, 6000);
  v1::Plan plan;
  EXPECT_EQ(Propose(Request(id, v1::PLAN_KIND_CATCH_UP, 61), &plan).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // term beyond policy
  EXPECT_EQ(Propose(Request(id, v1::PLAN_KIND_TERM_EXTENSION, 60), &plan).error_code(),
            grpc::StatusCode::OK);  // a long term is fine when instalments are big enough
  const int64_t small = Open("SMALL", 45, 5000);
  EXPECT_EQ(Propose(Request(small, v1::PLAN_KIND_CATCH_UP, 60), &plan).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // instalment below minimum
  v1::ProposePlanRequest too_much = Request(small, v1::PLAN_KIND_CATCH_UP, 3);
  too_much.set_waiver_fen(501 * CNY);  // penalty is 500
  EXPECT_EQ(Propose(too_much, &plan).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Propose(Request(999999, v1::PLAN_KIND_CATCH_UP, 3), &plan).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ProposePlanResponse response;
  {
    // Issue 12: a proposal a retry could duplicate needs its request_id.
    grpc::Status s = plans_->ProposePlan(ContextAs("alice", "agent").get(),
                                         Request(small, v1::PLAN_KIND_CATCH_UP, 3), &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(s.error_message(), "request_id is required");
  }
  auto anonymous = testing::AnonymousContext();
  EXPECT_EQ(
      plans_->ProposePlan(anonymous.get(), Request(small, v1::PLAN_KIND_CATCH_UP, 3), &response)
          .error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Case("SMALL").events_size(), 1);

  // A resolved case gets no plan.
  Pay("SMALL", "ALL", 5000 * CNY);
  EXPECT_EQ(Propose(Request(small, v1::PLAN_KIND_CATCH_UP, 3), &plan).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  // Rejecting a proposal records it; approving it afterwards is refused.
  v1::Plan p;
  ASSERT_TRUE(Propose(Request(id, v1::PLAN_KIND_CATCH_UP, 3), &p).ok());
  v1::RejectPlanRequest reject;
  reject.set_plan_id(p.plan_id());
  reject.set_reason("income not verified");
  v1::RejectPlanResponse rejected;
  ASSERT_TRUE(plans_->RejectPlan(ContextAs("sue", "supervisor").get(), reject, &rejected).ok());
  EXPECT_EQ(rejected.plan().state(), v1::PLAN_STATE_REJECTED);
  v1::ApprovePlanResponse out;
  EXPECT_EQ(Approve(p.plan_id(), "bob", "agent", &out).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::GetPlanRequest get;
  get.set_plan_id(p.plan_id());
  v1::GetPlanResponse got;
  auto ctx = Context();
  ASSERT_TRUE(plans_->GetPlan(ctx.get(), get, &got).ok());
  EXPECT_EQ(got.plan().reason(), "income not verified");
}

COLLECTIONS_INSTANTIATE_BACKENDS(PlanServiceTest);

}  // namespace
}  // namespace collections
