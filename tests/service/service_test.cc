// The server in-process, through a real gRPC channel: health, reflection,
// every service answering, and the start-up policy
// bookkeeping. Runs on SQLite always and on PostgreSQL when
// COLLECTIONS_TEST_PG is set (scripts/test.sh sets it).
#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "collections/v1/plan_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/logging.h"
#include "server/policy_bootstrap.h"
#include "server/rpc_log_interceptor.h"
#include "server/server.h"
#include "server/task_dispatcher.h"
#include "tests/service/grpc_probe.h"
#include "tests/service/server_fixture.h"
#include "tests/service/test_env.h"
#include "workflow/dates.h"
#include "workflow/policy.h"

namespace collections {
namespace {

using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using testing::Serving;

constexpr absl::Duration kRpcTimeout = absl::Seconds(10);

std::unique_ptr<grpc::ClientContext> Context() { return testing::DeadlineContext(kRpcTimeout); }

class ServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-service-test");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    if (GetParam() == "postgres") {
      std::string admin = testing::PostgresAdminConnection();
      if (admin.empty()) {
        GTEST_SKIP() << "COLLECTIONS_TEST_PG is not set: PostgreSQL tests "
                        "skipped (scripts/test.sh starts a cluster and sets "
                        "it)";
      }
      auto db = testing::PostgresTestDatabase::Create(admin);
      ASSERT_TRUE(db.ok()) << db.status();
      pg_ = *std::move(db);
      db_ = pg_->connection();
    } else {
      db_ = absl::StrCat("sqlite3://db=", dir_->path(), "/collections.db timeout=5");
    }
    clock_ = std::make_shared<server::FakeClock>();
    StartServer("");
  }

  void TearDown() override {
    channel_.reset();
    server_.reset();
    pg_.reset();
    dir_.reset();
  }

  server::ServerConfig Config(const std::string& policy_file) const {
    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.db = db_;
    config.policy_file = policy_file;
    config.clock = clock_;
    config.shutdown_grace = absl::Seconds(5);
    testing::SecureTestConfig(config);
    return config;
  }

  void StartServer(const std::string& policy_file) {
    channel_.reset();
    server_.reset();
    auto started = server::Server::Start(Config(policy_file));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    ASSERT_GT(server_->port(), 0);
    channel_ = testing::TestChannel(server_->address());
  }

  std::string WritePolicyFile(const std::string& name, const v1::Policy& policy) {
    std::string text;
    EXPECT_TRUE(google::protobuf::TextFormat::PrintToString(policy, &text));
    return WriteFile(name, text);
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = absl::StrCat(dir_->path(), "/", name);
    std::ofstream(path) << text;
    return path;
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<testing::PostgresTestDatabase> pg_;
  std::string db_;
  std::shared_ptr<server::FakeClock> clock_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_P(ServiceTest, HealthIsServing) {
  // ReportService says NOT_SERVING until the start-up catch-up is done
  // (health_test.cc).
  ASSERT_TRUE(server_->WaitForCatchUp(absl::Seconds(60)));
  Serving serving = Serving::kUnknown;
  grpc::Status status = testing::CheckHealth(channel_, "", kRpcTimeout, false, &serving);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(serving, Serving::kServing);

  for (const std::string& name : server::CollectionsServiceNames()) {
    status = testing::CheckHealth(channel_, name, kRpcTimeout, false, &serving);
    ASSERT_TRUE(status.ok()) << name << ": " << status.error_message();
    EXPECT_EQ(serving, Serving::kServing) << name;
  }

  status = testing::CheckHealth(channel_, "no.such.Service", kRpcTimeout, false, &serving);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_P(ServiceTest, ReflectionListsAllServices) {
  std::vector<std::string> services;
  grpc::Status status = testing::ListServices(channel_, kRpcTimeout, &services);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(services,
              IsSupersetOf({"collections.v1.CaseService", "collections.v1.TaskService",
                            "collections.v1.PlanService", "collections.v1.LegalService",
                            "collections.v1.ReportService", "collections.v1.PolicyService",
                            "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}));
}

// The last services to arrive (issue #7) answer on a fresh server: the
// first policy version, and an empty book as of the first business date.
TEST_P(ServiceTest, ReportAndPolicyServicesAnswer) {
  {
    auto stub = v1::PolicyService::NewStub(channel_);
    auto context = Context();
    v1::ListPolicyVersionsRequest request;
    v1::ListPolicyVersionsResponse response;
    grpc::Status status = stub->ListPolicyVersions(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.current(), 1);
    ASSERT_EQ(response.versions_size(), 1);
    EXPECT_EQ(response.versions(0).open_cases(), 0);
  }
  {
    auto stub = v1::ReportService::NewStub(channel_);
    auto context = Context();
    v1::ReportRequest request;
    v1::PortfolioReport response;
    grpc::Status status = stub->Portfolio(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.cases(), 0);
    EXPECT_GT(response.as_of().year(), 0);
  }
}

// The first start stores the default policy as version 1; restarting with
// the same policy stores nothing; a changed policy becomes version 2.
TEST_P(ServiceTest, PolicyIsStoredOnlyWhenItChanges) {
  EXPECT_EQ(server_->policy_version(), 1);
  EXPECT_TRUE(server_->policy_added());
  {
    auto stored = server_->store()->GetPolicy(1);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->version(), 1);
    EXPECT_TRUE(server::SamePolicy(*stored, workflow::DefaultPolicy()));
  }

  StartServer("");
  EXPECT_EQ(server_->policy_version(), 1);
  EXPECT_FALSE(server_->policy_added());

  // The same policy from a file (even with a version set) is no change.
  v1::Policy same = workflow::DefaultPolicy();
  same.set_version(42);
  StartServer(WritePolicyFile("same.textproto", same));
  EXPECT_EQ(server_->policy_version(), 1);
  EXPECT_FALSE(server_->policy_added());

  v1::Policy changed = workflow::DefaultPolicy();
  changed.set_name(changed.name() + " (changed)");
  StartServer(WritePolicyFile("changed.textproto", changed));
  EXPECT_EQ(server_->policy_version(), 2);
  EXPECT_TRUE(server_->policy_added());
  auto current = server_->store()->CurrentPolicyVersion();
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(*current, 2);
  auto stored = server_->store()->GetPolicy(2);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->name(), changed.name());
}

TEST_P(ServiceTest, InvalidPolicyFileFailsStartWithoutServing) {
  server_.reset();
  std::string garbage = WriteFile("garbage.textproto", "day_bands { oops");
  auto started = server::Server::Start(Config(garbage));
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(started.status().message()), HasSubstr(garbage));

  // Parses, but breaks a rule: the day bands out of order.
  v1::Policy bad = workflow::DefaultPolicy();
  bad.mutable_day_bands()->set_mild_max_days(bad.day_bands().moderate_max_days() + 1);
  std::string invalid = WritePolicyFile("invalid.textproto", bad);
  started = server::Server::Start(Config(invalid));
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(started.status().message()), HasSubstr(invalid));

  started = server::Server::Start(Config(absl::StrCat(dir_->path(), "/missing.textproto")));
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kNotFound);
}

TEST_P(ServiceTest, ShutdownStopsServingAndIsIdempotent) {
  server_->Shutdown(absl::Seconds(1));
  EXPECT_EQ(server_->store(), nullptr);
  server_->Shutdown(absl::Seconds(1));
  Serving serving = Serving::kUnknown;
  grpc::Status status = testing::CheckHealth(channel_, "", absl::Seconds(2), false, &serving);
  EXPECT_FALSE(status.ok());
}

// What users see follows the injected clock, not the wall clock: the first
// business date, a case's and a task's timestamps, and when a lease runs out.
TEST_P(ServiceTest, ServerUsesTheInjectedClock) {
  const absl::TimeZone shanghai = absl::FixedTimeZone(8 * 3600);
  // The fake clock starts on 2026-01-01 (08:00 in Shanghai); the wall clock
  // is elsewhere, so a server reading it would be caught.
  const absl::CivilDay fake_day = absl::ToCivilDay(clock_->Now(), shanghai);
  ASSERT_NE(fake_day, absl::ToCivilDay(absl::Now(), shanghai));

  auto reports = v1::ReportService::NewStub(channel_);
  {
    auto context = Context();
    v1::PortfolioReport book;
    grpc::Status s = reports->Portfolio(context.get(), v1::ReportRequest(), &book);
    ASSERT_TRUE(s.ok()) << s.error_message();
    absl::StatusOr<absl::CivilDay> as_of = workflow::DayFromProto(book.as_of(), "as_of");
    ASSERT_TRUE(as_of.ok()) << as_of.status();
    EXPECT_EQ(*as_of, fake_day);
  }

  // Mid-morning for the borrower, inside every contact window.
  clock_->Advance(absl::Hours(2));
  const absl::Time imported_at = clock_->Now();
  auto cases = v1::CaseService::NewStub(channel_);
  {
    auto context = Context();
    v1::ImportDelinquenciesResponse response;
    auto writer = cases->ImportDelinquencies(context.get(), &response);
    v1::ImportDelinquenciesRequest request;
    v1::DelinquencyRecord& r = *request.mutable_record();
    r.set_loan_id("CLOCK-1");
    *r.mutable_as_of() = workflow::DayToProto(fake_day);
    *r.mutable_oldest_unpaid_due_date() = workflow::DayToProto(fake_day - 10);
    r.mutable_borrower()->set_borrower_id("B-CLOCK-1");
    r.mutable_borrower()->set_name("Li Lei");
    r.mutable_borrower()->add_phones("+86 139 0000 0000");
    r.mutable_borrower()->set_time_zone("Asia/Shanghai");
    r.set_principal_outstanding_fen(50'000'000);
    r.mutable_overdue()->set_principal_fen(300'000);
    ASSERT_TRUE(writer->Write(request));
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }
  auto get_case = [&](v1::GetCaseResponse* file) {
    auto context = Context();
    v1::GetCaseRequest request;
    request.set_loan_id("CLOCK-1");
    grpc::Status s = cases->GetCase(context.get(), request, file);
    ASSERT_TRUE(s.ok()) << s.error_message();
  };
  v1::GetCaseResponse file;
  get_case(&file);
  EXPECT_EQ(absl::FromUnixSeconds(file.case_().updated_at().seconds()), imported_at);

  // Claimed for 10 minutes of the fake clock.
  auto tasks = v1::TaskService::NewStub(channel_);
  v1::Task task;
  {
    auto context = Context();
    v1::ClaimTasksRequest request;
    request.set_worker_id("amy");
    request.add_queues("sms");
    request.set_max_tasks(1);
    request.mutable_lease()->set_seconds(600);
    v1::ClaimTasksResponse claimed;
    grpc::Status s = tasks->ClaimTasks(context.get(), request, &claimed);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(claimed.tasks_size(), 1) << claimed.DebugString();
    task = claimed.tasks(0);
  }
  EXPECT_EQ(absl::FromUnixSeconds(task.lease_expires_at().seconds()),
            imported_at + absl::Minutes(10));
  EXPECT_EQ(absl::FromUnixSeconds(task.deadline().seconds()), imported_at + absl::Hours(24));

  // Eleven fake minutes later the lease has run out: the task is back in
  // its queue and the old lease is fenced off.
  clock_->Advance(absl::Minutes(11));
  absl::StatusOr<int> reaped = server_->task_dispatcher()->Tick();
  ASSERT_TRUE(reaped.ok()) << reaped.status();
  EXPECT_EQ(*reaped, 1);
  get_case(&file);
  bool found = false;
  for (const v1::Task& t : file.tasks()) {
    if (t.task_id() != task.task_id()) continue;
    found = true;
    EXPECT_EQ(t.state(), v1::TASK_STATE_READY);
  }
  EXPECT_TRUE(found) << file.DebugString();
  {
    auto context = Context();
    v1::CompleteTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_token(task.lease_token());
    request.set_lease_key(task.lease_key());
    request.set_request_id("late");
    request.mutable_outcome()->mutable_sms()->set_delivered(true);
    v1::CompleteTaskResponse out;
    grpc::Status s = tasks->CompleteTask(context.get(), request, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ServiceTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// --- Small pieces of the server ---------------------------------------------

TEST(ServerPieces, StartFailsOnAnAddressInUse) {
  auto dir = testing::TempDir::Create("collections-service-test");
  ASSERT_TRUE(dir.ok());
  server::ServerConfig config;
  testing::SecureTestConfig(config);
  config.listen = "127.0.0.1:0";
  config.db = absl::StrCat("sqlite3://db=", (*dir)->path(), "/a.db timeout=5");
  auto first = server::Server::Start(config);
  ASSERT_TRUE(first.ok()) << first.status();
  config.listen = (*first)->address();
  config.db = absl::StrCat("sqlite3://db=", (*dir)->path(), "/b.db timeout=5");
  auto second = server::Server::Start(config);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr((*first)->address()));
}

TEST(ServerPieces, StartFailsOnAnUnreachableDatabase) {
  server::ServerConfig config;
  testing::SecureTestConfig(config);
  config.listen = "127.0.0.1:0";
  config.db = "sqlite3://db=/nonexistent-dir/x/collections.db timeout=5";
  auto started = server::Server::Start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("cannot open database"));
}

TEST(ServerPieces, FakeClockMovesOnlyWhenTold) {
  server::FakeClock clock(absl::FromUnixSeconds(1000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000));
  clock.Advance(absl::Minutes(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1300));
  clock.Set(absl::FromUnixSeconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(5));
  const server::Clock& system = server::SystemClock::Get();
  EXPECT_LE(absl::AbsDuration(system.Now() - absl::Now()), absl::Minutes(1));
}

TEST(ServerPieces, RedactConnectionHidesPasswords) {
  EXPECT_EQ(server::RedactConnection("postgresql://host=h password=s3cret user=u dbname=d"),
            "postgresql://host=h password=*** user=u dbname=d");
  EXPECT_EQ(server::RedactConnection("postgresql://password='a b\\' c' x=1"),
            "postgresql://password=*** x=1");
  EXPECT_EQ(server::RedactConnection("sqlite3://db=var/c.db timeout=5"),
            "sqlite3://db=var/c.db timeout=5");
  // libpq also takes tabs between pairs and whitespace around '='.
  EXPECT_EQ(server::RedactConnection("postgresql://user=u\tpassword=s3cret\tdbname=d"),
            "postgresql://user=u\tpassword=***\tdbname=d");
  EXPECT_EQ(server::RedactConnection("postgresql://user=u password = s3cret dbname=d"),
            "postgresql://user=u password = *** dbname=d");
  EXPECT_EQ(server::RedactConnection("postgresql://password =\t'a b' x=1 password=t"),
            "postgresql://password =\t*** x=1 password=***");
  // Not a password key, or no value to hide.
  EXPECT_EQ(server::RedactConnection("postgresql://xpassword=1 password"),
            "postgresql://xpassword=1 password");
  EXPECT_EQ(server::RedactConnection("postgresql://password='unterminated"),
            "postgresql://password=***");
}

TEST(ServerPieces, LogLinesCarryUtcTimeAndLevel) {
  absl::Time t = absl::FromUnixMicros(1767225600123456);  // 2026-01-01
  EXPECT_EQ(server::FormatLogLine(t, server::LogLevel::kWarning, "disk low"),
            "2026-01-01T00:00:00.123456Z WARN  disk low");
  server::LogLevel level;
  EXPECT_TRUE(server::ParseLogLevel("ERROR", &level));
  EXPECT_EQ(level, server::LogLevel::kError);
  EXPECT_FALSE(server::ParseLogLevel("loud", &level));
}

// For log collectors: one JSON object per line, the message escaped.
TEST(ServerPieces, JsonLogLinesAreOneObjectEach) {
  absl::Time t = absl::FromUnixMicros(1767225600123456);  // 2026-01-01
  EXPECT_EQ(
      server::FormatLogLine(t, server::LogLevel::kInfo, "serving on 127.0.0.1:1",
                            server::LogFormat::kJson),
      R"({"time":"2026-01-01T00:00:00.123456Z","level":"INFO","msg":"serving on 127.0.0.1:1"})");
  EXPECT_EQ(
      server::FormatLogLine(t, server::LogLevel::kWarning, "a \"quoted\"\\path\nnext\x01",
                            server::LogFormat::kJson),
      R"({"time":"2026-01-01T00:00:00.123456Z","level":"WARN","msg":"a \"quoted\"\\path\nnext\u0001"})");
  server::LogFormat format;
  EXPECT_TRUE(server::ParseLogFormat("JSON", &format));
  EXPECT_EQ(format, server::LogFormat::kJson);
  EXPECT_FALSE(server::ParseLogFormat("xml", &format));
}

// An RPC's line: its fields as keys of the object (the duration a number),
// or as key=value in text, where a value a caller chose is quoted when it
// could split or fake a line.
TEST(ServerPieces, LogFieldsAreKeysInJsonAndQuotedWhenNeededInText) {
  absl::Time t = absl::FromUnixMicros(1767225600123456);  // 2026-01-01
  const std::vector<server::LogField> fields = {
      {"method", "/collections.v1.CaseService/GetCase"},
      {"duration_ms", "1.250", /*number=*/true},
      {"request_id", "r1\n2026-01-01T00:00:00Z ERROR forged"},
      {"principal", ""}};
  EXPECT_EQ(
      server::FormatLogLine(t, server::LogLevel::kDebug, "rpc", server::LogFormat::kJson, fields),
      R"({"time":"2026-01-01T00:00:00.123456Z","level":"DEBUG","msg":"rpc",)"
      R"("method":"/collections.v1.CaseService/GetCase","duration_ms":1.250,)"
      R"("request_id":"r1\n2026-01-01T00:00:00Z ERROR forged","principal":""})");
  EXPECT_EQ(
      server::FormatLogLine(t, server::LogLevel::kDebug, "rpc", server::LogFormat::kText, fields),
      "2026-01-01T00:00:00.123456Z DEBUG rpc method=/collections.v1.CaseService/GetCase "
      R"(duration_ms=1.250 request_id="r1\n2026-01-01T00:00:00Z ERROR forged" principal="")");
  EXPECT_EQ(server::RpcLogLevel(grpc::StatusCode::OK), server::LogLevel::kDebug);
  EXPECT_EQ(server::RpcLogLevel(grpc::StatusCode::NOT_FOUND), server::LogLevel::kInfo);
  EXPECT_EQ(server::RpcLogLevel(grpc::StatusCode::INTERNAL), server::LogLevel::kWarning);
}

}  // namespace
}  // namespace collections
