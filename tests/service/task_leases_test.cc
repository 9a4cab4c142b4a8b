// TaskService through real gRPC on SQLite and PostgreSQL: leases that
// expire and fencing tokens, idempotent completions, failures, retries and
// incidents, concurrent claimers, bad requests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/logging.h"
#include "tests/service/task_service_fixture.h"

namespace collections::task_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using testing::TimeOf;

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
    auto context = testing::HolderContext(old);
    v1::ExtendLeaseRequest extend;
    extend.set_task_id(old.task_id());
    extend.set_lease_token(old.lease_token());
    extend.set_lease_key(old.lease_key());
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

// Issue 12: the lease token is a counter anyone can guess; a holder also
// presents the lease's secret key, which only the claim returned. A wrong or
// missing key is refused, never repeated, and changes nothing.
TEST_P(TaskServiceTest, ALeaseNeedsItsSecretKeyAndAWrongOneChangesNothing) {
  Import({Mild("KEY")});
  // Everything the server logs, at its most verbose, from the claim on.
  server::SetMinLogLevel(server::LogLevel::kDebug);
  ::testing::internal::CaptureStderr();
  const v1::Task task = ClaimAll("sms").at(0);
  ASSERT_EQ(task.lease_key().size(), 22u);  // 128 bits, base64url
  // Nothing else hands the key out.
  EXPECT_EQ(TaskOf("KEY", v1::TASK_TYPE_SMS_REMINDER).lease_key(), "");

  v1::Task guessed = task;
  guessed.set_lease_key("AAAAAAAAAAAAAAAAAAAAAA");
  v1::Task missing = task;
  missing.clear_lease_key();
  for (const v1::Task& wrong : {guessed, missing}) {
    v1::CompleteTaskResponse out;
    grpc::Status s = Complete(wrong, Sms(true), &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("lease key does not match"));
    EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr(task.lease_key())));
    v1::FailTaskResponse failed;
    EXPECT_EQ(Fail(wrong, "x", &failed).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(Release(wrong).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    auto context = testing::HolderContext(wrong);
    v1::ExtendLeaseRequest extend;
    extend.set_task_id(wrong.task_id());
    extend.set_lease_token(wrong.lease_token());
    extend.set_lease_key(wrong.lease_key());
    *extend.mutable_extend_by() = Seconds(120);
    v1::ExtendLeaseResponse extended;
    EXPECT_EQ(tasks_->ExtendLease(context.get(), extend, &extended).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  const v1::Task now = TaskOf("KEY", v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_EQ(now.state(), v1::TASK_STATE_LEASED);
  EXPECT_EQ(now.attempts(), 1);
  EXPECT_EQ(TimeOf(now.lease_expires_at()), TimeOf(task.lease_expires_at()));

  // The holder with the key completes.
  MustComplete(task, Sms(true));
  EXPECT_EQ(TaskOf("KEY", v1::TASK_TYPE_SMS_REMINDER).state(), v1::TASK_STATE_COMPLETED);
  const std::string logged = ::testing::internal::GetCapturedStderr();
  server::SetMinLogLevel(server::LogLevel::kInfo);
  EXPECT_THAT(logged, ::testing::Not(HasSubstr(task.lease_key())));
}

TEST_P(TaskServiceTest, CompletionIsIdempotentPerRequestId) {
  Import({Mild("DUP")});
  const v1::Task task = ClaimAll("sms").at(0);
  v1::CompleteTaskResponse first, second;
  ASSERT_TRUE(Complete(task, Sms(true), &first, "req-dup").ok());
  EXPECT_FALSE(first.duplicate());
  EXPECT_EQ(first.task().state(), v1::TASK_STATE_COMPLETED);
  const int events = File("DUP").events_size();

  ASSERT_TRUE(Complete(task, Sms(true), &second, "req-dup").ok());
  EXPECT_TRUE(second.duplicate());
  EXPECT_EQ(second.task().task_id(), first.task().task_id());
  EXPECT_EQ(second.case_stage(), first.case_stage());
  EXPECT_EQ(File("DUP").events_size(), events);  // nothing changed

  // The same request id with another outcome is another request: refused.
  v1::CompleteTaskResponse changed;
  grpc::Status refused = Complete(task, Sms(false), &changed, "req-dup");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.error_message(), "request_id req-dup was already used for a different request");
  EXPECT_EQ(File("DUP").events_size(), events);

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
      auto stub = v1::TaskService::NewStub(testing::TestChannel(addresses[w % 2]));
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

}  // namespace
}  // namespace collections::task_test
