// Collectionsd: the real collectionsd binary as a child process, for the
// end-to-end tests; and WaitUntilServing, which polls health with bounded
// gRPC deadlines (readiness, never time passing); ContextAs, the one
// way these tests say who is calling; and the secure setup's flags and
// channels.
#ifndef COLLECTIONS_TESTS_E2E_COLLECTIONSD_PROCESS_H_
#define COLLECTIONS_TESTS_E2E_COLLECTIONSD_PROCESS_H_

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/service/call_context.h"
#include "tests/service/grpc_probe.h"
#include "tests/service/test_credentials.h"

extern char** environ;

#ifndef COLLECTIONSD_PATH
#error "COLLECTIONSD_PATH must name the collectionsd binary"
#endif

namespace collections::testing {

// A context for a call the test makes as `actor` (in `role` when one is
// given), with a deadline `timeout` from now: the end-to-end tests' one way
// to say who is calling (tests/service/call_context.h).
inline std::unique_ptr<grpc::ClientContext> ContextAs(const std::string& actor,
                                                      const std::string& role = "",
                                                      absl::Duration timeout = absl::Seconds(30)) {
  return CallerContext(actor, role, timeout);
}

// The flags of the secure setup every collectionsd of these tests runs
// with unless a test gives --access_config itself: TLS, client
// certificates from the test CA (mutual TLS for systems), and the
// development identity provider's tokens.
inline std::vector<std::string> SecureServerFlags() {
  const std::string& dir = CredentialsDir();
  return {"--access_config=" + dir + "/access.textproto", "--tls_cert=" + dir + "/server.pem",
          "--tls_key=" + dir + "/server.key", "--tls_client_ca=" + dir + "/ca.pem"};
}

// The flags a spawned client (collectionsctl, collections-agent) needs to
// reach such a server as the principal of tokens/TOKEN.jwt.
inline std::vector<std::string> ClientFlags(const std::string& token = "operator") {
  const std::string& dir = CredentialsDir();
  return {"--tls_ca=" + dir + "/ca.pem", "--token_file=" + dir + "/tokens/" + token + ".jwt"};
}

// A TLS channel to such a server; every call on it carries kTester's token
// unless `as_tester` is false (then each call says who is calling).
inline std::shared_ptr<grpc::Channel> SecureChannel(const std::string& address,
                                                    bool as_tester = true) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = TestChannelCredentials();
  if (as_tester) {
    credentials =
        grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(TesterToken()));
  }
  return grpc::CreateCustomChannel(address, credentials, TestChannelArguments());
}

// A child process running collectionsd (or another of the project's
// binaries) with its stdout and stderr in a file.
class Collectionsd {
 public:
  Collectionsd(std::vector<std::string> args, std::string log_path,
               std::string binary = COLLECTIONSD_PATH)
      : log_path_(std::move(log_path)) {
    std::vector<std::string> argv_strings = {binary};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    const bool configured = std::any_of(args.begin(), args.end(), [](const std::string& a) {
      return a.rfind("--access_config", 0) == 0;
    });
    if (binary == COLLECTIONSD_PATH && !configured) {
      for (const std::string& flag : SecureServerFlags()) argv_strings.push_back(flag);
    }
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
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
inline bool WaitUntilServing(Collectionsd& process, const std::string& address,
                             absl::Duration limit, bool secure = true) {
  // Reconnect quickly while the server is coming up (the default backoff
  // starts at 1 s).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  // Health is open to anyone; the channel is TLS when the server is.
  auto channel = secure ? grpc::CreateCustomChannel(address, TestChannelCredentials(),
                                                    [&] {
                                                      grpc::ChannelArguments tls = args;
                                                      tls.SetSslTargetNameOverride("localhost");
                                                      return tls;
                                                    }())
                        : grpc::CreateCustomChannel(
                              address, grpc::experimental::LocalCredentials(LOCAL_TCP), args);
  absl::Time give_up = absl::Now() + limit;
  while (absl::Now() < give_up) {
    if (process.Exited()) return false;
    Serving serving = Serving::kUnknown;
    grpc::Status status =
        CheckHealth(channel, "", absl::Seconds(1), /*wait_for_ready=*/true, &serving);
    if (status.ok() && serving == Serving::kServing) return true;
  }
  return false;
}

// A zone whose local time is about noon now: fixed offsets Etc/GMT-12 (UTC+12)
// to Etc/GMT+11 (UTC-11) cover every hour of the UTC day.
inline std::string NoonZone() {
  const int utc_hour = absl::ToCivilHour(absl::Now(), absl::UTCTimeZone()).hour();
  const int offset = 12 - utc_hour;  // UTC+offset, -11..12
  if (offset == 0) return "Etc/UTC";
  // POSIX-style names invert the sign.
  return absl::StrCat("Etc/GMT", offset > 0 ? "-" : "+", std::abs(offset));
}

inline bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace collections::testing

#endif  // COLLECTIONS_TESTS_E2E_COLLECTIONSD_PROCESS_H_
