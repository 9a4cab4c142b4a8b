// TaskService through real gRPC on SQLite and PostgreSQL: claiming and
// completing every task type with every outcome, and one case driven from
// reminder through counselling to legal action by task outcomes and aging.
// The other topics are in task_*_test.cc; the fixture is in
// task_service_fixture.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "tests/service/task_service_fixture.h"

namespace collections::task_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using testing::TimeOf;
using workflow::DayToProto;

// --- Every task type, every outcome ------------------------------------------

// The default policy plus a plan follow-up call in the reminder stage, so
// that every task type arises without a repayment plan.
class EveryTaskTypeTest : public TaskServiceTest {
 protected:
  void AdjustPolicy(v1::Policy& policy) const override {
    for (auto& cp : *policy.mutable_classes()) {
      if (cp.case_class() != v1::CASE_CLASS_MILD) continue;
      v1::Action* a = cp.add_actions();
      a->set_task_type(v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL);
      a->set_queue("call.plan");
      a->set_deadline_hours(72);
      a->set_script_key("plan.call.check_in");
    }
    for (auto& cp : *policy.mutable_classes()) {
      for (auto& a : *cp.mutable_actions()) {
        if (a.task_type() == v1::TASK_TYPE_REMINDER_CALL) a.set_start_after_days(0);
      }
    }
  }
};

TEST_P(EveryTaskTypeTest, ClaimAndCompleteEveryTypeWithEveryOutcome) {
  Import({Mild("A"), Mild("B"), Moderate("C"), Severe("S1"), Severe("S2"), Severe("S3")});
  std::map<std::string, int64_t> id;
  for (const char* loan : {"A", "B", "C", "S1", "S2", "S3"}) id[loan] = CaseId(loan);

  // SMS: delivered and failed. The payload says what to send and to whom.
  {
    v1::Task a = ClaimFor(id["A"], "sms");
    EXPECT_EQ(a.type(), v1::TASK_TYPE_SMS_REMINDER);
    EXPECT_EQ(a.state(), v1::TASK_STATE_LEASED);
    EXPECT_EQ(a.lease_owner(), "w1");
    EXPECT_GT(a.lease_token(), 0);
    EXPECT_EQ(a.payload().phone(), "+86 138 0000 0000");
    EXPECT_EQ(a.payload().address(), "");  // not what an SMS gateway needs
    EXPECT_EQ(a.payload().script_key(), "reminder.sms.friendly");
    EXPECT_EQ(a.payload().case_class(), v1::CASE_CLASS_MILD);

    // The wrong outcome type is refused and leaves the lease alone.
    v1::CompleteTaskResponse out;
    grpc::Status wrong = Complete(a, Call(v1::CALL_RESULT_REACHED), &out);
    EXPECT_EQ(wrong.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(wrong.error_message(), HasSubstr("TASK_TYPE_SMS_REMINDER"));

    EXPECT_EQ(MustComplete(a, Sms(true)), v1::STAGE_REMINDER);
    EXPECT_EQ(MustComplete(ClaimFor(id["B"], "sms"), Sms(false)), v1::STAGE_REMINDER);
  }
  // Calls: reached with a promise, no answer (a retry follows), wrong
  // number (a supervisor review follows), refused.
  {
    v1::TaskOutcome reached = Call(v1::CALL_RESULT_REACHED);
    v1::CallOutcome& call = *reached.mutable_call();
    call.mutable_promise()->set_amount_fen(1'000 * CNY);
    *call.mutable_promise()->mutable_due_date() = DayToProto(kToday + 5);
    call.set_overdue_reason(v1::OVERDUE_REASON_FORGOT);
    call.set_plan_requested(true);
    call.set_penalty_waiver_requested(true);
    call.set_notes("will pay on payday");
    EXPECT_EQ(MustComplete(ClaimFor(id["A"], "call.early"), reached), v1::STAGE_REMINDER);
    EXPECT_EQ(File("A").case_().overdue_reason(), v1::OVERDUE_REASON_FORGOT);
    ASSERT_THAT(File("A").case_().promises(), SizeIs(1));

    EXPECT_EQ(MustComplete(ClaimFor(id["A"], "call.plan"), Call(v1::CALL_RESULT_NO_ANSWER)),
              v1::STAGE_REMINDER);
    const v1::Task retry = TaskOf("A", v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL);
    EXPECT_EQ(retry.state(), v1::TASK_STATE_READY);
    EXPECT_EQ(TimeOf(retry.not_before()), clock_->Now() + absl::Hours(24));

    MustComplete(ClaimFor(id["B"], "call.early"), Call(v1::CALL_RESULT_WRONG_NUMBER));
    MustComplete(ClaimFor(id["B"], "call.plan"), Call(v1::CALL_RESULT_REFUSED));
    // A promise needs the borrower on the line.
    v1::TaskOutcome bad = Call(v1::CALL_RESULT_NO_ANSWER);
    bad.mutable_call()->mutable_promise()->set_amount_fen(100);
    clock_->Advance(absl::Hours(24));
    v1::Task again = ClaimFor(id["A"], "call.plan");
    v1::CompleteTaskResponse out;
    EXPECT_EQ(Complete(again, bad, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    MustComplete(again, Call(v1::CALL_RESULT_REFUSED));
  }
  // Counselling call that finds hardship: an assessment follows.
  {
    v1::TaskOutcome o = Call(v1::CALL_RESULT_REACHED);
    o.mutable_call()->set_overdue_reason(v1::OVERDUE_REASON_UNEMPLOYMENT);
    o.mutable_call()->set_hardship_indicated(true);
    o.mutable_call()->set_hardship_reason("laid off in October");
    EXPECT_EQ(MustComplete(ClaimFor(id["C"], "call.counselling"), o), v1::STAGE_COUNSELLING);
    EXPECT_TRUE(File("C").case_().holds().hardship());
    MustComplete(ClaimFor(id["C"], "hardship"), Hardship(true));
    EXPECT_TRUE(File("C").case_().holds().hardship_genuine());
  }
  // Visits: met (with a promise), not home, moved (a review follows).
  {
    v1::TaskOutcome met = Visit(v1::VISIT_RESULT_MET);
    met.mutable_visit()->set_overdue_reason(v1::OVERDUE_REASON_BUSINESS_FAILURE);
    met.mutable_visit()->mutable_promise()->set_amount_fen(5'000 * CNY);
    *met.mutable_visit()->mutable_promise()->mutable_due_date() = DayToProto(kToday + 10);
    EXPECT_EQ(MustComplete(ClaimFor(id["S1"], "field"), met), v1::STAGE_LEGAL_ACTION);
    EXPECT_TRUE(File("S1").case_().legal().home_visit_done());
    MustComplete(ClaimFor(id["S2"], "field"), Visit(v1::VISIT_RESULT_NOT_HOME));
    MustComplete(ClaimFor(id["S3"], "field"), Visit(v1::VISIT_RESULT_MOVED));
  }
  // Letters: sent with a reference, not sent.
  {
    MustComplete(ClaimFor(id["S1"], "letters"), Letter(true));
    EXPECT_EQ(File("S1").case_().legal().letter_reference(), "EMS-0001");
    MustComplete(ClaimFor(id["S2"], "letters"), Letter(false));
    v1::TaskOutcome no_ref = Letter(true);
    no_ref.mutable_letter()->clear_reference();
    v1::Task s3 = ClaimFor(id["S3"], "letters");
    v1::CompleteTaskResponse out;
    EXPECT_EQ(Complete(s3, no_ref, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    MustComplete(s3, Letter(true));
  }
  // Hardship assessed as not genuine: the hold lifts.
  {
    v1::Signal hardship;
    hardship.mutable_hardship_declared()->set_reason("medical bills");
    Signal("S2", hardship);
    MustComplete(ClaimFor(id["S2"], "hardship"), Hardship(false));
    EXPECT_FALSE(File("S2").case_().holds().hardship());
  }
  // Supervisor reviews: a decision, and a write-off that closes the case.
  {
    MustComplete(ClaimFor(id["B"], "supervisor"),
                 Review("verify the number with the branch", false));
    EXPECT_EQ(MustComplete(ClaimFor(id["S3"], "supervisor"), Review("untraceable", true)),
              v1::STAGE_CLOSED);
  }
  // Every type was handed out and completed.
  std::set<v1::TaskType> completed;
  for (const char* loan : {"A", "B", "C", "S1", "S2", "S3"}) {
    const v1::GetCaseResponse file = File(loan);
    for (const v1::Task& t : file.tasks()) {
      if (t.state() == v1::TASK_STATE_COMPLETED) completed.insert(t.type());
    }
  }
  for (int type = v1::TASK_TYPE_SMS_REMINDER; type <= v1::TASK_TYPE_SUPERVISOR_REVIEW; ++type) {
    EXPECT_EQ(completed.count(static_cast<v1::TaskType>(type)), 1u)
        << v1::TaskType_Name(static_cast<v1::TaskType>(type));
  }
  // Each completion is an event of its case, by the worker.
  int completions = 0;
  const v1::GetCaseResponse file = File("A");
  for (const v1::CaseEvent& e : file.events()) {
    if (!e.has_task_completed()) continue;
    ++completions;
    EXPECT_EQ(e.actor(), "w1");  // the claimer, as its token says
  }
  EXPECT_EQ(completions, 4);  // the SMS, the reminder call, the plan call and its retry
}

// --- One case, reminder to legal action ---------------------------------------

TEST_P(TaskServiceTest, OneCaseFromReminderThroughCounsellingToLegalAction) {
  Import({Mild("PATH")});
  const int64_t id = CaseId("PATH");
  EXPECT_EQ(File("PATH").case_().stage(), v1::STAGE_REMINDER);

  // Day 0: the SMS; the reminder call waits for day 1.
  MustComplete(ClaimFor(id, "sms"), Sms(true));
  EXPECT_THAT(ClaimAll("call.early"), IsEmpty());
  // Days 1 and 2: nobody answers; each time a retry follows a day later.
  AdvanceDays(1);
  MustComplete(ClaimFor(id, "call.early"), Call(v1::CALL_RESULT_NO_ANSWER));
  AdvanceDays(1);
  EXPECT_EQ(MustComplete(ClaimFor(id, "call.early"), Call(v1::CALL_RESULT_NO_ANSWER)),
            v1::STAGE_REMINDER);
  EXPECT_EQ(File("PATH").case_().call_attempts_in_stage(), 2);

  // Day 3: a worker takes the retry; meanwhile the case ages past 30 days
  // past due. The stage moves on, its open tasks are cancelled, and the
  // worker hears so when it reports.
  AdvanceDays(1);
  const v1::Task held = ClaimFor(id, "call.early");
  AdvanceDays(18);  // day 21: 31 days past due
  EXPECT_EQ(File("PATH").case_().stage(), v1::STAGE_COUNSELLING);
  v1::CompleteTaskResponse out;
  grpc::Status moved = Complete(held, Call(v1::CALL_RESULT_REACHED), &out);
  EXPECT_EQ(moved.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(moved.error_message(), HasSubstr("moved on"));
  EXPECT_THAT(moved.error_message(), HasSubstr("STAGE_COUNSELLING"));
  EXPECT_EQ(OpenTypes("PATH"), std::set<v1::TaskType>{v1::TASK_TYPE_COUNSELLING_CALL});

  // Counselling learns the reason; the borrower still does not pay.
  v1::TaskOutcome counselled = Call(v1::CALL_RESULT_REACHED);
  counselled.mutable_call()->set_overdue_reason(v1::OVERDUE_REASON_UNWILLING);
  EXPECT_EQ(MustComplete(ClaimFor(id, "call.counselling"), counselled), v1::STAGE_COUNSELLING);

  // Day 81: 91 days past due: severe, legal action, eligible for counsel
  // once the visit and the letter (and its waiting period) are done.
  AdvanceDays(60);
  v1::Case c = File("PATH").case_();
  EXPECT_EQ(c.stage(), v1::STAGE_LEGAL_ACTION);
  EXPECT_EQ(c.legal().phase(), v1::LEGAL_PHASE_ELIGIBLE);
  MustComplete(ClaimFor(id, "field"), Visit(v1::VISIT_RESULT_NOT_HOME));
  MustComplete(ClaimFor(id, "letters"), Letter(true));
  EXPECT_EQ(File("PATH").case_().legal().phase(), v1::LEGAL_PHASE_ELIGIBLE);
  AdvanceDays(15);
  c = File("PATH").case_();
  EXPECT_EQ(c.legal().phase(), v1::LEGAL_PHASE_HANDED_OFF);
  EXPECT_EQ(c.overdue_reason(), v1::OVERDUE_REASON_UNWILLING);
}

COLLECTIONS_INSTANTIATE_BACKENDS(TaskServiceTest);
COLLECTIONS_INSTANTIATE_BACKENDS(EveryTaskTypeTest);

}  // namespace
}  // namespace collections::task_test
