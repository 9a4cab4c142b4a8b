// TaskService through real gRPC on SQLite and PostgreSQL: long-poll claims
// and the claim stream, woken by new, released and expired tasks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <thread>

#include "tests/service/task_service_fixture.h"

namespace collections::task_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

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

// Opens a StreamTasks stream on the sms queue as gateway-1, with `credits`.
std::unique_ptr<grpc::ClientReaderWriter<v1::StreamTasksRequest, v1::StreamTasksResponse>>
OpenSmsStream(v1::TaskService::Stub& tasks, grpc::ClientContext* context, int credits) {
  auto stream = tasks.StreamTasks(context);
  v1::StreamTasksRequest hello;
  hello.set_worker_id("gateway-1");
  hello.add_queues("sms");
  hello.set_credits(credits);
  EXPECT_TRUE(stream->Write(hello));
  return stream;
}

TEST_P(TaskServiceTest, StreamPushesTasksAsCreditsAllow) {
  auto context = ContextAs("gateway-1", "agent");
  auto stream = OpenSmsStream(*tasks_, context.get(), 2);

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

// A stream whose claim emptied its queue waits for the next ready task
// instead of claiming again at once (on SQLite, whose one writer knows
// nothing was skipped): one claim per pushed task, not two.
TEST_P(TaskServiceTest, AStreamThatEmptiedItsQueueWaitsWithoutClaimingAgain) {
  // The start-up's catch-up writes too: done before the commands are counted.
  ASSERT_TRUE(server_->WaitForCatchUp(absl::Seconds(60)));
  auto context = ContextAs("gateway-1", "agent");
  auto stream = OpenSmsStream(*tasks_, context.get(), 5);
  // Readiness, not time: until the stream's wait is registered.
  auto waiting = [&] {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (server_->task_dispatcher()->waiting() == 0 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ(server_->task_dispatcher()->waiting(), 1u);
  };
  waiting();
  storage::Store* store = server_->store();
  const int64_t before = store->writer_stats().commands;
  Import({Mild("DRAIN-1")});
  v1::StreamTasksResponse pushed;
  ASSERT_TRUE(stream->Read(&pushed));
  waiting();
  // The import's command and the claim that leased its task; on
  // PostgreSQL (SKIP LOCKED may hide rows) one more claim that found nothing.
  EXPECT_EQ(store->writer_stats().commands - before,
            store->backend() == storage::Backend::kSqlite ? 2 : 3);
  EXPECT_EQ(pushed.task().case_id(), CaseId("DRAIN-1"));  // a read the audit log records

  // Waiting, it still takes the next task at once.
  Import({Mild("DRAIN-2")});
  ASSERT_TRUE(stream->Read(&pushed));
  EXPECT_EQ(pushed.task().case_id(), CaseId("DRAIN-2"));
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

// --- Complete and claim the next task in one call ------------------------------

// CompleteTask of an SMS with claim_next, as the worker `task` is leased to.
grpc::Status CompleteAndClaim(v1::TaskService::Stub& tasks, const v1::Task& task,
                              const std::string& request_id, const v1::ClaimTasksRequest& next,
                              v1::CompleteTaskResponse* out) {
  return testing::CompleteTask(tasks, task, Sms(true), request_id, out, &next);
}

TEST_P(TaskServiceTest, CompletingWithClaimNextLeasesTheNextTaskInTheSameCall) {
  Import({Mild("NEXT-1"), Mild("NEXT-2"), Mild("NEXT-3")});
  v1::ClaimTasksResponse first;
  ASSERT_TRUE(Claim(ClaimRequest("agent-a", {"sms"}, 1), &first).ok());
  ASSERT_THAT(first.tasks(), SizeIs(1));
  const v1::ClaimTasksRequest next = ClaimRequest("agent-a", {"sms"}, 1);

  std::set<int64_t> seen = {first.tasks(0).task_id()};
  v1::Task current = first.tasks(0);
  for (int i = 0; i < 2; ++i) {
    v1::CompleteTaskResponse out;
    grpc::Status s = CompleteAndClaim(*tasks_, current, absl::StrCat("chain-", i), next, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(out.task().state(), v1::TASK_STATE_COMPLETED);
    ASSERT_THAT(out.next_tasks(), SizeIs(1)) << out.DebugString();
    const v1::Task& got = out.next_tasks(0);
    EXPECT_EQ(got.state(), v1::TASK_STATE_LEASED);
    EXPECT_EQ(got.lease_owner(), "agent-a");
    EXPECT_FALSE(got.lease_key().empty());
    EXPECT_FALSE(got.payload().phone().empty()) << got.DebugString();
    EXPECT_TRUE(seen.insert(got.task_id()).second) << "task " << got.task_id() << " again";

    // A repeat answers the same next task, still leased, payload and all.
    v1::CompleteTaskResponse again;
    s = CompleteAndClaim(*tasks_, current, absl::StrCat("chain-", i), next, &again);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(again.duplicate());
    ASSERT_THAT(again.next_tasks(), SizeIs(1));
    EXPECT_EQ(again.next_tasks(0).task_id(), got.task_id());
    EXPECT_EQ(again.next_tasks(0).lease_token(), got.lease_token());
    EXPECT_EQ(again.next_tasks(0).lease_key(), got.lease_key());
    EXPECT_FALSE(again.next_tasks(0).payload().phone().empty());
    current = got;
  }
  // The last one: nothing left to claim, and the completion stands.
  v1::CompleteTaskResponse last;
  grpc::Status s = CompleteAndClaim(*tasks_, current, "chain-last", next, &last);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(last.task().state(), v1::TASK_STATE_COMPLETED);
  EXPECT_THAT(last.next_tasks(), IsEmpty());
  for (const std::string loan : {"NEXT-1", "NEXT-2", "NEXT-3"}) {
    EXPECT_EQ(TaskOf(loan, v1::TASK_TYPE_SMS_REMINDER).state(), v1::TASK_STATE_COMPLETED) << loan;
  }
}

TEST_P(TaskServiceTest, ABadClaimNextIsRefusedAndCompletesNothing) {
  Import({Mild("NEXT-BAD-1"), Mild("NEXT-BAD-2")});
  v1::ClaimTasksResponse first;
  ASSERT_TRUE(Claim(ClaimRequest("agent-b", {"sms"}, 1), &first).ok());
  ASSERT_THAT(first.tasks(), SizeIs(1));
  const v1::Task task = first.tasks(0);

  v1::ClaimTasksRequest waits = ClaimRequest("agent-b", {"sms"}, 1);
  *waits.mutable_wait() = Seconds(5);
  v1::ClaimTasksRequest none = ClaimRequest("agent-b", {"sms"}, 0);
  v1::ClaimTasksRequest no_queue = ClaimRequest("agent-b", {}, 1);
  for (const v1::ClaimTasksRequest& bad : {waits, none, no_queue}) {
    v1::CompleteTaskResponse out;
    grpc::Status s = CompleteAndClaim(*tasks_, task, "bad-next", bad, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.DebugString();
    EXPECT_THAT(s.error_message(), HasSubstr("claim_next.")) << s.error_message();
  }
  // Nothing completed, nothing else leased: the lease still completes.
  int leased = 0;
  for (const std::string loan : {"NEXT-BAD-1", "NEXT-BAD-2"}) {
    leased += TaskOf(loan, v1::TASK_TYPE_SMS_REMINDER).state() == v1::TASK_STATE_LEASED;
  }
  EXPECT_EQ(leased, 1);
  v1::CompleteTaskResponse done;
  grpc::Status s = Complete(task, Sms(true), &done, "bad-next");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(done.duplicate());
  EXPECT_THAT(done.next_tasks(), IsEmpty());
}

}  // namespace
}  // namespace collections::task_test
