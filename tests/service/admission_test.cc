// Admission control and abandoned calls, through real gRPC: past the
// writer's bound an RPC is answered RESOURCE_EXHAUSTED at once with a
// back-off hint and changes nothing; a call whose deadline passed, or that
// was cancelled, while its command waited for the writer changes nothing.
// The executor's own bound is checked directly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "server/executor.h"
#include "server/server.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"

namespace collections {
namespace {

using ::testing::HasSubstr;

v1::Signal Note(const std::string& text) {
  v1::Signal signal;
  signal.mutable_note()->set_text(text);
  return signal;
}

class AdmissionTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // Its commands would take the writer's one place.
    ASSERT_TRUE(server_->WaitForCatchUp(absl::Seconds(60)));
    cases_ = v1::CaseService::NewStub(channel_);
    v1::ImportDelinquenciesResponse imported;
    ASSERT_TRUE(testing::ImportRecords(
                    *cases_, {testing::FeedRecord("L1", 40, 5000 * testing::CNY)}, &imported)
                    .ok());
    v1::GetCaseResponse file;
    ASSERT_TRUE(testing::GetCaseFile(*cases_, "L1", &file).ok());
    case_id_ = file.case_().case_id();
    events_before_ = file.events_size();
  }

  void TearDown() override {
    ReleaseWriter();
    ServerFixture::TearDown();
  }

  server::ServerConfig Config() const override {
    server::ServerConfig config = ServerFixture::Config();
    config.max_queued_writes = 1;
    // One writer, which the tests hold busy (PostgreSQL would otherwise run
    // the queued commands on its other writers).
    config.db_writers = 1;
    config.lease_reap_interval = absl::Hours(1);  // no reap takes the one place
    return config;
  }

  // Holds the writer thread inside a command until ReleaseWriter().
  void HoldWriter() {
    auto entered = std::make_shared<absl::Notification>();
    server_->store()->Submit(
        [entered, released = released_](storage::UnitOfWork&) {
          entered->Notify();
          released->WaitForNotification();
          return absl::OkStatus();
        },
        [](absl::Status) {});
    ASSERT_TRUE(entered->WaitForNotificationWithTimeout(absl::Seconds(30)));
  }
  void ReleaseWriter() {
    if (!released_->HasBeenNotified()) released_->Notify();
  }
  // Polls until `n` commands wait for the writer.
  void AwaitQueued(int n) {
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (server_->store()->writer_stats().queued_commands != n && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));  // polling for a state, not for time
    }
    ASSERT_EQ(server_->store()->writer_stats().queued_commands, n);
  }
  // Lets every queued command run, then counts the case's events.
  int EventsAfterDrain() {
    ReleaseWriter();
    AwaitQueued(0);  // the one place is free again
    EXPECT_TRUE(
        server_->store()->Write([](storage::UnitOfWork&) { return absl::OkStatus(); }).ok());
    v1::GetCaseResponse file;
    EXPECT_TRUE(testing::GetCaseFile(*cases_, "L1", &file).ok());
    return file.events_size();
  }

  // Starts SignalCase without waiting for it; `done` is notified with the
  // status in `status`.
  void StartSignal(grpc::ClientContext* context, v1::SignalCaseRequest* request,
                   v1::SignalCaseResponse* response, grpc::Status* status,
                   absl::Notification* done) {
    request->set_case_id(case_id_);
    *request->mutable_signal() = Note("queued");
    request->set_request_id(testing::FreshRequestId());
    cases_->async()->SignalCase(context, request, response, [status, done](grpc::Status s) {
      *status = std::move(s);
      done->Notify();
    });
  }

  std::unique_ptr<v1::CaseService::Stub> cases_;
  int64_t case_id_ = 0;
  int events_before_ = 0;
  std::shared_ptr<absl::Notification> released_ = std::make_shared<absl::Notification>();
};

TEST_P(AdmissionTest, PastTheWriterBoundAWriteIsRefusedAtOnceAndChangesNothing) {
  HoldWriter();
  // The one place in the queue.
  auto first_context = Context();
  v1::SignalCaseRequest first_request;
  v1::SignalCaseResponse first_response;
  grpc::Status first_status;
  absl::Notification first_done;
  StartSignal(first_context.get(), &first_request, &first_response, &first_status, &first_done);
  AwaitQueued(1);

  // The writer is still held: the answer comes at once, not after it.
  auto context = Context();
  v1::SignalCaseRequest request;
  request.set_case_id(case_id_);
  *request.mutable_signal() = Note("refused");
  request.set_request_id(testing::FreshRequestId());
  v1::SignalCaseResponse response;
  grpc::Status refused = cases_->SignalCase(context.get(), request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("back off 1s before retrying"));
  const auto& trailers = context->GetServerTrailingMetadata();
  auto pushback = trailers.find("grpc-retry-pushback-ms");
  ASSERT_NE(pushback, trailers.end());
  EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()), "1000");
  EXPECT_EQ(server_->store()->writer_stats().rejected_commands, 1);

  EXPECT_EQ(EventsAfterDrain(), events_before_ + 1);  // the queued one only
  ASSERT_TRUE(first_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(first_status.ok()) << first_status.error_message();
}

TEST_P(AdmissionTest, ACallWhoseDeadlinePassedWhileQueuedChangesNothing) {
  HoldWriter();
  auto context = Context(absl::Milliseconds(500));
  v1::SignalCaseRequest request;
  v1::SignalCaseResponse response;
  grpc::Status status;
  absl::Notification done;
  StartSignal(context.get(), &request, &response, &status, &done);
  AwaitQueued(1);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's deadline is the client's plus the request's trip: a
  // margin for it before the command runs.
  absl::SleepFor(absl::Milliseconds(100));

  EXPECT_EQ(EventsAfterDrain(), events_before_);
  // A retry with the same request_id is a new request: it was never applied.
  v1::SignalCaseResponse again;
  grpc::Status retried =
      testing::SignalCase(*cases_, case_id_, Note("queued"), &again, request.request_id());
  EXPECT_TRUE(retried.ok()) << retried.error_message();
}

TEST_P(AdmissionTest, ACallCancelledWhileQueuedChangesNothing) {
  HoldWriter();
  auto context = Context();
  v1::SignalCaseRequest request;
  v1::SignalCaseResponse response;
  grpc::Status status;
  absl::Notification done;
  StartSignal(context.get(), &request, &response, &status, &done);
  AwaitQueued(1);
  context->TryCancel();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  // The cancellation's trip to the server.
  absl::SleepFor(absl::Milliseconds(100));

  EXPECT_EQ(EventsAfterDrain(), events_before_);
}

COLLECTIONS_INSTANTIATE_BACKENDS(AdmissionTest);

TEST(ExecutorTest, RefusesWorkPastItsBoundAtOnce) {
  absl::Notification release;
  absl::Notification running;
  std::atomic<bool> ran{false};
  {
    server::Executor executor(1, /*max_queued=*/1);
    ASSERT_TRUE(executor
                    .TrySchedule([&] {
                      running.Notify();
                      release.WaitForNotification();
                    })
                    .ok());
    running.WaitForNotification();
    ASSERT_TRUE(executor.TrySchedule([&] { ran = true; }).ok());  // queued
    absl::Status refused = executor.TrySchedule([] { ADD_FAILURE() << "ran past the bound"; });
    EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(std::string(refused.message()), HasSubstr("back off 1s before retrying"));
    EXPECT_EQ(executor.queued(), 1);
    executor.Schedule([] {});  // the server's own work is never refused
    EXPECT_EQ(executor.queued(), 2);
    release.Notify();
  }  // runs what was queued
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace collections
