// TaskService through real gRPC on SQLite and PostgreSQL: claiming and
// completing every task type with every outcome; one case driven from
// reminder through counselling to legal action by task outcomes and aging;
// long-poll and push wake-ups; leases that expire, fencing tokens, duplicate
// completions, failures, retries and incidents; concurrent claimers; and
// compliance at claim time across window edges, time zones, caps and case
// holds. Time moves only by the FakeClock; expiry runs through Tick().
#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "google/protobuf/util/time_util.h"
#include "server/task_dispatcher.h"
#include "tests/service/server_fixture.h"
#include "workflow/dates.h"
#include "workflow/policy.h"

namespace collections {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using workflow::DayToProto;

constexpr int64_t CNY = 100;
const absl::CivilDay kToday(2026, 11, 29);  // the fixture's first business date

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name;
  return tz;
}

// An instant given as local civil time in `zone`.
absl::Time Local(absl::CivilSecond t, const std::string& zone = "Asia/Shanghai") {
  return absl::FromCivil(t, Zone(zone));
}

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(ts));
}

google::protobuf::Duration Seconds(int64_t s) {
  google::protobuf::Duration d;
  d.set_seconds(s);
  return d;
}

v1::DelinquencyRecord Record(const std::string& loan, int dpd, int64_t overdue_fen,
                             const std::string& borrower = "", const std::string& tz = "") {
  v1::DelinquencyRecord r;
  r.set_loan_id(loan);
  *r.mutable_as_of() = DayToProto(kToday);
  *r.mutable_oldest_unpaid_due_date() = DayToProto(kToday - dpd);
  r.mutable_borrower()->set_borrower_id(borrower.empty() ? "B-" + loan : borrower);
  r.mutable_borrower()->set_name("Han Meimei");
  r.mutable_borrower()->add_phones("+86 138 0000 0000");
  r.mutable_borrower()->set_address("1 Huaihai Rd, Shanghai");
  r.mutable_borrower()->set_time_zone(tz);
  r.set_product("mortgage-30y");
  r.set_principal_outstanding_fen(600'000 * CNY);
  r.mutable_overdue()->set_penalty_fen(overdue_fen / 10);
  r.mutable_overdue()->set_interest_fen(overdue_fen / 5);
  r.mutable_overdue()->set_principal_fen(overdue_fen - overdue_fen / 10 - overdue_fen / 5);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  return r;
}
// Classes under the default policy.
v1::DelinquencyRecord Mild(const std::string& loan, const std::string& borrower = "",
                           const std::string& tz = "") {
  return Record(loan, 10, 3'000 * CNY, borrower, tz);
}
v1::DelinquencyRecord Moderate(const std::string& loan, const std::string& borrower = "") {
  return Record(loan, 45, 3'000 * CNY, borrower);
}
v1::DelinquencyRecord Severe(const std::string& loan) { return Record(loan, 120, 30'000 * CNY); }

// Outcomes.
v1::TaskOutcome Call(v1::CallResult result) {
  v1::TaskOutcome o;
  o.mutable_call()->set_result(result);
  o.mutable_call()->set_right_party_contact(result == v1::CALL_RESULT_REACHED);
  return o;
}
v1::TaskOutcome Sms(bool delivered) {
  v1::TaskOutcome o;
  o.mutable_sms()->set_delivered(delivered);
  o.mutable_sms()->set_gateway_reference("gw-1");
  return o;
}
v1::TaskOutcome Visit(v1::VisitResult result) {
  v1::TaskOutcome o;
  o.mutable_visit()->set_result(result);
  return o;
}
v1::TaskOutcome Letter(bool sent) {
  v1::TaskOutcome o;
  o.mutable_letter()->set_sent(sent);
  if (sent) o.mutable_letter()->set_reference("EMS-0001");
  return o;
}
v1::TaskOutcome Hardship(bool genuine) {
  v1::TaskOutcome o;
  o.mutable_hardship_assessment()->set_genuine(genuine);
  o.mutable_hardship_assessment()->set_assessment("payslips checked");
  return o;
}
v1::TaskOutcome Review(const std::string& decision, bool write_off) {
  v1::TaskOutcome o;
  o.mutable_review()->set_decision(decision);
  o.mutable_review()->set_write_off(write_off);
  return o;
}

class TaskServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    // The policy file must exist before the fixture starts the server.
    auto dir = testing::TempDir::Create("collections-task-policy");
    ASSERT_TRUE(dir.ok()) << dir.status();
    policy_dir_ = *std::move(dir);
    v1::Policy policy = workflow::DefaultPolicy();
    AdjustPolicy(policy);
    std::string text;
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(policy, &text));
    policy_file_ = policy_dir_->path() + "/policy.textproto";
    std::ofstream(policy_file_) << text;

    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cases_ = v1::CaseService::NewStub(channel_);
    tasks_ = v1::TaskService::NewStub(channel_);
  }

  virtual void AdjustPolicy(v1::Policy& policy) const {}

  server::ServerConfig Config() const override {
    server::ServerConfig config = ServerFixture::Config();
    config.policy_file = policy_file_;
    // Tests expire leases with Tick() after moving the fake clock.
    config.lease_reap_interval = absl::Hours(1);
    return config;
  }

  // --- Cases ---------------------------------------------------------------
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
    grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }

  v1::GetCaseResponse File(const std::string& loan) {
    auto context = Context();
    v1::GetCaseRequest request;
    request.set_loan_id(loan);
    v1::GetCaseResponse out;
    grpc::Status s = cases_->GetCase(context.get(), request, &out);
    EXPECT_TRUE(s.ok()) << loan << ": " << s.error_message();
    return out;
  }
  int64_t CaseId(const std::string& loan) { return File(loan).case_().case_id(); }

  void Signal(const std::string& loan, const v1::Signal& signal) {
    auto context = Context();
    v1::SignalCaseRequest request;
    request.set_case_id(CaseId(loan));
    *request.mutable_signal() = signal;
    v1::SignalCaseResponse out;
    grpc::Status s = cases_->SignalCase(context.get(), request, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Moves the business date and the clock on by `days` whole days.
  void AdvanceDays(int days) {
    clock_->Advance(absl::Hours(24) * days);
    business_date_ += days;
    auto context = Context(absl::Seconds(120));
    v1::AdvanceBusinessDateRequest request;
    *request.mutable_to() = DayToProto(business_date_);
    v1::AdvanceBusinessDateResponse response;
    grpc::Status s = cases_->AdvanceBusinessDate(context.get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // --- Tasks ---------------------------------------------------------------
  grpc::Status Claim(const v1::ClaimTasksRequest& request, v1::ClaimTasksResponse* out,
                     absl::Duration timeout = absl::Seconds(30)) {
    auto context = Context(timeout);
    return tasks_->ClaimTasks(context.get(), request, out);
  }

  static v1::ClaimTasksRequest ClaimRequest(const std::string& worker,
                                            std::vector<std::string> queues, int max = 100) {
    v1::ClaimTasksRequest request;
    request.set_worker_id(worker);
    for (auto& q : queues) request.add_queues(q);
    request.set_max_tasks(max);
    return request;
  }

  std::vector<v1::Task> ClaimAll(const std::string& queue, const std::string& worker = "w1") {
    v1::ClaimTasksResponse out;
    grpc::Status s = Claim(ClaimRequest(worker, {queue}), &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {out.tasks().begin(), out.tasks().end()};
  }

  // The one task of `case_id` leased from `queue` (others are released).
  v1::Task ClaimFor(int64_t case_id, const std::string& queue) {
    v1::Task found;
    for (const v1::Task& t : ClaimAll(queue)) {
      if (t.case_id() == case_id && found.task_id() == 0) {
        found = t;
      } else {
        EXPECT_TRUE(Release(t).ok());
      }
    }
    EXPECT_NE(found.task_id(), 0) << "no task of case " << case_id << " in " << queue;
    return found;
  }

  grpc::Status Complete(const v1::Task& task, const v1::TaskOutcome& outcome,
                        v1::CompleteTaskResponse* out, const std::string& request_id = "") {
    auto context = Context();
    v1::CompleteTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_token(task.lease_token());
    request.set_request_id(request_id.empty() ? absl::StrCat("req-", ++request_counter_)
                                              : request_id);
    *request.mutable_outcome() = outcome;
    return tasks_->CompleteTask(context.get(), request, out);
  }

  v1::Stage MustComplete(const v1::Task& task, const v1::TaskOutcome& outcome) {
    v1::CompleteTaskResponse out;
    grpc::Status s = Complete(task, outcome, &out);
    EXPECT_TRUE(s.ok()) << v1::TaskType_Name(task.type()) << ": " << s.error_message();
    return out.case_stage();
  }

  grpc::Status Release(const v1::Task& task, v1::ReleaseTaskResponse* out = nullptr) {
    auto context = Context();
    v1::ReleaseTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_token(task.lease_token());
    v1::ReleaseTaskResponse ignored;
    return tasks_->ReleaseTask(context.get(), request, out ? out : &ignored);
  }

  grpc::Status Fail(const v1::Task& task, const std::string& reason, v1::FailTaskResponse* out,
                    std::optional<int64_t> retry_after_s = std::nullopt) {
    auto context = Context();
    v1::FailTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_token(task.lease_token());
    request.set_reason(reason);
    if (retry_after_s) *request.mutable_retry_after() = Seconds(*retry_after_s);
    return tasks_->FailTask(context.get(), request, out);
  }

  v1::Task TaskOf(const std::string& loan, v1::TaskType type) {
    v1::Task found;
    const v1::GetCaseResponse file = File(loan);
    for (const v1::Task& t : file.tasks()) {
      if (t.type() == type) found = t;  // the newest
    }
    return found;
  }

  std::set<v1::TaskType> OpenTypes(const std::string& loan) {
    std::set<v1::TaskType> out;
    const v1::GetCaseResponse file = File(loan);
    for (const v1::Task& t : file.tasks()) {
      if (t.state() == v1::TASK_STATE_READY || t.state() == v1::TASK_STATE_LEASED) {
        out.insert(t.type());
      }
    }
    return out;
  }

  void Tick() {
    absl::StatusOr<int> reaped = server_->task_dispatcher()->Tick();
    ASSERT_TRUE(reaped.ok()) << reaped.status();
  }

  std::unique_ptr<testing::TempDir> policy_dir_;
  std::string policy_file_;
  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
  absl::CivilDay business_date_ = kToday;
  int request_counter_ = 0;
};

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
    EXPECT_EQ(e.actor(), "agent:w1");
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

// --- Long-poll and push --------------------------------------------------------

TEST_P(TaskServiceTest, LongPollWakesWhenATaskIsCreatedNotAtTheTimeout) {
  v1::ClaimTasksRequest request = ClaimRequest("poller", {"sms"}, 5);
  *request.mutable_wait() = Seconds(30);
  v1::ClaimTasksResponse got;
  grpc::Status status;
  absl::Time returned;
  std::thread poller([&] {
    status = Claim(request, &got, absl::Seconds(40));
    returned = absl::Now();
  });
  // Readiness, not time: wait until the claim is registered as waiting.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (server_->task_dispatcher()->waiting() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(server_->task_dispatcher()->waiting(), 1u);
  const absl::Time created = absl::Now();
  Import({Mild("WAKE")});
  poller.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_THAT(got.tasks(), SizeIs(1));
  EXPECT_EQ(got.tasks(0).case_id(), CaseId("WAKE"));
  EXPECT_LT(returned - created, absl::Seconds(5));  // well before the 30 s
}

TEST_P(TaskServiceTest, LongPollReturnsEmptyAtItsBoundAndRejectsLongerWaits) {
  v1::ClaimTasksRequest request = ClaimRequest("poller", {"sms"});
  *request.mutable_wait() = Seconds(61);
  v1::ClaimTasksResponse out;
  EXPECT_EQ(Claim(request, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  request.mutable_wait()->set_seconds(0);
  request.mutable_wait()->set_nanos(200'000'000);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Claim(request, &out).ok());
  EXPECT_THAT(out.tasks(), IsEmpty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
  EXPECT_EQ(server_->task_dispatcher()->waiting(), 0u);

  // A call deadline shorter than the wait ends the poll before it.
  *request.mutable_wait() = Seconds(30);
  ASSERT_TRUE(Claim(request, &out, absl::Milliseconds(500)).ok());
  EXPECT_THAT(out.tasks(), IsEmpty());
}

TEST_P(TaskServiceTest, LongPollWakesWhenATaskIsReleasedOrItsLeaseExpires) {
  Import({Mild("REL")});
  const v1::Task first = ClaimAll("sms").at(0);

  auto poll = [&](v1::ClaimTasksResponse* got) {
    v1::ClaimTasksRequest request = ClaimRequest("second", {"sms"});
    *request.mutable_wait() = Seconds(30);
    return std::thread([this, request, got] { ASSERT_TRUE(Claim(request, got).ok()); });
  };
  auto wait_registered = [&] {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (server_->task_dispatcher()->waiting() == 0 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  };

  v1::ClaimTasksResponse got;
  std::thread poller = poll(&got);
  wait_registered();
  v1::ReleaseTaskResponse released;
  ASSERT_TRUE(Release(first, &released).ok());
  EXPECT_EQ(released.task().state(), v1::TASK_STATE_READY);
  poller.join();
  ASSERT_THAT(got.tasks(), SizeIs(1));
  const v1::Task second = got.tasks(0);
  EXPECT_EQ(second.task_id(), first.task_id());
  EXPECT_GT(second.lease_token(), first.lease_token());
  EXPECT_EQ(second.attempts(), 1);  // a release gives the attempt back

  // Expiry: nobody calls anything but the reaper.
  v1::ClaimTasksResponse third;
  poller = poll(&third);
  wait_registered();
  clock_->Advance(absl::Seconds(301));  // the default lease is 300 s
  Tick();
  poller.join();
  ASSERT_THAT(third.tasks(), SizeIs(1));
  EXPECT_EQ(third.tasks(0).task_id(), first.task_id());
}

TEST_P(TaskServiceTest, StreamPushesTasksAsCreditsAllow) {
  auto context = Context();
  auto stream = tasks_->StreamTasks(context.get());
  v1::StreamTasksRequest hello;
  hello.set_worker_id("gateway-1");
  hello.add_queues("sms");
  hello.set_credits(2);
  ASSERT_TRUE(stream->Write(hello));

  Import({Mild("P1"), Mild("P2"), Mild("P3")});
  std::set<int64_t> seen;
  v1::StreamTasksResponse pushed;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(stream->Read(&pushed));
    EXPECT_EQ(pushed.task().state(), v1::TASK_STATE_LEASED);
    EXPECT_EQ(pushed.task().lease_owner(), "gateway-1");
    seen.insert(pushed.task().task_id());
    MustComplete(pushed.task(), Sms(true));
  }
  // Out of credits: the third waits until the worker asks for it.
  EXPECT_THAT(ClaimAll("sms", "someone-else"), SizeIs(1));
  v1::StreamTasksRequest more;
  more.set_credits(1);
  ASSERT_TRUE(stream->Write(more));
  // ... and a task created after the stream went idle is pushed at once.
  Import({Mild("P4")});
  ASSERT_TRUE(stream->Read(&pushed));
  EXPECT_EQ(pushed.task().case_id(), CaseId("P4"));
  seen.insert(pushed.task().task_id());
  EXPECT_THAT(seen, SizeIs(3));

  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&pushed));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_P(TaskServiceTest, StreamRejectsABadFirstMessage) {
  auto context = Context();
  auto stream = tasks_->StreamTasks(context.get());
  v1::StreamTasksRequest hello;
  hello.add_queues("sms");
  hello.set_credits(1);
  ASSERT_TRUE(stream->Write(hello));
  v1::StreamTasksResponse pushed;
  EXPECT_FALSE(stream->Read(&pushed));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("worker_id"));
}

// --- Leases ---------------------------------------------------------------------

TEST_P(TaskServiceTest, AnExpiredLeaseReturnsTheTaskAndFencesTheOldToken) {
  Import({Mild("EXP")});
  v1::ClaimTasksRequest request = ClaimRequest("slow", {"sms"});
  *request.mutable_lease() = Seconds(60);
  v1::ClaimTasksResponse first;
  ASSERT_TRUE(Claim(request, &first).ok());
  ASSERT_THAT(first.tasks(), SizeIs(1));
  const v1::Task old = first.tasks(0);
  EXPECT_EQ(TimeOf(old.lease_expires_at()), clock_->Now() + absl::Seconds(60));

  // A heartbeat moves the expiry; then the worker goes quiet.
  {
    auto context = Context();
    v1::ExtendLeaseRequest extend;
    extend.set_task_id(old.task_id());
    extend.set_lease_token(old.lease_token());
    *extend.mutable_extend_by() = Seconds(120);
    v1::ExtendLeaseResponse out;
    ASSERT_TRUE(tasks_->ExtendLease(context.get(), extend, &out).ok());
    EXPECT_EQ(TimeOf(out.task().lease_expires_at()), clock_->Now() + absl::Seconds(120));
  }
  clock_->Advance(absl::Seconds(119));
  Tick();
  EXPECT_THAT(ClaimAll("sms", "fast"), IsEmpty());  // still leased
  clock_->Advance(absl::Seconds(1));
  Tick();
  EXPECT_EQ(TaskOf("EXP", v1::TASK_TYPE_SMS_REMINDER).state(), v1::TASK_STATE_READY);

  const std::vector<v1::Task> again = ClaimAll("sms", "fast");
  ASSERT_THAT(again, SizeIs(1));
  EXPECT_EQ(again[0].task_id(), old.task_id());
  EXPECT_NE(again[0].lease_token(), old.lease_token());
  EXPECT_EQ(again[0].attempts(), 2);

  // The old holder is fenced off, whatever it tries.
  v1::CompleteTaskResponse out;
  grpc::Status stale = Complete(old, Sms(true), &out);
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(stale.error_message(), HasSubstr("stale lease token"));
  v1::FailTaskResponse failed;
  EXPECT_EQ(Fail(old, "x", &failed).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Release(old).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::Task unknown = again[0];
  unknown.set_lease_token(987654321);
  EXPECT_EQ(Complete(unknown, Sms(true), &out).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // The new holder completes.
  MustComplete(again[0], Sms(true));
  EXPECT_EQ(TaskOf("EXP", v1::TASK_TYPE_SMS_REMINDER).state(), v1::TASK_STATE_COMPLETED);
}

TEST_P(TaskServiceTest, CompletionIsIdempotentPerRequestId) {
  Import({Mild("DUP")});
  const v1::Task task = ClaimAll("sms").at(0);
  v1::CompleteTaskResponse first, second;
  ASSERT_TRUE(Complete(task, Sms(true), &first, "req-dup").ok());
  EXPECT_FALSE(first.duplicate());
  EXPECT_EQ(first.task().state(), v1::TASK_STATE_COMPLETED);
  const int events = File("DUP").events_size();

  ASSERT_TRUE(Complete(task, Sms(false), &second, "req-dup").ok());
  EXPECT_TRUE(second.duplicate());
  EXPECT_EQ(second.task().task_id(), first.task().task_id());
  EXPECT_EQ(second.case_stage(), first.case_stage());
  EXPECT_EQ(File("DUP").events_size(), events);  // nothing changed

  // Another request id finds the task done.
  v1::CompleteTaskResponse third;
  grpc::Status again = Complete(task, Sms(true), &third, "req-other");
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(again.error_message(), HasSubstr("not leased"));
}

TEST_P(TaskServiceTest, FailuresBackOffThenBecomeAnIncidentForSupervisors) {
  Import({Mild("FAIL")});
  v1::Task task = ClaimAll("sms").at(0);
  v1::FailTaskResponse failed;
  ASSERT_TRUE(Fail(task, "gateway down", &failed, 600).ok());
  EXPECT_EQ(failed.task().state(), v1::TASK_STATE_READY);
  EXPECT_EQ(TimeOf(failed.task().not_before()), clock_->Now() + absl::Seconds(600));
  EXPECT_THAT(failed.task().hold_reason(), HasSubstr("gateway down"));
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());

  // The policy's backoff: 300 s, doubling per attempt; 5 attempts at most.
  clock_->Advance(absl::Seconds(600));
  for (int attempt = 2; attempt <= 4; ++attempt) {
    task = ClaimAll("sms").at(0);
    EXPECT_EQ(task.attempts(), attempt);
    ASSERT_TRUE(Fail(task, "still down", &failed).ok());
    const absl::Duration backoff = absl::Seconds(300) * (1 << (attempt - 1));
    EXPECT_EQ(TimeOf(failed.task().not_before()), clock_->Now() + backoff);
    clock_->Advance(backoff);
  }
  task = ClaimAll("sms").at(0);
  EXPECT_EQ(task.attempts(), 5);
  ASSERT_TRUE(Fail(task, "number unreachable", &failed).ok());
  EXPECT_EQ(failed.task().state(), v1::TASK_STATE_INCIDENT);
  EXPECT_THAT(failed.task().hold_reason(), HasSubstr("incident"));
  clock_->Advance(absl::Hours(48));
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());

  auto context = Context();
  v1::ListTasksRequest list;
  list.add_states(v1::TASK_STATE_INCIDENT);
  v1::ListTasksResponse incidents;
  ASSERT_TRUE(tasks_->ListTasks(context.get(), list, &incidents).ok());
  ASSERT_THAT(incidents.tasks(), SizeIs(1));
  EXPECT_EQ(incidents.tasks(0).task_id(), task.task_id());
  EXPECT_THAT(incidents.tasks(0).hold_reason(), HasSubstr("number unreachable"));
}

TEST_P(TaskServiceTest, ConcurrentClaimersOnTwoReplicasNeverGetTheSameTask) {
  std::vector<v1::DelinquencyRecord> rows;
  for (int i = 0; i < 120; ++i) rows.push_back(Mild(absl::StrCat("CC-", i)));
  Import(rows);
  // A second server on the same database: its own writer (SKIP LOCKED on
  // PostgreSQL, the write lock on SQLite) against the first one's.
  auto replica = server::Server::Start(Config());
  ASSERT_TRUE(replica.ok()) << replica.status();
  const std::vector<std::string> addresses = {server_->address(), (*replica)->address()};

  std::mutex mu;
  std::vector<int64_t> claimed;
  std::vector<std::thread> workers;
  std::atomic<int> errors{0};
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      auto stub = v1::TaskService::NewStub(
          grpc::CreateChannel(addresses[w % 2], grpc::InsecureChannelCredentials()));
      for (;;) {
        auto context = Context();
        v1::ClaimTasksResponse out;
        if (!stub->ClaimTasks(context.get(), ClaimRequest(absl::StrCat("w", w), {"sms"}, 3), &out)
                 .ok()) {
          ++errors;
          return;
        }
        if (out.tasks().empty()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (const v1::Task& t : out.tasks()) claimed.push_back(t.task_id());
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_THAT(claimed, SizeIs(120));
  EXPECT_THAT(std::set<int64_t>(claimed.begin(), claimed.end()), SizeIs(120));
}

TEST_P(TaskServiceTest, BadRequestsAreRefusedWithTheField) {
  v1::ClaimTasksResponse out;
  auto code = [&](const v1::ClaimTasksRequest& r) { return Claim(r, &out).error_code(); };
  EXPECT_EQ(code(ClaimRequest("", {"sms"})), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(ClaimRequest("w", {})), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(ClaimRequest("w", {"sms"}, 0)), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(ClaimRequest("w", {"sms"}, 101)), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(ClaimRequest(std::string(65, 'w'), {"sms"})), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ClaimTasksRequest long_lease = ClaimRequest("w", {"sms"});
  *long_lease.mutable_lease() = Seconds(3601);  // the policy's max_lease_seconds is 3600
  grpc::Status s = Claim(long_lease, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("lease"));
  v1::ClaimTasksRequest bad_type = ClaimRequest("w", {"sms"});
  bad_type.add_task_types(static_cast<v1::TaskType>(99));
  EXPECT_EQ(code(bad_type), grpc::StatusCode::INVALID_ARGUMENT);

  v1::Task nothing;
  nothing.set_task_id(424242);
  v1::CompleteTaskResponse done;
  EXPECT_EQ(Complete(nothing, Sms(true), &done).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Complete(nothing, v1::TaskOutcome(), &done).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  nothing.set_task_id(0);
  EXPECT_EQ(Complete(nothing, Sms(true), &done).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// --- Compliance at claim time ----------------------------------------------------

TEST_P(TaskServiceTest, ContactWindowEdgesInTheBorrowersTimeZone) {
  // 20:59:59 in Shanghai: inside the window; 21:00:00: outside.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 29, 20, 59, 59)));
  Import({Mild("EDGE-IN")});
  EXPECT_THAT(ClaimAll("sms"), SizeIs(1));
  clock_->Set(Local(absl::CivilSecond(2026, 11, 29, 21, 0, 0)));
  Import({Mild("LATE")});
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());

  // Held in its queue with the reason, visible in the case file, until
  // 08:00 the next morning.
  const v1::Task held = TaskOf("LATE", v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_EQ(held.state(), v1::TASK_STATE_READY);
  EXPECT_THAT(held.hold_reason(), HasSubstr("outside the contact window 08:00-21:00"));
  EXPECT_THAT(held.hold_reason(), HasSubstr("Asia/Shanghai"));
  EXPECT_EQ(TimeOf(held.not_before()), Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0)));
  {
    auto context = Context();
    v1::ListTasksRequest list;
    list.set_held_only(true);
    v1::ListTasksResponse out;
    ASSERT_TRUE(tasks_->ListTasks(context.get(), list, &out).ok());
    ASSERT_THAT(out.tasks(), SizeIs(1));
    EXPECT_EQ(out.tasks(0).task_id(), held.task_id());
  }
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 7, 59, 59)));
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0)));
  const std::vector<v1::Task> morning = ClaimAll("sms");
  ASSERT_THAT(morning, SizeIs(1));
  EXPECT_EQ(morning[0].task_id(), held.task_id());
  EXPECT_EQ(morning[0].hold_reason(), "");
}

TEST_P(TaskServiceTest, EachBorrowerIsContactedInTheirOwnTimeZone) {
  // 09:30 in Shanghai is 20:30 the evening before in New York and 01:30 in
  // London: only the Shanghai borrower may be contacted.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 9, 30, 0)));
  Import({Mild("SH", "", "Asia/Shanghai"), Mild("NY", "", "America/New_York"),
          Mild("LDN", "", "Europe/London")});
  std::vector<v1::Task> now = ClaimAll("sms");
  ASSERT_THAT(now, SizeIs(2));  // New York's window closes at 21:00 local
  std::set<int64_t> cases;
  for (const v1::Task& t : now) cases.insert(t.case_id());
  EXPECT_EQ(cases, (std::set<int64_t>{CaseId("SH"), CaseId("NY")}));
  const v1::Task london = TaskOf("LDN", v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_THAT(london.hold_reason(), HasSubstr("Europe/London"));
  EXPECT_EQ(TimeOf(london.not_before()),
            Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0), "Europe/London"));
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0), "Europe/London"));
  EXPECT_THAT(ClaimAll("sms"), SizeIs(1));
}

TEST_P(TaskServiceTest, HeldTasksAtTheHeadOfAQueueDoNotHideTheOnesBehind) {
  // 22:00 in Shanghai, 09:00 in New York. Thirty more urgent (larger)
  // Shanghai cases sit in front of one New York case.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 22, 0, 0)));
  std::vector<v1::DelinquencyRecord> rows;
  for (int i = 0; i < 30; ++i) {
    rows.push_back(Record(absl::StrCat("NIGHT-", i), 10, 4'000 * CNY, "", "Asia/Shanghai"));
  }
  rows.push_back(Record("DAY", 10, 1'000 * CNY, "", "America/New_York"));
  Import(rows);
  v1::ClaimTasksResponse out;
  ASSERT_TRUE(Claim(ClaimRequest("w", {"sms"}, 1), &out).ok());
  ASSERT_THAT(out.tasks(), SizeIs(1));
  EXPECT_EQ(out.tasks(0).case_id(), CaseId("DAY"));
  for (int i = 0; i < 30; ++i) {
    EXPECT_THAT(TaskOf(absl::StrCat("NIGHT-", i), v1::TASK_TYPE_SMS_REMINDER).hold_reason(),
                HasSubstr("outside the contact window"));
  }
}

TEST_P(TaskServiceTest, CaseHoldsStopContactTasksButNotOtherWork) {
  Import({Mild("CEASE"), Mild("DISPUTE")});
  v1::Signal cease;
  cease.mutable_cease_contact()->set_reason("asked in writing");
  Signal("CEASE", cease);
  v1::Signal dispute;
  dispute.mutable_dispute_opened()->set_reason("disputes the penalty");
  Signal("DISPUTE", dispute);
  v1::Signal hardship;
  hardship.mutable_hardship_declared()->set_reason("illness");
  Signal("CEASE", hardship);

  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
  EXPECT_THAT(TaskOf("CEASE", v1::TASK_TYPE_SMS_REMINDER).hold_reason(),
              HasSubstr("cease-contact"));
  EXPECT_THAT(TaskOf("DISPUTE", v1::TASK_TYPE_SMS_REMINDER).hold_reason(),
              HasSubstr("open dispute"));
  // The hardship assessment is not contact: it goes out.
  EXPECT_THAT(ClaimAll("hardship"), SizeIs(1));

  // Resolving the dispute lifts the hold at the next recheck.
  v1::Signal resolved;
  resolved.mutable_dispute_resolved()->set_resolution("penalty correct");
  Signal("DISPUTE", resolved);
  clock_->Advance(absl::Minutes(15));
  const std::vector<v1::Task> after = ClaimAll("sms");
  ASSERT_THAT(after, SizeIs(1));
  EXPECT_EQ(after[0].case_id(), CaseId("DISPUTE"));
}

TEST_P(TaskServiceTest, LiftingAHoldFreesItsTasksAtOnceAndWakesWaitingClaims) {
  Import({Mild("LIFT"), Mild("LIFT-POLL")});
  v1::Signal dispute;
  dispute.mutable_dispute_opened()->set_reason("disputes the penalty");
  Signal("LIFT", dispute);
  Signal("LIFT-POLL", dispute);
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
  for (const char* loan : {"LIFT", "LIFT-POLL"}) {
    EXPECT_EQ(TaskOf(loan, v1::TASK_TYPE_SMS_REMINDER).hold_reason(),
              "open dispute: no contact until it is resolved");
  }

  // Tasks the SLA report counts as held for a dispute.
  auto held_for_dispute = [&] {
    auto stub = v1::ReportService::NewStub(channel_);
    auto context = Context();
    v1::SlaReport report;
    grpc::Status s = stub->SlaBreaches(context.get(), v1::ReportRequest(), &report);
    EXPECT_TRUE(s.ok()) << s.error_message();
    int64_t n = 0;
    for (const v1::HoldRow& h : report.holds()) {
      if (h.reason() == "dispute") n += h.tasks();
    }
    return n;
  };
  EXPECT_EQ(held_for_dispute(), 2);

  // Resolved: at the same instant the task is claimable, its stale reason
  // gone, and the report no longer counts it.
  v1::Signal resolved;
  resolved.mutable_dispute_resolved()->set_resolution("penalty correct");
  Signal("LIFT", resolved);
  EXPECT_EQ(held_for_dispute(), 1);
  const v1::Task freed = TaskOf("LIFT", v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_EQ(freed.state(), v1::TASK_STATE_READY);
  EXPECT_EQ(freed.hold_reason(), "");
  EXPECT_LE(TimeOf(freed.not_before()), clock_->Now());
  const std::vector<v1::Task> now = ClaimAll("sms");
  ASSERT_THAT(now, SizeIs(1));
  EXPECT_EQ(now[0].case_id(), CaseId("LIFT"));

  // A long-polling claim on the queue wakes when the other hold lifts.
  v1::ClaimTasksResponse got;
  std::thread poller([&] {
    v1::ClaimTasksRequest request = ClaimRequest("poller", {"sms"});
    *request.mutable_wait() = Seconds(10);
    ASSERT_TRUE(Claim(request, &got).ok());
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (server_->task_dispatcher()->waiting() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  const absl::Time signalled = absl::Now();
  Signal("LIFT-POLL", resolved);
  poller.join();
  ASSERT_THAT(got.tasks(), SizeIs(1));
  EXPECT_EQ(got.tasks(0).case_id(), CaseId("LIFT-POLL"));
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(5));
}

TEST_P(TaskServiceTest, ALiftedHoldLeavesTheOtherHoldsReason) {
  Import({Mild("TWO")});
  v1::Signal dispute;
  dispute.mutable_dispute_opened()->set_reason("disputes the penalty");
  Signal("TWO", dispute);
  v1::Signal cease;
  cease.mutable_cease_contact()->set_reason("asked in writing");
  Signal("TWO", cease);
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
  v1::Signal resolved;
  resolved.mutable_dispute_resolved()->set_resolution("penalty correct");
  Signal("TWO", resolved);
  // Still held, now for the hold that remains.
  EXPECT_THAT(TaskOf("TWO", v1::TASK_TYPE_SMS_REMINDER).hold_reason(), HasSubstr("cease-contact"));
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
}

// Each RPC that needs a lease says what is wrong with the token it got.
TEST_P(TaskServiceTest, LeaseTokenErrorsSayWhatHappened) {
  Import({Mild("TOK")});
  const v1::Task first = ClaimAll("sms").at(0);
  ASSERT_TRUE(Release(first).ok());
  const v1::Task current = ClaimAll("sms").at(0);
  ASSERT_EQ(current.lease_token(), first.lease_token() + 1);
  v1::Task never = current;
  never.set_lease_token(current.lease_token() + 7);

  auto errors = [&](const v1::Task& t) {
    std::vector<grpc::Status> out;
    v1::CompleteTaskResponse completed;
    out.push_back(Complete(t, Sms(true), &completed));
    v1::FailTaskResponse failed;
    out.push_back(Fail(t, "gateway down", &failed));
    {
      auto context = Context();
      v1::ExtendLeaseRequest extend;
      extend.set_task_id(t.task_id());
      extend.set_lease_token(t.lease_token());
      v1::ExtendLeaseResponse extended;
      out.push_back(tasks_->ExtendLease(context.get(), extend, &extended));
    }
    out.push_back(Release(t));
    return out;
  };
  const std::string id = absl::StrCat("task ", current.task_id());
  for (const grpc::Status& s : errors(never)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(),
                HasSubstr(absl::StrCat(id, ": lease token ", never.lease_token(),
                                       " was never issued (the task's latest is ",
                                       current.lease_token(), ")")));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("leased again")));
  }
  for (const grpc::Status& s : errors(first)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(),
                HasSubstr(absl::StrCat(id, ": stale lease token ", first.lease_token(),
                                       ": the task was leased again since (lease token ",
                                       current.lease_token(), ",")));
  }
  // The current lease runs out: before the reaper has returned the task,
  // and after.
  clock_->Advance(absl::Seconds(301));
  for (const grpc::Status& s : errors(current)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(id, ": lease token ",
                                                          current.lease_token(), " expired at ")));
  }
  Tick();
  for (const grpc::Status& s : errors(current)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(
        s.error_message(),
        HasSubstr(absl::StrCat(id, ": lease token ", current.lease_token(), " is no longer held")));
    EXPECT_THAT(s.error_message(), HasSubstr("READY"));
  }
  // A never-issued token is still called that once the task is done.
  const v1::Task last = ClaimAll("sms").at(0);
  MustComplete(last, Sms(true));
  never.set_lease_token(last.lease_token() + 1);
  for (const grpc::Status& s : errors(never)) {
    EXPECT_THAT(s.error_message(), HasSubstr("was never issued"));
  }
  v1::CompleteTaskResponse out;
  EXPECT_THAT(
      Complete(last, Sms(true), &out).error_message(),
      HasSubstr(absl::StrCat(id, ": already completed under lease token ", last.lease_token())));
}

// --- The connected-call cap under batches and concurrency (default policy:
// at most 3 connected calls and 6 attempts a borrower-local day).

// Connected calls the case files of `loans` record for the borrower.
int ConnectedCallsIn(const std::vector<v1::GetCaseResponse>& files) {
  int connected = 0;
  for (const v1::GetCaseResponse& f : files) {
    for (const v1::CaseEvent& e : f.events()) {
      if (e.has_task_completed() && e.task_completed().outcome().has_call() &&
          e.task_completed().outcome().call().result() == v1::CALL_RESULT_REACHED) {
        ++connected;
      }
    }
  }
  return connected;
}

TEST_P(TaskServiceTest, OneBatchNeverHandsOutMoreCallsThanTheConnectedCap) {
  std::vector<v1::DelinquencyRecord> loans;
  for (int i = 0; i < 4; ++i) loans.push_back(Moderate(absl::StrCat("ONE-", i), "B-ONE"));
  Import(loans);
  v1::ClaimTasksResponse out;
  ASSERT_TRUE(Claim(ClaimRequest("agent", {"call.counselling"}, 20), &out).ok());
  ASSERT_THAT(out.tasks(), SizeIs(3));  // the fourth would be a fourth connection
  std::string held_loan;
  for (int i = 0; i < 4; ++i) {
    const v1::Task t = TaskOf(absl::StrCat("ONE-", i), v1::TASK_TYPE_COUNSELLING_CALL);
    if (t.state() != v1::TASK_STATE_READY) continue;
    held_loan = absl::StrCat("ONE-", i);
    EXPECT_THAT(t.hold_reason(), HasSubstr("0 connected calls today + 3 not yet reported (cap 3)"));
  }
  ASSERT_FALSE(held_loan.empty());
  EXPECT_THAT(ClaimAll("call.counselling"), IsEmpty());

  // Two connect, one does not: that frees its reservation.
  MustComplete(out.tasks(0), Call(v1::CALL_RESULT_REACHED));
  MustComplete(out.tasks(1), Call(v1::CALL_RESULT_REACHED));
  EXPECT_THAT(ClaimAll("call.counselling"), IsEmpty());
  MustComplete(out.tasks(2), Call(v1::CALL_RESULT_NO_ANSWER));
  // The held call is looked at again a minute after it was held.
  clock_->Advance(absl::Minutes(1));
  const std::vector<v1::Task> fourth = ClaimAll("call.counselling");
  ASSERT_THAT(fourth, SizeIs(1));
  MustComplete(fourth[0], Call(v1::CALL_RESULT_REACHED));

  std::vector<v1::GetCaseResponse> files;
  for (int i = 0; i < 4; ++i) files.push_back(File(absl::StrCat("ONE-", i)));
  EXPECT_EQ(ConnectedCallsIn(files), 3);
}

TEST_P(TaskServiceTest, ACallWhoseLeaseLapsedUnreportedKeepsItsReservation) {
  std::vector<v1::DelinquencyRecord> loans;
  for (int i = 0; i < 4; ++i) loans.push_back(Moderate(absl::StrCat("LAP-", i), "B-LAP"));
  Import(loans);
  const std::vector<v1::Task> calls = ClaimAll("call.counselling");
  ASSERT_THAT(calls, SizeIs(3));
  MustComplete(calls[0], Call(v1::CALL_RESULT_REACHED));
  MustComplete(calls[1], Call(v1::CALL_RESULT_REACHED));
  // Nobody says how the third ended; its lease lapses and it goes back.
  clock_->Advance(absl::Seconds(301));
  Tick();
  // It may have connected: neither it nor the fourth goes out today.
  EXPECT_THAT(ClaimAll("call.counselling"), IsEmpty());
  // The next local day counts afresh; a released call was never made, so
  // its reservation goes with it.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 9, 0, 0)));
  const std::vector<v1::Task> next_day = ClaimAll("call.counselling");
  ASSERT_THAT(next_day.size(), ::testing::AllOf(::testing::Ge(2u), ::testing::Le(3u)));
  for (const v1::Task& t : next_day) ASSERT_TRUE(Release(t).ok());
  EXPECT_THAT(ClaimAll("call.counselling"), SizeIs(next_day.size()));
}

TEST_P(TaskServiceTest, ConcurrentClaimersOnTwoReplicasHoldTheConnectedCap) {
  std::vector<v1::DelinquencyRecord> loans;
  for (int i = 0; i < 12; ++i) loans.push_back(Moderate(absl::StrCat("CON-", i), "B-CON"));
  Import(loans);
  // Two servers on one database: on PostgreSQL two writers whose claims
  // run in parallel transactions.
  auto replica = server::Server::Start(Config());
  ASSERT_TRUE(replica.ok()) << replica.status();
  const std::vector<std::string> addresses = {server_->address(), (*replica)->address()};

  std::mutex mu;
  std::vector<int64_t> handed_out;
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      auto stub = v1::TaskService::NewStub(
          grpc::CreateChannel(addresses[w % 2], grpc::InsecureChannelCredentials()));
      for (int round = 0; round < 6; ++round) {
        auto context = Context();
        v1::ClaimTasksResponse out;
        grpc::Status s = stub->ClaimTasks(
            context.get(), ClaimRequest(absl::StrCat("agent-", w), {"call.counselling"}, 1 + w % 3),
            &out);
        if (!s.ok()) {
          ++errors;
          return;
        }
        for (const v1::Task& t : out.tasks()) {
          {
            std::lock_guard<std::mutex> lock(mu);
            handed_out.push_back(t.task_id());
          }
          auto done_context = Context();
          v1::CompleteTaskRequest request;
          request.set_task_id(t.task_id());
          request.set_lease_token(t.lease_token());
          request.set_request_id(absl::StrCat("r-", t.task_id()));
          *request.mutable_outcome() = Call(v1::CALL_RESULT_REACHED);
          v1::CompleteTaskResponse done;
          if (!stub->CompleteTask(done_context.get(), request, &done).ok()) ++errors;
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_THAT(handed_out, SizeIs(3));
  std::vector<v1::GetCaseResponse> files;
  for (int i = 0; i < 12; ++i) files.push_back(File(absl::StrCat("CON-", i)));
  EXPECT_EQ(ConnectedCallsIn(files), 3);
}

// Small caps, so that a test reaches them with a few calls.
class CallCapTest : public TaskServiceTest {
 protected:
  void AdjustPolicy(v1::Policy& policy) const override {
    v1::ContactRules& c = *policy.mutable_contact();
    c.set_max_connected_calls_per_day(2);
    c.set_max_call_attempts_per_day(3);
    c.set_max_call_attempts_per_7_days(4);
    for (auto& cp : *policy.mutable_classes()) {
      for (auto& a : *cp.mutable_actions()) a.set_start_after_days(0);
    }
  }
};

TEST_P(CallCapTest, CallCapsPerBorrowerPerDayAndPerSevenDays) {
  // One borrower with six loans: six reminder calls, all for the same person.
  std::vector<v1::DelinquencyRecord> loans;
  for (int i = 0; i < 6; ++i) loans.push_back(Mild(absl::StrCat("CAP-", i), "B-SAME"));
  loans.push_back(Mild("OTHER", "B-OTHER"));
  Import(loans);

  // Two may connect a day: one claim hands out two of the borrower's calls
  // (each reserves a connection until it is reported), and the other
  // borrower's call.
  std::vector<v1::Task> first = ClaimAll("call.early");
  ASSERT_THAT(first, SizeIs(3));
  int held = 0;
  for (int i = 0; i < 6; ++i) {
    const v1::Task t = TaskOf(absl::StrCat("CAP-", i), v1::TASK_TYPE_REMINDER_CALL);
    if (t.state() == v1::TASK_STATE_READY) {
      ++held;
      EXPECT_THAT(t.hold_reason(),
                  HasSubstr("0 connected calls today + 2 not yet reported (cap 2)"));
    }
  }
  EXPECT_EQ(held, 4);
  // One connects, one does not: that one's reservation frees a third
  // attempt, which connects.
  int reached = 0;
  for (const v1::Task& t : first) {
    if (t.case_id() == CaseId("OTHER")) continue;
    MustComplete(t, Call(reached++ < 1 ? v1::CALL_RESULT_REACHED : v1::CALL_RESULT_REFUSED));
  }
  clock_->Advance(absl::Minutes(1));  // held calls are looked at again
  const std::vector<v1::Task> third = ClaimAll("call.early");
  ASSERT_THAT(third, SizeIs(1));
  MustComplete(third[0], Call(v1::CALL_RESULT_REACHED));
  EXPECT_THAT(ClaimAll("call.early"), IsEmpty());
  const v1::Task waiting = TaskOf("CAP-5", v1::TASK_TYPE_REMINDER_CALL);
  EXPECT_THAT(waiting.hold_reason(), HasSubstr("2 connected calls today (cap 2)"));
  // The next local day's window opening.
  EXPECT_EQ(TimeOf(waiting.not_before()), Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0)));

  // Next day: one more attempt fits in the 7-day cap of four.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0)));
  std::vector<v1::Task> second = ClaimAll("call.early");
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_EQ(MustComplete(second[0], Call(v1::CALL_RESULT_NO_ANSWER)), v1::STAGE_REMINDER);
  EXPECT_THAT(ClaimAll("call.early"), IsEmpty());
  EXPECT_THAT(TaskOf("CAP-5", v1::TASK_TYPE_REMINDER_CALL).hold_reason(),
              HasSubstr("call attempts in 7 days (cap 4)"));
  // The 7 days are the local day and the six before it: on 12-05 the first
  // day's calls still count, on 12-06 they no longer do.
  clock_->Set(Local(absl::CivilSecond(2026, 12, 5, 8, 0, 0)));
  EXPECT_THAT(ClaimAll("call.early"), IsEmpty());
  clock_->Set(Local(absl::CivilSecond(2026, 12, 6, 8, 0, 0)));
  std::vector<v1::Task> later = ClaimAll("call.early");
  EXPECT_THAT(later, SizeIs(2));  // the day's connected cap again
  // Released calls were never made: they give their attempts back.
  for (const v1::Task& t : later) ASSERT_TRUE(Release(t).ok());
  EXPECT_THAT(ClaimAll("call.early"), SizeIs(2));
}

COLLECTIONS_INSTANTIATE_BACKENDS(TaskServiceTest);
COLLECTIONS_INSTANTIATE_BACKENDS(EveryTaskTypeTest);
COLLECTIONS_INSTANTIATE_BACKENDS(CallCapTest);

}  // namespace
}  // namespace collections
