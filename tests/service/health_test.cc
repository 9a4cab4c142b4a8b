// Health that tells the truth, through real gRPC: NOT_SERVING while the
// database cannot be written (a SQLite database on a small tmpfs the test
// mounts and fills), SERVING again once a probe write succeeds; the
// start-up catch-up running in the background while the server serves.
#include <errno.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "server/server.h"
#include "server/serving_health.h"
#include "tests/service/grpc_probe.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"

namespace collections {
namespace {

using ::testing::HasSubstr;
using testing::Serving;

constexpr absl::Duration kRpcTimeout = absl::Seconds(10);

Serving HealthOf(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  Serving serving = Serving::kUnknown;
  grpc::Status status = testing::CheckHealth(channel, service, kRpcTimeout, false, &serving);
  EXPECT_TRUE(status.ok()) << service << ": " << status.error_message();
  return serving;
}

// Polls health (each call bounded) until `service` reports `want` or
// `limit` of real time has passed; the last status seen.
Serving AwaitHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                    Serving want, absl::Duration limit = absl::Seconds(30)) {
  const absl::Time give_up = absl::Now() + limit;
  Serving seen = HealthOf(channel, service);
  while (seen != want && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));  // polling for a state, not for time
    seen = HealthOf(channel, service);
  }
  return seen;
}

int CountLines(const std::string& text, absl::string_view needle) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, needle)) ++n;
  }
  return n;
}

v1::Signal Note(const std::string& text) {
  v1::Signal signal;
  signal.mutable_note()->set_text(text);
  return signal;
}

// The SQLite database on a 4 MiB tmpfs mounted for the test (as root; the
// test is skipped where mount(2) is not permitted).
class DiskFullTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-diskfull");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    mount_ = dir_->path() + "/tmpfs";
    ASSERT_EQ(mkdir(mount_.c_str(), 0700), 0) << std::strerror(errno);
    if (mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0) {
      const int error = errno;
      mount_.clear();
      GTEST_SKIP() << "cannot mount a tmpfs to fill (" << std::strerror(error)
                   << "): needs root (CI runs the suite as root)";
    }
    db_ = absl::StrCat("sqlite3://db=", mount_, "/collections.db timeout=5");
    clock_ = std::make_shared<server::FakeClock>(StartTime());
    StartServer();
    cases_ = v1::CaseService::NewStub(channel_);
  }

  void TearDown() override {
    channel_.reset();
    server_.reset();
    if (!mount_.empty()) umount2(mount_.c_str(), MNT_DETACH);
    dir_.reset();
  }

  server::ServerConfig Config() const override {
    server::ServerConfig config = ServerFixture::Config();
    config.health_probe_interval = absl::Milliseconds(50);
    return config;
  }

  // Writes a file until the file system has no space left.
  void FillDisk() {
    filler_ = mount_ + "/filler";
    int fd = open(filler_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const std::vector<char> chunk(64 * 1024, 'x');
    for (size_t size : {chunk.size(), size_t{4096}, size_t{1}}) {
      while (write(fd, chunk.data(), size) > 0) {
      }
      ASSERT_EQ(errno, ENOSPC) << std::strerror(errno);
    }
    close(fd);
  }

  std::string mount_;
  std::string filler_;
  std::unique_ptr<v1::CaseService::Stub> cases_;
};

TEST_P(DiskFullTest, NotServingWhileTheDatabaseCannotBeWrittenAndServingOnceItCan) {
  v1::ImportDelinquenciesResponse imported;
  ASSERT_TRUE(testing::ImportRecords(*cases_, {testing::FeedRecord("L1", 40, 5000 * testing::CNY)},
                                     &imported)
                  .ok());
  ASSERT_EQ(imported.opened(), 1);
  v1::GetCaseResponse before;
  ASSERT_TRUE(testing::GetCaseFile(*cases_, "L1", &before).ok());
  const int64_t case_id = before.case_().case_id();
  EXPECT_EQ(HealthOf(channel_, ""), Serving::kServing);

  FillDisk();
  ::testing::internal::CaptureStderr();
  // Every write fails with a status that says why, and changes nothing.
  for (int i = 0; i < 3; ++i) {
    v1::SignalCaseResponse signalled;
    grpc::Status failed =
        testing::SignalCase(*cases_, case_id, Note("written on a full disk"), &signalled);
    EXPECT_EQ(failed.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << failed.error_message();
    EXPECT_THAT(failed.error_message(), HasSubstr("disk is full"));
    EXPECT_THAT(failed.error_message(), HasSubstr("back off 1s"));
  }
  // A probe write has failed too: the disk is still full for it.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (server_->store()->writer_stats().failed_commands < 4 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));  // polling for a state, not for time
  }
  EXPECT_GE(server_->store()->writer_stats().failed_commands, 4);
  EXPECT_EQ(HealthOf(channel_, ""), Serving::kNotServing);
  for (const std::string& name : server::CollectionsServiceNames()) {
    EXPECT_EQ(HealthOf(channel_, name), Serving::kNotServing) << name;
  }
  // The probe keeps failing meanwhile; reads that need no audit row work.
  {
    auto context = Context();
    v1::ListCasesRequest request;
    v1::ListCasesResponse listed;
    grpc::Status status = cases_->ListCases(context.get(), request, &listed);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(listed.cases_size(), 1);
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  // One line for the cause within the minute (the fake clock stands still),
  // however many commits failed.
  EXPECT_EQ(CountLines(log, "database write failed"), 1) << log;
  EXPECT_THAT(log, HasSubstr("disk is full"));

  ::testing::internal::CaptureStderr();
  ASSERT_EQ(unlink(filler_.c_str()), 0) << std::strerror(errno);
  // No user writes: the probe finds out.
  EXPECT_EQ(AwaitHealth(channel_, "", Serving::kServing), Serving::kServing);
  for (const std::string& name : server::CollectionsServiceNames()) {
    EXPECT_EQ(HealthOf(channel_, name), Serving::kServing) << name;
  }
  const std::string recovered = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(recovered, HasSubstr("health: SERVING again"));

  v1::SignalCaseResponse signalled;
  grpc::Status ok = testing::SignalCase(*cases_, case_id, Note("written again"), &signalled);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  v1::GetCaseResponse after;
  ASSERT_TRUE(testing::GetCaseFile(*cases_, "L1", &after).ok());
  // The failed signals left no trace: one event more than before.
  EXPECT_EQ(after.events_size(), before.events_size() + 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, DiskFullTest, ::testing::Values("sqlite"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// The start-up catch-up (finishing the business date's run, today's report
// snapshot) runs after the server listens; ReportService says NOT_SERVING
// until it is done, the rest serves.
class CatchUpTest : public testing::ServerFixture {
 protected:
  void TearDown() override {
    if (!released_.HasBeenNotified()) released_.Notify();
    ServerFixture::TearDown();
  }

  server::ServerConfig Config() const override {
    server::ServerConfig config = ServerFixture::Config();
    if (hold_catch_up_) {
      config.before_catch_up = [this] {
        started_.Notify();
        released_.WaitForNotification();
      };
    }
    return config;
  }

  bool hold_catch_up_ = false;
  mutable absl::Notification started_;
  mutable absl::Notification released_;
};

TEST_P(CatchUpTest, ServesWhileTheStartUpCatchUpRuns) {
  auto cases = v1::CaseService::NewStub(channel_);
  v1::ImportDelinquenciesResponse imported;
  ASSERT_TRUE(testing::ImportRecords(*cases, {testing::FeedRecord("L1", 40, 5000 * testing::CNY)},
                                     &imported)
                  .ok());
  hold_catch_up_ = true;
  StartServer();  // returns while the catch-up is held
  ASSERT_TRUE(started_.WaitForNotificationWithTimeout(absl::Seconds(30)));
  cases = v1::CaseService::NewStub(channel_);

  EXPECT_EQ(HealthOf(channel_, ""), Serving::kServing);
  EXPECT_EQ(HealthOf(channel_, v1::CaseService::service_full_name()), Serving::kServing);
  EXPECT_EQ(HealthOf(channel_, v1::ReportService::service_full_name()), Serving::kNotServing);
  v1::GetCaseResponse file;
  EXPECT_TRUE(testing::GetCaseFile(*cases, "L1", &file).ok());
  v1::SignalCaseResponse signalled;
  EXPECT_TRUE(
      testing::SignalCase(*cases, file.case_().case_id(), Note("during the catch-up"), &signalled)
          .ok());

  EXPECT_FALSE(server_->WaitForCatchUp(absl::ZeroDuration()));
  released_.Notify();
  EXPECT_TRUE(server_->WaitForCatchUp(absl::Seconds(60)));
  EXPECT_EQ(AwaitHealth(channel_, v1::ReportService::service_full_name(), Serving::kServing),
            Serving::kServing);
}

COLLECTIONS_INSTANTIATE_BACKENDS(CatchUpTest);

// ServingHealth alone (no server): which outcomes turn it, and its log.
TEST(ServingHealthTest, ConflictsTurnItOnlyInARunAndTheLogIsOnePerCausePerMinute) {
  server::FakeClock clock;
  server::ServingHealth health(&clock, {"a.Service"}, "a.Service");
  const absl::Status conflict = absl::AbortedError("database is locked");
  ::testing::internal::CaptureStderr();
  health.OnWriteOutcome(conflict);
  health.OnWriteOutcome(conflict);
  EXPECT_TRUE(health.writable());
  health.OnWriteOutcome(absl::OkStatus());  // the run is broken
  health.OnWriteOutcome(conflict);
  health.OnWriteOutcome(conflict);
  EXPECT_TRUE(health.writable());
  health.OnWriteOutcome(conflict);  // three in a row
  EXPECT_FALSE(health.writable());
  // A success of another command proves nothing; only the probe does.
  health.OnWriteOutcome(absl::OkStatus());
  EXPECT_FALSE(health.writable());
  for (int i = 0; i < 10; ++i) health.OnWriteOutcome(absl::InternalError("disk I/O error"));
  clock.Advance(absl::Minutes(1));
  health.OnWriteOutcome(absl::InternalError("disk I/O error"));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(CountLines(log, "database is locked"), 1) << log;
  EXPECT_EQ(CountLines(log, "disk I/O error"), 2) << log;
  EXPECT_THAT(log, HasSubstr("disk I/O error (10 failed commits with this cause"));
}

TEST(ServingHealthTest, ADatabaseErrorTurnsItAtOnce) {
  server::FakeClock clock;
  server::ServingHealth health(&clock, {}, "");
  ::testing::internal::CaptureStderr();
  health.OnWriteOutcome(absl::UnavailableError("lost the database connection"));
  ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(health.writable());
}

}  // namespace
}  // namespace collections
