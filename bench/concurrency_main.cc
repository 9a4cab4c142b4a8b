// collections-concurrency-bench: what many concurrent calls cost the server.
// Opens --connections channels, starts --calls waiting ClaimTasks long-polls
// (an empty queue, so each waits) spread over them, samples the server's
// resident memory (VmRSS of --server_pid, from /proc) while they wait for
// --hold, then cancels them all and counts how they ended. Protos and
// clients_common only, like the other bench clients.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/connection_flags.h"
#include "collections/v1/task_service.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "collectionsd's address.");
ABSL_FLAG(int, calls, 10000, "Concurrent ClaimTasks long-polls to hold open.");
ABSL_FLAG(int, connections, 20, "Connections to spread them over.");
ABSL_FLAG(int, server_pid, 0, "collectionsd's process id, for its memory (0: not measured).");
ABSL_FLAG(absl::Duration, hold, absl::Seconds(10), "How long to hold the calls open.");
ABSL_FLAG(std::string, queue, "bench.empty", "A queue with no ready task.");

namespace {

using collections::v1::ClaimTasksRequest;
using collections::v1::ClaimTasksResponse;
using collections::v1::TaskService;

// Resident and peak resident memory of `pid` in KiB (VmRSS, VmHWM); 0 when
// unknown.
std::pair<int64_t, int64_t> MemoryKib(int pid) {
  if (pid <= 0) return {0, 0};
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  int64_t rss = 0, hwm = 0;
  while (std::getline(status, line)) {
    int64_t* field = absl::StartsWith(line, "VmRSS:")   ? &rss
                     : absl::StartsWith(line, "VmHWM:") ? &hwm
                                                        : nullptr;
    if (field == nullptr) continue;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits += c;
    }
    if (!absl::SimpleAtoi(digits, field)) *field = 0;
  }
  return {rss, hwm};
}

struct Call {
  grpc::ClientContext context;
  ClaimTasksRequest request;
  ClaimTasksResponse response;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Holds many concurrent ClaimTasks long-polls open and reports collectionsd's memory.\n"
      "Usage: collections-concurrency-bench --server=ADDR --calls=N --connections=C "
      "--server_pid=PID [--hold=10s] [connection flags]");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "concurrency_main") ||
           absl::StrContains(file, "connection_flags");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  const int calls = absl::GetFlag(FLAGS_calls);
  const int connections = absl::GetFlag(FLAGS_connections);
  const int pid = absl::GetFlag(FLAGS_server_pid);
  if (calls < 1 || connections < 1) {
    std::fprintf(stderr, "--calls and --connections must be positive\n");
    return 2;
  }

  std::vector<std::unique_ptr<TaskService::Stub>> stubs;
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("collections.bench.connection", i);  // one connection each
    stubs.push_back(TaskService::NewStub(
        collections::bench::OpenChannelOrExit(absl::GetFlag(FLAGS_server), args)));
  }
  const auto [rss_before, hwm_before] = MemoryKib(pid);

  absl::Mutex mu;
  int finished = 0;
  std::map<std::string, int> statuses;
  std::vector<std::unique_ptr<Call>> held;
  const absl::Time start = absl::Now();
  for (int i = 0; i < calls; ++i) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
    call->request.set_worker_id(absl::StrCat("conc-", i));
    call->request.add_queues(absl::GetFlag(FLAGS_queue));
    call->request.set_max_tasks(1);
    call->request.mutable_wait()->set_seconds(60);
    stubs[i % connections]->async()->ClaimTasks(
        &call->context, &call->request, &call->response, [&](grpc::Status s) {
          absl::MutexLock lock(&mu);
          ++finished;
          ++statuses[s.ok() ? "OK"
                            : absl::StrCat("code ", s.error_code(), ": ",
                                           s.error_message().substr(0, 80))];
        });
    held.push_back(std::move(call));
  }
  const absl::Duration issue_time = absl::Now() - start;

  // Sample while they wait (the long-polls last 60 s, the hold less).
  int64_t rss_peak = 0;
  const absl::Time hold_until = absl::Now() + absl::GetFlag(FLAGS_hold);
  int early = 0;
  while (absl::Now() < hold_until) {
    rss_peak = std::max(rss_peak, MemoryKib(pid).first);
    absl::SleepFor(absl::Milliseconds(200));
  }
  {
    absl::MutexLock lock(&mu);
    early = finished;
  }
  for (auto& call : held) call->context.TryCancel();
  const absl::Time give_up = absl::Now() + absl::Minutes(2);
  for (;;) {
    {
      absl::MutexLock lock(&mu);
      if (finished >= calls) break;
    }
    if (absl::Now() > give_up) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  const auto [rss_after, hwm_after] = MemoryKib(pid);

  std::printf("calls=%d connections=%d issued_in=%s ended_before_cancel=%d\n", calls, connections,
              absl::FormatDuration(issue_time).c_str(), early);
  if (pid > 0) {
    std::printf(
        "server_rss_kib: before=%lld peak_while_waiting=%lld after_cancel=%lld hwm=%lld "
        "(%.1f KiB per waiting call)\n",
        static_cast<long long>(rss_before), static_cast<long long>(rss_peak),
        static_cast<long long>(rss_after), static_cast<long long>(hwm_after),
        static_cast<double>(rss_peak - rss_before) / calls);
  }
  absl::MutexLock lock(&mu);
  for (const auto& [status, n] : statuses) std::printf("  %6d  %s\n", n, status.c_str());
  return 0;
}
