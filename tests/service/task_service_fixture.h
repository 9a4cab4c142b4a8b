// The TaskService tests' shared fixture: TaskServiceTest (the server on a
// policy file a derived fixture may adjust, with the fake clock; expiry runs
// through Tick()), the feed rows of each class and the task outcomes. The
// tests are split by topic: task_service_test.cc (every task type, one case
// through the stages), task_claims_test.cc (long-poll and push),
// task_leases_test.cc (leases, idempotency, failures, concurrent claimers,
// bad requests), task_compliance_test.cc (contact windows, time zones,
// holds, lease-token errors), task_call_caps_test.cc (the call caps).
#ifndef COLLECTIONS_TESTS_SERVICE_TASK_SERVICE_FIXTURE_H_
#define COLLECTIONS_TESTS_SERVICE_TASK_SERVICE_FIXTURE_H_

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "server/task_dispatcher.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"
#include "workflow/policy.h"

namespace collections::task_test {

using testing::CNY;
using testing::kToday;
using testing::Seconds;

inline v1::DelinquencyRecord Record(const std::string& loan, int dpd, int64_t overdue_fen,
                                    const std::string& borrower = "", const std::string& tz = "") {
  v1::DelinquencyRecord r;
  r.set_loan_id(loan);
  *r.mutable_as_of() = workflow::DayToProto(kToday);
  *r.mutable_oldest_unpaid_due_date() = workflow::DayToProto(kToday - dpd);
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
inline v1::DelinquencyRecord Mild(const std::string& loan, const std::string& borrower = "",
                                  const std::string& tz = "") {
  return Record(loan, 10, 3'000 * CNY, borrower, tz);
}
inline v1::DelinquencyRecord Moderate(const std::string& loan, const std::string& borrower = "") {
  return Record(loan, 45, 3'000 * CNY, borrower);
}
inline v1::DelinquencyRecord Severe(const std::string& loan) {
  return Record(loan, 120, 30'000 * CNY);
}

// Outcomes.
inline v1::TaskOutcome Call(v1::CallResult result) {
  v1::TaskOutcome o;
  o.mutable_call()->set_result(result);
  o.mutable_call()->set_right_party_contact(result == v1::CALL_RESULT_REACHED);
  return o;
}
inline v1::TaskOutcome Sms(bool delivered) {
  v1::TaskOutcome o;
  o.mutable_sms()->set_delivered(delivered);
  o.mutable_sms()->set_gateway_reference("gw-1");
  return o;
}
inline v1::TaskOutcome Visit(v1::VisitResult result) {
  v1::TaskOutcome o;
  o.mutable_visit()->set_result(result);
  return o;
}
inline v1::TaskOutcome Letter(bool sent) {
  v1::TaskOutcome o;
  o.mutable_letter()->set_sent(sent);
  if (sent) o.mutable_letter()->set_reference("EMS-0001");
  return o;
}
inline v1::TaskOutcome Hardship(bool genuine) {
  v1::TaskOutcome o;
  o.mutable_hardship_assessment()->set_genuine(genuine);
  o.mutable_hardship_assessment()->set_assessment("payslips checked");
  return o;
}
inline v1::TaskOutcome Review(const std::string& decision, bool write_off) {
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
    v1::ImportDelinquenciesResponse response;
    grpc::Status status = testing::ImportRecords(*cases_, rows, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }

  v1::GetCaseResponse File(const std::string& loan) {
    v1::GetCaseResponse out;
    grpc::Status s = testing::GetCaseFile(*cases_, loan, &out);
    EXPECT_TRUE(s.ok()) << loan << ": " << s.error_message();
    return out;
  }
  int64_t CaseId(const std::string& loan) { return File(loan).case_().case_id(); }

  void Signal(const std::string& loan, const v1::Signal& signal) {
    v1::SignalCaseResponse out;
    grpc::Status s = testing::SignalCase(*cases_, CaseId(loan), signal, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Moves the business date and the clock on by `days` whole days.
  void AdvanceDays(int days) {
    clock_->Advance(absl::Hours(24) * days);
    business_date_ += days;
    v1::AdvanceBusinessDateResponse response;
    grpc::Status s = testing::AdvanceBusinessDate(*cases_, business_date_, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // --- Tasks ---------------------------------------------------------------
  grpc::Status Claim(const v1::ClaimTasksRequest& request, v1::ClaimTasksResponse* out,
                     absl::Duration timeout = absl::Seconds(30)) {
    // A worker claims as itself (an agent): the lease is that principal's.
    auto context = request.worker_id().empty() ? Context(timeout)
                                               : ContextAs(request.worker_id(), "agent", timeout);
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
    return testing::ClaimTaskOfCase(*tasks_, "w1", queue, case_id);
  }

  grpc::Status Complete(const v1::Task& task, const v1::TaskOutcome& outcome,
                        v1::CompleteTaskResponse* out, const std::string& request_id = "") {
    return testing::CompleteTask(
        *tasks_, task, outcome,
        request_id.empty() ? absl::StrCat("req-", ++request_counter_) : request_id, out);
  }

  v1::Stage MustComplete(const v1::Task& task, const v1::TaskOutcome& outcome) {
    v1::CompleteTaskResponse out;
    grpc::Status s = Complete(task, outcome, &out);
    EXPECT_TRUE(s.ok()) << v1::TaskType_Name(task.type()) << ": " << s.error_message();
    return out.case_stage();
  }

  grpc::Status Release(const v1::Task& task, v1::ReleaseTaskResponse* out = nullptr) {
    auto context = testing::HolderContext(task);
    v1::ReleaseTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_token(task.lease_token());
    request.set_lease_key(task.lease_key());
    v1::ReleaseTaskResponse ignored;
    return tasks_->ReleaseTask(context.get(), request, out ? out : &ignored);
  }

  grpc::Status Fail(const v1::Task& task, const std::string& reason, v1::FailTaskResponse* out,
                    std::optional<int64_t> retry_after_s = std::nullopt) {
    auto context = testing::HolderContext(task);
    v1::FailTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_token(task.lease_token());
    request.set_lease_key(task.lease_key());
    request.set_reason(reason);
    if (retry_after_s) *request.mutable_retry_after() = Seconds(*retry_after_s);
    return tasks_->FailTask(context.get(), request, out);
  }

  // The case's open task of `type` (ready, leased or an incident), else its
  // last one. Not simply the highest task id: on PostgreSQL each writer of
  // the pool hands out ids from a block of its own, so a later task may
  // have a lower id (a call's retry did, now and then, in CI).
  v1::Task TaskOf(const std::string& loan, v1::TaskType type) {
    v1::Task found;
    bool open_found = false;
    const v1::GetCaseResponse file = File(loan);
    for (const v1::Task& t : file.tasks()) {
      if (t.type() != type) continue;
      const bool open = t.state() == v1::TASK_STATE_READY || t.state() == v1::TASK_STATE_LEASED ||
                        t.state() == v1::TASK_STATE_INCIDENT;
      if (open || !open_found) found = t;
      open_found = open_found || open;
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

}  // namespace collections::task_test

#endif  // COLLECTIONS_TESTS_SERVICE_TASK_SERVICE_FIXTURE_H_
