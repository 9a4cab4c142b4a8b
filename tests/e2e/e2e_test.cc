// The real collectionsd binary: starts on a temporary SQLite file and a free
// port, becomes SERVING, stops cleanly on SIGTERM/SIGINT with exit status 0,
// and refuses to start on an invalid policy. Waits only on readiness (a
// health check with a gRPC deadline), never for time to pass.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "tests/e2e/collectionsd_process.h"
#include "tests/service/grpc_probe.h"
#include "tests/service/test_env.h"

namespace collections {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Serving;

using testing::Collectionsd;
using testing::FileExists;
using testing::WaitUntilServing;

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-e2e-test");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    db_file_ = dir_->path() + "/collections.db";
  }

  std::string Db() const { return absl::StrCat("sqlite3://db=", db_file_, " timeout=5"); }

  std::unique_ptr<testing::TempDir> dir_;
  std::string db_file_;
};

// Serves on `db` (empty: --db comes from `extra_flags` or the environment)
// until SIGTERM or SIGINT, and checks that it stopped cleanly.
void ServeAndStop(const std::string& db, const std::string& log_path, int sig, std::string* log,
                  const std::vector<std::string>& extra_flags = {}) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  std::string address = absl::StrCat("127.0.0.1:", *port);
  std::vector<std::string> flags = {"--listen=" + address};
  if (!db.empty()) flags.push_back("--db=" + db);
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  Collectionsd process(flags, log_path);
  ASSERT_TRUE(process.started()) << process.spawn_error();
  ASSERT_TRUE(WaitUntilServing(process, address, absl::Seconds(60)))
      << "collectionsd did not become SERVING on " << address << "; its log:\n"
      << process.Log();

  // The database and its WAL and shared-memory files are the owner's only.
  const std::string file =
      db.empty() ? "" : db.substr(db.find("db=") + 3, db.find(' ') - db.find("db=") - 3);
  for (const std::string& f : {file, file + "-wal", file + "-shm"}) {
    if (file.empty()) break;
    struct stat st;
    if (stat(f.c_str(), &st) != 0) continue;  // -wal and -shm come and go
    EXPECT_EQ(st.st_mode & 0077, 0u) << f << " is mode " << std::oct << (st.st_mode & 0777);
  }

  process.Signal(sig);
  int status = process.Wait();
  *log = process.Log();
  ASSERT_TRUE(WIFEXITED(status)) << "collectionsd died of signal " << WTERMSIG(status) << "; log:\n"
                                 << *log;
  EXPECT_EQ(WEXITSTATUS(status), 0) << *log;
  EXPECT_THAT(*log, HasSubstr("serving on " + address));
  EXPECT_THAT(*log, HasSubstr("collectionsd stopped"));
}

TEST_F(E2eTest, ServesThenStopsCleanlyOnSigterm) {
  std::string log;
  ServeAndStop(Db(), dir_->path() + "/first.log", SIGTERM, &log);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(FileExists(db_file_)) << db_file_;
  EXPECT_THAT(log, HasSubstr("received SIGTERM"));
  EXPECT_THAT(log, HasSubstr("policy: stored as new version 1"));

  // Restarted on the same database (stopped with SIGINT this time): the
  // unchanged default policy is not stored again.
  ServeAndStop(Db(), dir_->path() + "/second.log", SIGINT, &log);
  if (HasFatalFailure()) return;
  EXPECT_THAT(log, HasSubstr("received SIGINT"));
  EXPECT_THAT(log, HasSubstr("policy: unchanged, version 1 is current"));
}

// Every flag can come from the environment: Abseil's --tryfromenv=a,b
// (and --fromenv, which insists) reads FLAGS_a, FLAGS_b. A password in the
// connection string is redacted in the log however libpq lets it be
// spaced (here a tab before it), so it can be kept off the command line in
// the environment (or in PGPASSFILE, or a 0600 --flagfile) without the log
// giving it away.
TEST_F(E2eTest, FlagsFromTheEnvironmentAreUsedAndThePasswordIsNotLogged) {
  std::string db = Db();
  std::unique_ptr<testing::PostgresTestDatabase> pg;
  if (!testing::PostgresAdminConnection().empty()) {
    auto created = testing::PostgresTestDatabase::Create(testing::PostgresAdminConnection());
    ASSERT_TRUE(created.ok()) << created.status();
    pg = *std::move(created);
    db = pg->connection();
  }
  const std::string kPassword = "Env-Secret-4711";
  ASSERT_EQ(setenv("FLAGS_log_format", "json", 1), 0);
  ASSERT_EQ(setenv("FLAGS_db", absl::StrCat(db, "\tpassword=", kPassword).c_str(), 1), 0);
  std::string log;
  ServeAndStop("", dir_->path() + "/env.log", SIGTERM, &log,
               {"--tryfromenv=log_format,db,metrics_listen"});
  if (HasFatalFailure()) return;
  // Both flags were taken: JSON lines, and the database of FLAGS_db.
  EXPECT_THAT(log, HasSubstr("{\"time\":\""));
  EXPECT_THAT(log, HasSubstr("\"msg\":\"database: opening "));
  EXPECT_THAT(log, HasSubstr("password=***"));
  EXPECT_THAT(log, Not(HasSubstr(kPassword)));
  if (pg == nullptr) EXPECT_TRUE(FileExists(db_file_)) << db_file_;
}

// A start-up that fails on the database names the connection, redacted.
TEST_F(E2eTest, AnUnreachableDatabaseIsReportedWithoutItsPassword) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  Collectionsd process({absl::StrCat("--listen=127.0.0.1:", *port),
                        "--db=postgresql://host=127.0.0.1 port=1 dbname=d user=u "
                        "password = Spaced-Secret-42"},
                       dir_->path() + "/unreachable.log");
  ASSERT_TRUE(process.started()) << process.spawn_error();
  int status = process.Wait();
  std::string log = process.Log();
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 1) << log;
  EXPECT_THAT(log, HasSubstr("cannot open database postgresql://host=127.0.0.1 port=1"));
  EXPECT_THAT(log, HasSubstr("password = ***"));
  EXPECT_THAT(log, Not(HasSubstr("Spaced-Secret-42")));
}

// A WAL checkpoint threshold out of range is refused before the database
// is touched (exit 2, the flag named).
TEST_F(E2eTest, AWalCheckpointThresholdOutOfRangeIsRefused) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  for (const char* value : {"0", "16385"}) {
    Collectionsd process({absl::StrCat("--listen=127.0.0.1:", *port), "--db=" + Db(),
                          absl::StrCat("--sqlite_wal_checkpoint_mib=", value)},
                         dir_->path() + "/wal_flag.log");
    ASSERT_TRUE(process.started()) << process.spawn_error();
    int status = process.Wait();
    std::string log = process.Log();
    ASSERT_TRUE(WIFEXITED(status)) << log;
    EXPECT_EQ(WEXITSTATUS(status), 2) << value << ": " << log;
    EXPECT_THAT(log, HasSubstr("--sqlite_wal_checkpoint_mib must be between 1 and 16384"));
    EXPECT_FALSE(FileExists(db_file_)) << value;
  }
}

// The one JSON log line of an RPC to `method`, "" when there is none.
std::string RpcLine(const std::string& log, const std::string& method) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, R"("msg":"rpc")") &&
        absl::StrContains(line, absl::StrCat(R"("method":")", method, R"(")"))) {
      return std::string(line);
    }
  }
  return "";
}

TEST_F(E2eTest, JsonLogsCarryEachRpcsMethodStatusDurationRequestIdAndPrincipal) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string address = absl::StrCat("127.0.0.1:", *port);
  Collectionsd process(
      {"--listen=" + address, "--db=" + Db(), "--log_format=json", "--log_level=debug"},
      dir_->path() + "/json.log");
  ASSERT_TRUE(process.started()) << process.spawn_error();
  ASSERT_TRUE(WaitUntilServing(process, address, absl::Seconds(60))) << process.Log();

  auto channel = testing::SecureChannel(address);  // as kTester
  auto cases = v1::CaseService::NewStub(channel);
  auto reports = v1::ReportService::NewStub(channel);
  v1::SignalCaseRequest note;
  note.set_case_id(424242);
  note.set_request_id("req-e2e-42");
  note.mutable_signal()->mutable_note()->set_text("called");
  v1::SignalCaseResponse signalled;
  grpc::ClientContext signal_context;
  EXPECT_EQ(cases->SignalCase(&signal_context, note, &signalled).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::GetCaseRequest get;
  get.set_loan_id("NO-SUCH-LOAN");
  v1::GetCaseResponse file;
  grpc::ClientContext get_context;
  EXPECT_EQ(cases->GetCase(&get_context, get, &file).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::PortfolioReport book;
  grpc::ClientContext report_context;
  EXPECT_TRUE(reports->Portfolio(&report_context, {}, &book).ok());

  process.Signal(SIGTERM);
  process.Wait();
  const std::string log = process.Log();
  const std::string signal_line = RpcLine(log, "/collections.v1.CaseService/SignalCase");
  ASSERT_FALSE(signal_line.empty()) << log;
  EXPECT_THAT(signal_line, ::testing::MatchesRegex(
                               R"(\{"time":"[0-9-]+T[0-9:.]+Z","level":"INFO","msg":"rpc",.*)"));
  EXPECT_THAT(signal_line, HasSubstr(R"("status":"NOT_FOUND")"));
  EXPECT_THAT(signal_line, ::testing::ContainsRegex(R"("duration_ms":[0-9]+\.[0-9]{3},)"));
  EXPECT_THAT(signal_line, HasSubstr(R"("request_id":"req-e2e-42")"));
  EXPECT_THAT(signal_line, HasSubstr(R"("principal":"tester")"));
  // A request without a request_id gets one made for its line.
  const std::string get_line = RpcLine(log, "/collections.v1.CaseService/GetCase");
  EXPECT_THAT(get_line, ::testing::ContainsRegex(R"("request_id":"g-[0-9a-f]{16}")")) << log;
  EXPECT_THAT(get_line, HasSubstr(R"("principal":"tester")"));
  // OK calls at debug level.
  const std::string report_line = RpcLine(log, "/collections.v1.ReportService/Portfolio");
  EXPECT_THAT(report_line, HasSubstr(R"("level":"DEBUG")")) << log;
  EXPECT_THAT(report_line, HasSubstr(R"("status":"OK")"));
}

TEST_F(E2eTest, InvalidPolicyFileExitsNonZeroWithAMessage) {
  std::string policy = dir_->path() + "/bad.textproto";
  std::ofstream(policy) << "day_bands { mild_max_days: \"thirty\" }\n";
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  Collectionsd process(
      {absl::StrCat("--listen=127.0.0.1:", *port), "--db=" + Db(), "--policy=" + policy},
      dir_->path() + "/bad.log");
  ASSERT_TRUE(process.started()) << process.spawn_error();
  int status = process.Wait();
  std::string log = process.Log();
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_NE(WEXITSTATUS(status), 0) << log;
  EXPECT_THAT(log, HasSubstr("start-up failed"));
  EXPECT_THAT(log, HasSubstr("policy file " + policy));
  EXPECT_THAT(log, Not(HasSubstr("serving on")));
  // A bad policy is caught before the database is touched.
  EXPECT_FALSE(FileExists(db_file_));
}

TEST_F(E2eTest, HelpListsTheFlags) {
  Collectionsd process({"--help"}, dir_->path() + "/help.log");
  ASSERT_TRUE(process.started()) << process.spawn_error();
  process.Wait();
  std::string log = process.Log();
  EXPECT_THAT(log, HasSubstr("--listen"));
  EXPECT_THAT(log, HasSubstr("--db"));
  EXPECT_THAT(log, HasSubstr("--policy"));
}

TEST_F(E2eTest, UnexpectedArgumentsAreRefused) {
  Collectionsd process({"serve"}, dir_->path() + "/args.log");
  ASSERT_TRUE(process.started()) << process.spawn_error();
  int status = process.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2) << process.Log();
  EXPECT_THAT(process.Log(), HasSubstr("unexpected arguments: serve"));
}

}  // namespace
}  // namespace collections
