// LegalService through real gRPC on SQLite and PostgreSQL: a severe case
// driven by task outcomes and aging through the pre-legal steps into a
// handoff to the firm the policy picks; streams that resume, wait for new
// handoffs and never show another firm's; acknowledgement, refusal,
// withdrawal after a full payment, milestones to conclusion; and hardship
// diverting a severe case from legal action into a restructuring.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "collections/v1/plan_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"

namespace collections {
namespace {

using testing::CNY;
using testing::kToday;
using workflow::DayToProto;

class LegalServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cases_ = v1::CaseService::NewStub(channel_);
    tasks_ = v1::TaskService::NewStub(channel_);
    legal_ = v1::LegalService::NewStub(channel_);
    plans_ = v1::PlanService::NewStub(channel_);
    reports_ = v1::ReportService::NewStub(channel_);
  }

  int64_t Open(const std::string& loan, int dpd, int64_t overdue_cny, const std::string& region) {
    v1::DelinquencyRecord r;
    r.set_loan_id(loan);
    *r.mutable_as_of() = DayToProto(kToday);
    *r.mutable_oldest_unpaid_due_date() = DayToProto(kToday - dpd);
    r.mutable_borrower()->set_borrower_id("B-" + loan);
    r.mutable_borrower()->set_name("Chen Jing");
    r.mutable_borrower()->add_phones("+86 137 0000 0000");
    r.mutable_borrower()->set_address("3 Huaihai Rd");
    r.mutable_borrower()->set_region(region);
    r.mutable_overdue()->set_penalty_fen(overdue_cny * CNY / 10);
    r.mutable_overdue()->set_principal_fen(overdue_cny * CNY - overdue_cny * CNY / 10);
    v1::ImportDelinquenciesResponse response;
    EXPECT_TRUE(testing::ImportRecords(*cases_, {r}, &response).ok());
    return File(loan).case_().case_id();
  }

  v1::GetCaseResponse File(const std::string& loan) {
    v1::GetCaseResponse out;
    EXPECT_TRUE(testing::GetCaseFile(*cases_, loan, &out).ok());
    return out;
  }

  // Claims the case's task of `type` from `queue` and completes it.
  void Do(int64_t case_id, const std::string& queue, const v1::TaskOutcome& outcome) {
    const v1::Task t = testing::ClaimTaskOfCase(*tasks_, "worker-1", queue, case_id);
    ASSERT_NE(t.task_id(), 0);
    v1::CompleteTaskResponse out;
    grpc::Status s =
        testing::CompleteTask(*tasks_, t, outcome, absl::StrCat("done-", t.task_id()), &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void VisitAndLetter(int64_t case_id) {
    v1::TaskOutcome visit;
    visit.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
    Do(case_id, "field", visit);
    v1::TaskOutcome letter;
    letter.mutable_letter()->set_sent(true);
    letter.mutable_letter()->set_reference(absl::StrCat("EMS-", case_id));
    Do(case_id, "letters", letter);
  }

  void Advance(absl::CivilDay to) {
    v1::AdvanceBusinessDateResponse response;
    grpc::Status s = testing::AdvanceBusinessDate(*cases_, to, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  // Reads `n` handoffs of `firm` after `after`, or fewer when `wait` passes.
  std::vector<v1::Handoff> Read(const std::string& firm, int64_t after, size_t n,
                                absl::Duration wait = absl::Seconds(20)) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + wait));
    testing::SetCaller(context, firm + "-receiver", "legal", firm);
    v1::StreamHandoffsRequest request;
    request.set_firm_id(firm);
    request.set_after_sequence(after);
    auto reader = legal_->StreamHandoffs(&context, request);
    std::vector<v1::Handoff> out;
    v1::Handoff h;
    while (out.size() < n && reader->Read(&h)) out.push_back(h);
    context.TryCancel();
    reader->Finish();
    return out;
  }

  grpc::Status Ack(const std::string& firm, int64_t sequence, bool accepted,
                   const std::string& reason = "") {
    v1::AcknowledgeHandoffRequest request;
    request.set_firm_id(firm);
    request.set_sequence(sequence);
    request.set_accepted(accepted);
    request.set_refusal_reason(reason);
    v1::AcknowledgeHandoffResponse response;
    auto context = testing::FirmContext(firm);
    return legal_->AcknowledgeHandoff(context.get(), request, &response);
  }

  grpc::Status Milestone(int64_t case_id, const std::string& firm, v1::LegalMilestoneKind kind,
                         int64_t amount_fen = 0, v1::ReportLegalMilestoneResponse* out = nullptr) {
    v1::ReportLegalMilestoneRequest request;
    request.set_case_id(case_id);
    request.mutable_milestone()->set_kind(kind);
    request.mutable_milestone()->set_firm_id(firm);
    request.mutable_milestone()->set_amount_fen(amount_fen);
    request.mutable_milestone()->set_court("Shanghai No. 1 Intermediate People's Court");
    request.set_request_id(testing::FreshRequestId());
    v1::ReportLegalMilestoneResponse ignored;
    auto context = testing::FirmContext(firm);
    return legal_->ReportLegalMilestone(context.get(), request, out ? out : &ignored);
  }

  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
  std::unique_ptr<v1::LegalService::Stub> legal_;
  std::unique_ptr<v1::PlanService::Stub> plans_;
  std::unique_ptr<v1::ReportService::Stub> reports_;
};

TEST_P(LegalServiceTest, SevereCaseGoesToItsFirmAfterThePreLegalSteps) {
  const int64_t id = Open("SEV", 80, 30'000, "SH");
  EXPECT_EQ(File("SEV").case_().legal().phase(), v1::LEGAL_PHASE_PRE_LEGAL);
  VisitAndLetter(id);

  // A subscriber waiting before the handoff exists gets it when it comes.
  std::vector<v1::Handoff> early;
  std::thread subscriber([&] { early = Read("firm-shanghai", 0, 1, absl::Seconds(60)); });
  Advance(kToday + 11);  // 91 days past due, but the letter's 15 days are not over
  EXPECT_EQ(File("SEV").case_().legal().phase(), v1::LEGAL_PHASE_ELIGIBLE);
  Advance(kToday + 15);
  subscriber.join();
  ASSERT_EQ(early.size(), 1u);
  const v1::Handoff& h = early[0];
  EXPECT_EQ(h.kind(), v1::HANDOFF_KIND_NEW_CASE);
  EXPECT_EQ(h.firm_id(), "firm-shanghai");
  EXPECT_EQ(h.case_id(), id);
  EXPECT_EQ(h.case_().legal().phase(), v1::LEGAL_PHASE_HANDED_OFF);
  EXPECT_EQ(h.case_().legal().letter_reference(), absl::StrCat("EMS-", id));
  // The case file: the import, both task outcomes, the aging.
  int outcomes = 0;
  for (const auto& e : h.history()) outcomes += e.has_task_completed();
  EXPECT_EQ(outcomes, 2);
  EXPECT_TRUE(h.history(0).has_imported());

  // Resuming from the stored sequence repeats nothing; another firm sees none.
  EXPECT_TRUE(Read("firm-shanghai", h.sequence(), 1, absl::Milliseconds(500)).empty());
  EXPECT_TRUE(Read("firm-national", 0, 1, absl::Milliseconds(500)).empty());
  // Re-reading from 0 delivers it again (at least once, same sequence).
  EXPECT_EQ(Read("firm-shanghai", 0, 1)[0].sequence(), h.sequence());

  // Another firm cannot acknowledge or report on it.
  EXPECT_EQ(Ack("firm-national", h.sequence(), true).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Milestone(id, "firm-national", v1::LEGAL_MILESTONE_KIND_SUIT_FILED).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Ack("firm-shanghai", h.sequence(), true).ok());
  ASSERT_TRUE(Ack("firm-shanghai", h.sequence(), true).ok());  // idempotent
  EXPECT_TRUE(File("SEV").case_().legal().has_accepted_on());

  // Milestones through to the end.
  ASSERT_TRUE(Milestone(id, "firm-shanghai", v1::LEGAL_MILESTONE_KIND_SUIT_FILED).ok());
  ASSERT_TRUE(Milestone(id, "firm-shanghai", v1::LEGAL_MILESTONE_KIND_JUDGMENT, 30'000 * CNY).ok());
  v1::ReportLegalMilestoneResponse recovered;
  ASSERT_TRUE(Milestone(id, "firm-shanghai", v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED,
                        12'000 * CNY, &recovered)
                  .ok());
  EXPECT_EQ(recovered.case_().legal().recovered_fen(), 12'000 * CNY);
  EXPECT_EQ(recovered.case_().overdue().principal_fen() + recovered.case_().overdue().penalty_fen(),
            18'000 * CNY);
  ASSERT_TRUE(Milestone(id, "firm-shanghai", v1::LEGAL_MILESTONE_KIND_CONCLUDED).ok());
  const v1::Case closed = File("SEV").case_();
  EXPECT_EQ(closed.stage(), v1::STAGE_CLOSED);
  EXPECT_EQ(closed.close_reason(), v1::CLOSE_REASON_LEGAL_CONCLUDED);
  EXPECT_EQ(Milestone(id, "firm-shanghai", v1::LEGAL_MILESTONE_KIND_SUIT_FILED).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// Counsel recovers more than the case has overdue (a forced sale covering
// costs and interest counted by the court): the excess is held as
// unallocated like an overpayment, never dropped, and reports show it apart
// from what was recovered.
TEST_P(LegalServiceTest, ARecoveryBeyondWhatIsOverdueIsHeldAsUnallocated) {
  const int64_t id = Open("OVER", 80, 30'000, "SH");
  VisitAndLetter(id);
  Advance(kToday + 15);
  std::vector<v1::Handoff> handoffs = Read("firm-shanghai", 0, 1);
  ASSERT_EQ(handoffs.size(), 1u);
  ASSERT_TRUE(Ack("firm-shanghai", handoffs[0].sequence(), true).ok());

  v1::ReportLegalMilestoneRequest request;
  request.set_case_id(id);
  request.set_request_id("recovery-1");
  request.mutable_milestone()->set_kind(v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED);
  request.mutable_milestone()->set_firm_id("firm-shanghai");
  request.mutable_milestone()->set_amount_fen(35'000 * CNY);
  v1::ReportLegalMilestoneResponse first;
  auto context = testing::FirmContext("firm-shanghai");
  grpc::Status s = legal_->ReportLegalMilestone(context.get(), request, &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(first.case_().legal().recovered_fen(), 30'000 * CNY);
  EXPECT_EQ(first.case_().unallocated_fen(), 5'000 * CNY);
  EXPECT_EQ(first.case_().paid_total_fen(), 35'000 * CNY);
  EXPECT_EQ(first.case_().overdue().principal_fen() + first.case_().overdue().interest_fen() +
                first.case_().overdue().penalty_fen(),
            0);
  EXPECT_EQ(first.case_().stage(), v1::STAGE_LEGAL_ACTION);

  // The same request again: the first answer, counted once.
  v1::ReportLegalMilestoneResponse again;
  auto context2 = testing::FirmContext("firm-shanghai");
  ASSERT_TRUE(legal_->ReportLegalMilestone(context2.get(), request, &again).ok());
  EXPECT_EQ(again.case_().version(), first.case_().version());
  EXPECT_EQ(File("OVER").case_().paid_total_fen(), 35'000 * CNY);

  // Issue 12: the same request_id with another amount is refused, and a
  // milestone without a request_id too; neither changes the case.
  v1::ReportLegalMilestoneRequest changed = request;
  changed.mutable_milestone()->set_amount_fen(1'000 * CNY);
  v1::ReportLegalMilestoneResponse refused;
  s = legal_->ReportLegalMilestone(testing::FirmContext("firm-shanghai").get(), changed, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "request_id recovery-1 was already used for a different request");
  changed.clear_request_id();
  s = legal_->ReportLegalMilestone(testing::FirmContext("firm-shanghai").get(), changed, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "request_id is required");
  EXPECT_EQ(File("OVER").case_().version(), first.case_().version());

  // The history says what happened to the excess.
  const v1::GetCaseResponse file = File("OVER");
  const v1::CaseEvent* recovery = nullptr;
  for (const auto& e : file.events()) {
    if (e.has_legal_milestone() &&
        e.legal_milestone().kind() == v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED) {
      EXPECT_EQ(recovery, nullptr) << "recorded twice";
      recovery = &e;
    }
  }
  ASSERT_NE(recovery, nullptr);
  EXPECT_EQ(recovery->legal_milestone().amount_fen(), 35'000 * CNY);
  EXPECT_EQ(recovery->legal_milestone().unallocated_fen(), 5'000 * CNY);
  EXPECT_THAT(recovery->summary(),
              ::testing::HasSubstr("5,000.00 CNY beyond what is overdue: held as unallocated"));

  // Reports: 30,000.00 recovered, 5,000.00 unallocated, never overlapping.
  v1::EffectivenessReport report;
  auto context3 = Context();
  s = reports_->StrategyEffectiveness(context3.get(), v1::ReportRequest(), &report);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(report.totals().recovered_fen(), 30'000 * CNY) << report.totals().DebugString();
  EXPECT_EQ(report.totals().unallocated_fen(), 5'000 * CNY);

  // Counsel concludes: the case closes and still holds the excess.
  ASSERT_TRUE(Milestone(id, "firm-shanghai", v1::LEGAL_MILESTONE_KIND_CONCLUDED).ok());
  const v1::Case closed = File("OVER").case_();
  EXPECT_EQ(closed.stage(), v1::STAGE_CLOSED);
  EXPECT_EQ(closed.unallocated_fen(), 5'000 * CNY);
  EXPECT_EQ(closed.paid_total_fen(), 35'000 * CNY);
}

TEST_P(LegalServiceTest, FullPaymentWithdrawsAndARefusalGoesToASupervisor) {
  const int64_t paid = Open("PAID", 100, 25'000, "ZJ");
  const int64_t refused = Open("REF", 100, 25'000, "ZJ");
  VisitAndLetter(paid);
  VisitAndLetter(refused);
  Advance(kToday + 15);
  std::vector<v1::Handoff> handoffs = Read("firm-national", 0, 2);
  ASSERT_EQ(handoffs.size(), 2u);
  EXPECT_LT(handoffs[0].sequence(), handoffs[1].sequence());

  // The borrower pays in full: counsel is told to withdraw.
  v1::RecordPaymentRequest pay;
  pay.set_case_id(paid);
  pay.mutable_payment()->set_payment_id("FULL");
  pay.mutable_payment()->set_amount_fen(25'000 * CNY);
  v1::RecordPaymentResponse cured;
  auto context = Context();
  ASSERT_TRUE(cases_->RecordPayment(context.get(), pay, &cured).ok());
  EXPECT_EQ(cured.case_().stage(), v1::STAGE_RESOLVED);
  std::vector<v1::Handoff> next = Read("firm-national", handoffs[1].sequence(), 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].kind(), v1::HANDOFF_KIND_WITHDRAW);
  EXPECT_EQ(next[0].case_id(), paid);
  // The case file lists both, the first acknowledged by nobody yet.
  v1::GetCaseResponse paid_file = File("PAID");
  ASSERT_EQ(paid_file.handoffs_size(), 2);
  EXPECT_EQ(paid_file.handoffs(0).kind(), v1::HANDOFF_KIND_NEW_CASE);
  EXPECT_EQ(paid_file.handoffs(1).kind(), v1::HANDOFF_KIND_WITHDRAW);
  EXPECT_FALSE(paid_file.handoffs(0).acknowledged());

  // The other is refused: back to a supervisor, not to the same firm.
  const int64_t seq =
      handoffs[0].case_id() == refused ? handoffs[0].sequence() : handoffs[1].sequence();
  EXPECT_EQ(Ack("firm-national", seq, false).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Ack("firm-national", seq, false, "conflict of interest").ok());
  v1::GetCaseResponse file = File("REF");
  EXPECT_TRUE(file.case_().legal().awaiting_review());
  EXPECT_EQ(file.case_().legal().phase(), v1::LEGAL_PHASE_ELIGIBLE);
  bool review = false;
  for (const auto& t : file.tasks()) {
    review |= t.type() == v1::TASK_TYPE_SUPERVISOR_REVIEW && t.state() == v1::TASK_STATE_READY;
  }
  EXPECT_TRUE(review);
}

TEST_P(LegalServiceTest, HardshipDivertsASevereCaseFromLegalActionToAPlan) {
  const int64_t id = Open("HARD", 100, 30'000, "SH");
  v1::SignalCaseRequest signal;
  signal.set_case_id(id);
  signal.mutable_signal()->mutable_hardship_declared()->set_reason("serious illness");
  signal.set_request_id("hardship-1");
  v1::SignalCaseResponse signalled;
  auto context = Context();
  ASSERT_TRUE(cases_->SignalCase(context.get(), signal, &signalled).ok());
  EXPECT_EQ(signalled.case_().legal().phase(), v1::LEGAL_PHASE_ON_HOLD);
  VisitAndLetter(id);
  v1::TaskOutcome genuine;
  genuine.mutable_hardship_assessment()->set_genuine(true);
  genuine.mutable_hardship_assessment()->set_assessment("hospital records checked");
  Do(id, "hardship", genuine);
  Advance(kToday + 20);
  EXPECT_EQ(File("HARD").case_().legal().phase(), v1::LEGAL_PHASE_ON_HOLD);
  EXPECT_TRUE(Read("firm-shanghai", 0, 1, absl::Milliseconds(500)).empty());

  // A deferral (offered to a severe case only for a genuine hardship).
  v1::ProposePlanRequest propose;
  propose.set_case_id(id);
  propose.set_kind(v1::PLAN_KIND_DEFERRAL);
  propose.set_periods(12);
  propose.set_deferral_months(3);
  *propose.mutable_first_due_date() = DayToProto(kToday + 30);
  propose.set_request_id("deferral-1");
  v1::ProposePlanResponse proposed;
  auto ctx = ContextAs("alice");
  grpc::Status s = plans_->ProposePlan(ctx.get(), propose, &proposed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ApprovePlanRequest approve;
  approve.set_plan_id(proposed.plan().plan_id());
  v1::ApprovePlanResponse approved;
  auto ctx2 = ContextAs("sue", "supervisor");
  s = plans_->ApprovePlan(ctx2.get(), approve, &approved);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(approved.case_().stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_TRUE(Read("firm-shanghai", 0, 1, absl::Milliseconds(500)).empty());
}

COLLECTIONS_INSTANTIATE_BACKENDS(LegalServiceTest);

}  // namespace
}  // namespace collections
