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
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/service/grpc_probe.h"
#include "tests/service/test_env.h"

extern char** environ;

namespace collections {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Serving;

#ifndef COLLECTIONSD_PATH
#error "COLLECTIONSD_PATH must name the collectionsd binary"
#endif

// A child process running collectionsd with its stdout and stderr in a file.
class Collectionsd {
 public:
  Collectionsd(std::vector<std::string> args, std::string log_path)
      : log_path_(std::move(log_path)) {
    std::vector<std::string> argv_strings = {COLLECTIONSD_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    int rc = posix_spawn(&pid_, COLLECTIONSD_PATH, &actions, nullptr,
                         argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      spawn_error_ = std::strerror(rc);
      pid_ = -1;
    }
  }

  ~Collectionsd() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }

  bool started() const { return pid_ > 0; }
  const std::string& spawn_error() const { return spawn_error_; }

  // Non-blocking: whether the process has exited (and its status).
  bool Exited() {
    if (exited_) return true;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = status;
    }
    return exited_;
  }

  // Blocks until the process exits; returns its wait status.
  int Wait() {
    while (!exited_) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, 0);
      if (r == pid_) {
        exited_ = true;
        status_ = status;
      } else if (r < 0 && errno != EINTR) {
        break;
      }
    }
    return status_;
  }

  void Signal(int sig) { kill(pid_, sig); }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::string spawn_error_;
};

// Polls health with wait-for-ready calls (each bounded by a gRPC deadline)
// until SERVING, the process exits, or `limit` passes.
bool WaitUntilServing(Collectionsd& process, const std::string& address,
                      absl::Duration limit) {
  // Reconnect quickly while the server is coming up (the default backoff
  // starts at 1 s).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  auto channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
  absl::Time give_up = absl::Now() + limit;
  while (absl::Now() < give_up) {
    if (process.Exited()) return false;
    Serving serving = Serving::kUnknown;
    grpc::Status status = testing::CheckHealth(
        channel, "", absl::Seconds(1), /*wait_for_ready=*/true, &serving);
    if (status.ok() && serving == Serving::kServing) return true;
  }
  return false;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-e2e-test");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    db_file_ = dir_->path() + "/collections.db";
  }

  std::string Db() const {
    return absl::StrCat("sqlite3://db=", db_file_, " timeout=5");
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::string db_file_;
};

void ServeAndStop(const std::string& db, const std::string& log_path, int sig,
                  std::string* log) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  std::string address = absl::StrCat("127.0.0.1:", *port);
  Collectionsd process({"--listen=" + address, "--db=" + db}, log_path);
  ASSERT_TRUE(process.started()) << process.spawn_error();
  ASSERT_TRUE(WaitUntilServing(process, address, absl::Seconds(60)))
      << "collectionsd did not become SERVING on " << address << "; its log:\n"
      << process.Log();

  process.Signal(sig);
  int status = process.Wait();
  *log = process.Log();
  ASSERT_TRUE(WIFEXITED(status))
      << "collectionsd died of signal " << WTERMSIG(status) << "; log:\n"
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

TEST_F(E2eTest, InvalidPolicyFileExitsNonZeroWithAMessage) {
  std::string policy = dir_->path() + "/bad.textproto";
  std::ofstream(policy) << "day_bands { mild_max_days: \"thirty\" }\n";
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  Collectionsd process({absl::StrCat("--listen=127.0.0.1:", *port),
                        "--db=" + Db(), "--policy=" + policy},
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
