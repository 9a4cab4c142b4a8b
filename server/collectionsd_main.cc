// collectionsd: the collections gRPC server. See README.md.
//
//   collectionsd --listen=127.0.0.1:50051
//       --db="sqlite3://db=var/collections.db timeout=5" [--policy=FILE]
//
// Exit status: 0 after a clean shutdown on SIGTERM or SIGINT; 1 when
// start-up fails (bad policy, database unreachable, address in use); 2 for
// bad command-line usage.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "server/config.h"
#include "server/logging.h"
#include "server/server.h"

ABSL_FLAG(std::string, listen, collections::server::kDefaultListen,
          "Address to serve gRPC on, host:port (port 0 picks a free one).");
ABSL_FLAG(std::string, db, collections::server::kDefaultDb,
          "SOCI connection string of the database: "
          "\"sqlite3://db=FILE timeout=5\" or "
          "\"postgresql://host=H port=P dbname=D user=U\". "
          "The SQLite file's directory must exist.");
ABSL_FLAG(int, db_writers, 8,
          "PostgreSQL only: writer connections, each committing its own group of "
          "commands, so that independent cases commit concurrently (SQLite has one "
          "writer).");
ABSL_FLAG(int, sqlite_wal_checkpoint_mib, 1024,
          "SQLite only: the write-ahead log's size, in MiB, past which it is copied "
          "into the database file on a thread beside the writer. Larger: fewer "
          "copies of the same pages during a bulk load; smaller: the log's file "
          "is reused sooner (docs/operations-notes.md).");
ABSL_FLAG(std::string, policy, "",
          "Collection policy, a textproto collections.v1.Policy file. "
          "Empty: the shipped default. Stored as a new version only when it "
          "differs from the newest stored one.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long running RPCs may take to finish "
          "before they are cancelled.");
ABSL_FLAG(absl::Duration, idempotency_retention, absl::Hours(7 * 24),
          "How long a request_id's first answer is kept for retries; older "
          "ones are purged by each business-date run. Positive.");
ABSL_FLAG(std::string, business_time_zone, "Asia/Shanghai",
          "The institution's time zone; business dates are its civil days.");
ABSL_FLAG(std::string, daily_aging_time, "01:00",
          "Local time (HH:MM) at which the business date moves on by itself "
          "each day; \"off\": only CaseService.AdvanceBusinessDate moves it.");
ABSL_FLAG(std::string, access_config, "",
          "Required. Who may call and as what: a collections.v1.AccessConfig in "
          "text format (bearer-token issuer and keys, client certificates, "
          "changes to the role table). scripts/dev_credentials.sh DIR makes one "
          "for development. See docs/security.md.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the server; with --tls_key, serve TLS. "
          "Re-read when the file changes.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of the server (with --tls_cert).");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle for client certificates: request them and verify "
          "those presented (mutual TLS for systems). Needs --tls_cert.");
ABSL_FLAG(bool, insecure_listen, false,
          "Serve plaintext on a non-loopback --listen address (e.g. behind a "
          "TLS-terminating proxy). Without it, collectionsd refuses to start "
          "there without TLS.");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port of a Prometheus endpoint (/metrics; docs/metrics.md), e.g. "
          "127.0.0.1:9464. Empty: none. Loopback only unless --insecure_listen.");
ABSL_FLAG(std::string, log_format, "text",
          "Log lines as \"text\" (time, level, message) or \"json\" (one JSON "
          "object per line: time, level, msg) for log collectors.");
ABSL_FLAG(int, daily_aging_max_days, 3,
          "The most days daily aging moves the business date by itself at once "
          "(catching up after an outage); a larger gap (a wall clock that jumped) "
          "waits for an administrator's AdvanceBusinessDate.");
ABSL_FLAG(std::string, log_level, "info",
          "Least severe level logged: debug, info, warning, error.");
ABSL_FLAG(int, max_queued_writes, 16384,
          "Most writes waiting for the database writer; past it an RPC that "
          "writes is answered RESOURCE_EXHAUSTED at once (back off 1s). 0: no bound.");
ABSL_FLAG(int, max_queued_reads, 4096,
          "Most reads (and other blocking requests) waiting for a worker thread; "
          "past it such an RPC is answered RESOURCE_EXHAUSTED at once. 0: no bound.");
ABSL_FLAG(int, grpc_memory_mib, 1024,
          "gRPC's memory quota for calls in flight, in MiB; past it gRPC refuses "
          "new calls. 0: gRPC's default.");
ABSL_FLAG(int, max_concurrent_streams, 1000,
          "Most concurrent calls on one client connection (HTTP/2 streams); more "
          "wait in the client. 0: no limit.");

namespace {

// The self-pipe: the signal handler writes the signal number, main() reads.
int g_signal_pipe[2] = {-1, -1};

extern "C" void OnSignal(int sig) {
  int saved_errno = errno;
  unsigned char byte = static_cast<unsigned char>(sig);
  ssize_t ignored = write(g_signal_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved_errno;
}

bool InstallSignalHandlers(std::string* error) {
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) {
    *error = absl::StrCat("pipe2: ", std::strerror(errno));
    return false;
  }
  // A full pipe must never block the handler.
  fcntl(g_signal_pipe[1], F_SETFL, O_NONBLOCK);
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT}) {
    if (sigaction(sig, &action, nullptr) != 0) {
      *error = absl::StrCat("sigaction: ", std::strerror(errno));
      return false;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  return true;
}

// Blocks until SIGTERM or SIGINT; returns the signal.
int WaitForSignal() {
  unsigned char byte = 0;
  for (;;) {
    ssize_t n = read(g_signal_pipe[0], &byte, 1);
    if (n == 1) return byte;
    if (n < 0 && errno == EINTR) continue;
    return SIGTERM;  // the pipe broke: treat as a stop request
  }
}

}  // namespace

int main(int argc, char** argv) {
  using collections::server::LogError;
  using collections::server::LogInfo;

  // Owner-only for everything collectionsd creates: the SQLite database and
  // its WAL and shared-memory files hold borrowers' personal data.
  umask(077);
  absl::SetProgramUsageMessage(
      "the collections gRPC server for overdue mortgage loans.\n"
      "Usage: collectionsd [--listen=HOST:PORT] [--db=SOCI_CONNECTION] "
      "[--policy=FILE.textproto]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::vector<std::string> extra(rest.begin() + 1, rest.end());
    LogError("unexpected arguments: %s (all settings are --flags; see --help)",
             absl::StrJoin(extra, " "));
    return 2;
  }
  collections::server::LogLevel level;
  if (!collections::server::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    LogError("--log_level: unknown level \"%s\" (debug, info, warning, error)",
             absl::GetFlag(FLAGS_log_level));
    return 2;
  }
  collections::server::SetMinLogLevel(level);
  collections::server::LogFormat log_format;
  if (!collections::server::ParseLogFormat(absl::GetFlag(FLAGS_log_format), &log_format)) {
    LogError("--log_format: unknown format \"%s\" (text, json)", absl::GetFlag(FLAGS_log_format));
    return 2;
  }
  collections::server::SetLogFormat(log_format);
  collections::server::RouteGrpcLogging();
  // Protobuf logs a line per request with invalid UTF-8: rate-limited.
  collections::server::RouteProtobufLogging(std::shared_ptr<const collections::server::Clock>(
      std::shared_ptr<const collections::server::Clock>(),
      &collections::server::SystemClock::Get()));

  // Before any thread starts, so that a signal during start-up is kept.
  std::string error;
  if (!InstallSignalHandlers(&error)) {
    LogError("cannot install signal handlers: %s", error);
    return 1;
  }

  collections::server::ServerConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.db = absl::GetFlag(FLAGS_db);
  config.policy_file = absl::GetFlag(FLAGS_policy);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.idempotency_retention = absl::GetFlag(FLAGS_idempotency_retention);
  config.business_time_zone = absl::GetFlag(FLAGS_business_time_zone);
  config.access_config = absl::GetFlag(FLAGS_access_config);
  config.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  config.tls_key = absl::GetFlag(FLAGS_tls_key);
  config.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  config.insecure_listen = absl::GetFlag(FLAGS_insecure_listen);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.db_writers = absl::GetFlag(FLAGS_db_writers);
  if (config.db_writers < 1 || config.db_writers > 64) {
    LogError("--db_writers must be between 1 and 64");
    return 2;
  }
  config.sqlite_wal_checkpoint_mib = absl::GetFlag(FLAGS_sqlite_wal_checkpoint_mib);
  if (config.sqlite_wal_checkpoint_mib < 1 || config.sqlite_wal_checkpoint_mib > 16384) {
    LogError("--sqlite_wal_checkpoint_mib must be between 1 and 16384");
    return 2;
  }
  config.daily_aging_max_days = absl::GetFlag(FLAGS_daily_aging_max_days);
  config.max_queued_writes = absl::GetFlag(FLAGS_max_queued_writes);
  config.max_queued_reads = absl::GetFlag(FLAGS_max_queued_reads);
  config.grpc_memory_mib = absl::GetFlag(FLAGS_grpc_memory_mib);
  config.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  if (config.daily_aging_max_days < 1) {
    LogError("--daily_aging_max_days must be at least 1");
    return 2;
  }
  {
    const std::string at = absl::GetFlag(FLAGS_daily_aging_time);
    int hour = 0, minute = 0;
    char extra = 0;
    if (at == "off") {
      config.daily_aging_minute = -1;
    } else if (sscanf(at.c_str(), "%d:%d%c", &hour, &minute, &extra) == 2 && hour >= 0 &&
               hour < 24 && minute >= 0 && minute < 60) {
      config.daily_aging_minute = hour * 60 + minute;
    } else {
      collections::server::LogError("--daily_aging_time=%s: expected HH:MM (00:00-23:59) or off",
                                    at);
      return 2;
    }
  }
  if (config.idempotency_retention <= absl::ZeroDuration()) {
    collections::server::LogError("--idempotency_retention=%s: must be positive",
                                  absl::FormatDuration(config.idempotency_retention));
    return 2;
  }

  LogInfo("collectionsd starting (pid %d)", static_cast<int>(getpid()));
  auto server = collections::server::Server::Start(config);
  if (!server.ok()) {
    LogError("start-up failed: %s", server.status().ToString());
    return 1;
  }

  int sig = WaitForSignal();
  // A second signal stops the process at once (for a shutdown that hangs).
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  LogInfo("received %s; shutting down (a second signal stops at once)",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Shutdown();
  server->reset();
  collections::server::LogProtobufLogSummary();
  LogInfo("collectionsd stopped");
  return 0;
}
