// collections-taskbench: measures TaskService from a separate process that
// speaks the public contract only (collections.v1 over gRPC).
//
//   collections-taskbench cycles --tasks=N [--workers=W] [--batch=B]
//     Imports N mild cases (one SMS task each, ready now), then W workers
//     each claim B tasks at a time and complete them (B completions in
//     flight per worker) until the queue is empty. Prints claim->complete
//     cycles per second and the latency of each RPC.
//
//   collections-taskbench latency --rate=R --seconds=S [--streams=K]
//       [--delivery=stream|poll]
//     Creates R tasks per second for S seconds (cases imported at that pace
//     through one ImportDelinquencies stream) while K workers take them by
//     StreamTasks push (or ClaimTasks long-polls) and complete them.
//     Delivery latency is the worker's receive time minus the task's
//     not_before, which the server sets from its clock when the case's
//     transition creates the task (same host, same clock): creation, commit,
//     wake-up, claim and push.
//
// SMS tasks are contact tasks, so the borrowers live in a zone where it is
// midday now: the contact window is checked on every claim, as in
// production. The connection flags (--tls_ca, --tls_cert, --tls_key,
// --token_file, --tls_server_name, or their COLLECTIONS_* variables) are
// those of the other clients (bench/connection_flags.h). Every result is
// one `key=value ...` line on stdout, with a
// human-readable summary on stderr. Exit status: 0, 1 when an RPC fails,
// 2 for bad usage.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/connection_flags.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051",
          "collectionsd's host:port; several, comma-separated: replicas of one database, "
          "each connection to the next in turn.");
ABSL_FLAG(int64_t, tasks, 20000, "cycles: tasks to create, then claim and complete.");
ABSL_FLAG(int32_t, workers, 8, "cycles: concurrent workers, each on its own connection.");
ABSL_FLAG(int32_t, batch, 16, "cycles: max_tasks per claim (completed concurrently).");
ABSL_FLAG(bool, claim_next, false,
          "cycles, with --batch=1: each completion claims the worker's next task in the same "
          "call (CompleteTaskRequest.claim_next); claim latency is then that call's.");
ABSL_FLAG(int32_t, rate, 1000, "latency: tasks created per second.");
ABSL_FLAG(int32_t, seconds, 20, "latency: how long to create tasks.");
ABSL_FLAG(int32_t, streams, 4, "latency: concurrent workers.");
ABSL_FLAG(std::string, delivery, "stream", "latency: stream (StreamTasks) or poll (ClaimTasks).");
ABSL_FLAG(std::string, prefix, "", "Loan id prefix; empty: one from the current time.");

namespace {

namespace v1 = collections::v1;

// A zone whose local time is about noon now (fixed offsets cover every UTC
// hour), so that the contact window is open for the whole run.
std::string NoonZone() {
  const int utc_hour = absl::ToCivilHour(absl::Now(), absl::UTCTimeZone()).hour();
  const int offset = 12 - utc_hour;
  if (offset == 0) return "Etc/UTC";
  return absl::StrCat("Etc/GMT", offset > 0 ? "-" : "+", std::abs(offset));
}

class Feed {
 public:
  Feed() : zone_(NoonZone()) {
    absl::TimeZone shanghai;
    absl::LoadTimeZone("Asia/Shanghai", &shanghai);
    // collectionsd's first business date: today in its business zone.
    today_ = absl::ToCivilDay(absl::Now(), shanghai);
    prefix_ = absl::GetFlag(FLAGS_prefix);
    if (prefix_.empty()) prefix_ = absl::StrCat("TB", absl::ToUnixSeconds(absl::Now()), "-");
  }
  // A mild case (10 days, 2,000 CNY): an SMS reminder ready now, and a
  // reminder call for tomorrow.
  void Row(int64_t i, v1::DelinquencyRecord* r) const {
    r->Clear();
    r->set_loan_id(absl::StrCat(prefix_, i));
    SetDay(today_, r->mutable_as_of());
    SetDay(today_ - 10, r->mutable_oldest_unpaid_due_date());
    v1::Borrower* b = r->mutable_borrower();
    b->set_borrower_id(absl::StrCat("B", prefix_, i));
    b->set_name("Bench Borrower");
    b->add_phones("+8613800000000");
    b->set_time_zone(zone_);
    r->set_principal_outstanding_fen(50'000'000);
    r->mutable_overdue()->set_principal_fen(200'000);
  }
  const std::string& zone() const { return zone_; }

 private:
  static void SetDay(absl::CivilDay d, v1::Date* out) {
    out->set_year(static_cast<int32_t>(d.year()));
    out->set_month(d.month());
    out->set_day(d.day());
  }
  std::string zone_;
  std::string prefix_;
  absl::CivilDay today_;
};

// A connection of its own, to the next of --server's replicas in turn.
std::shared_ptr<grpc::Channel> Connect() {
  // A channel argument that differs per call site gets its own connection.
  static std::atomic<int> n{0};
  const int i = n++;
  const std::vector<std::string> servers =
      absl::StrSplit(absl::GetFlag(FLAGS_server), ',', absl::SkipEmpty());
  grpc::ChannelArguments args;
  args.SetInt("collections.bench.connection", i);
  return collections::bench::OpenChannelOrExit(servers[i % servers.size()], args);
}

// Latency samples in microseconds.
class Samples {
 public:
  void Add(double us) {
    std::lock_guard<std::mutex> lock(mu_);
    v_.push_back(us);
  }
  // "p50=... p90=... p99=... max=..." in milliseconds, with `name`.
  std::string Summary(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    if (v_.empty()) return absl::StrCat(name, "_n=0");
    std::sort(v_.begin(), v_.end());
    auto at = [&](double q) {
      return v_[std::min(v_.size() - 1, static_cast<size_t>(q * v_.size()))] / 1000;
    };
    return absl::StrFormat("%s_n=%d %s_p50_ms=%.3f %s_p90_ms=%.3f %s_p99_ms=%.3f %s_max_ms=%.3f",
                           name, v_.size(), name, at(0.50), name, at(0.90), name, at(0.99), name,
                           v_.back() / 1000);
  }

 private:
  std::mutex mu_;
  std::vector<double> v_;
};

double Us(absl::Duration d) { return absl::ToDoubleMicroseconds(d); }

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

bool Fail(const char* what, const grpc::Status& s) {
  std::fprintf(stderr, "%s failed: %d %s\n", what, static_cast<int>(s.error_code()),
               s.error_message().c_str());
  return false;
}

// Streams rows first..first+n-1, at `rate` rows per second (0: as fast as
// the server takes them).
bool Import(const Feed& feed, int64_t first, int64_t n, int rate) {
  auto stub = v1::CaseService::NewStub(Connect());
  grpc::ClientContext context;
  v1::ImportDelinquenciesResponse response;
  auto writer = stub->ImportDelinquencies(&context, &response);
  v1::ImportDelinquenciesRequest request;
  const absl::Time start = absl::Now();
  for (int64_t i = 0; i < n; ++i) {
    if (rate > 0) {
      const absl::Time due = start + absl::Seconds(1) * i / rate;
      const absl::Duration ahead = due - absl::Now();
      if (ahead > absl::ZeroDuration()) absl::SleepFor(ahead);
    }
    feed.Row(first + i, request.mutable_record());
    if (!writer->Write(request)) break;
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) return Fail("import", s);
  if (response.opened() != n) {
    std::fprintf(stderr, "import opened %lld of %lld cases (rejected %lld)\n",
                 static_cast<long long>(response.opened()), static_cast<long long>(n),
                 static_cast<long long>(response.rejected()));
    return false;
  }
  return true;
}

v1::CompleteTaskRequest Completion(const v1::Task& t) {
  v1::CompleteTaskRequest r;
  r.set_task_id(t.task_id());
  r.set_lease_token(t.lease_token());
  r.set_lease_key(t.lease_key());
  r.set_request_id(absl::StrCat("bench/", t.task_id(), "/", t.lease_token()));
  r.mutable_outcome()->mutable_sms()->set_delivered(true);
  return r;
}

// Counts outstanding asynchronous calls; Wait blocks until none are left.
class InFlight {
 public:
  void Add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++n_;
  }
  void Done(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    --n_;
    if (!ok) ++errors_;
    cv_.notify_all();
  }
  void WaitBelow(int limit) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return n_ < limit; });
  }
  int errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0, errors_ = 0;
};

// Completes `task` asynchronously, recording the RPC's latency.
void CompleteAsync(v1::TaskService::Stub* stub, const v1::Task& task, Samples* latency,
                   InFlight* in_flight) {
  struct Call {
    grpc::ClientContext context;
    v1::CompleteTaskRequest request;
    v1::CompleteTaskResponse response;
    absl::Time start;
  };
  auto* call = new Call;
  call->request = Completion(task);
  call->start = absl::Now();
  in_flight->Add();
  stub->async()->CompleteTask(&call->context, &call->request, &call->response,
                              [call, latency, in_flight](grpc::Status s) {
                                latency->Add(Us(absl::Now() - call->start));
                                if (!s.ok()) Fail("complete", s);
                                in_flight->Done(s.ok());
                                delete call;
                              });
}

int Cycles() {
  const int64_t n = absl::GetFlag(FLAGS_tasks);
  const int workers = absl::GetFlag(FLAGS_workers);
  const int batch = absl::GetFlag(FLAGS_batch);
  const bool claim_next = absl::GetFlag(FLAGS_claim_next);
  if (n < 1 || workers < 1 || batch < 1 || batch > 100 || (claim_next && batch != 1)) {
    std::fprintf(stderr,
                 "--tasks, --workers must be positive and --batch 1..100 (1 with --claim_next)\n");
    return 2;
  }
  Feed feed;
  const absl::Time import_start = absl::Now();
  if (!Import(feed, 0, n, 0)) return 1;
  const absl::Duration import_time = absl::Now() - import_start;
  std::fprintf(stderr, "imported %lld cases in %s (%.0f/s), borrowers in %s\n",
               static_cast<long long>(n), absl::FormatDuration(import_time).c_str(),
               n / absl::ToDoubleSeconds(import_time), feed.zone().c_str());

  Samples claim_latency, complete_latency;
  std::atomic<int64_t> completed{0};
  std::atomic<int> errors{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto stub = v1::TaskService::NewStub(Connect());
      InFlight in_flight;
      v1::ClaimTasksRequest claim;
      claim.set_worker_id(absl::StrCat("bench-", w));
      claim.add_queues("sms");
      claim.set_max_tasks(batch);
      claim.mutable_lease()->set_seconds(120);
      // One ClaimTasks call, timed; false when it failed (counted).
      auto claim_once = [&](v1::ClaimTasksResponse* out) {
        grpc::ClientContext context;
        const absl::Time t0 = absl::Now();
        grpc::Status s = stub->ClaimTasks(&context, claim, out);
        claim_latency.Add(Us(absl::Now() - t0));
        if (!s.ok()) {
          Fail("claim", s);
          ++errors;
        }
        return s.ok();
      };
      if (claim_next) {
        // One call a cycle: the completion hands back the next task. A
        // plain claim only to start, and to make sure none is left.
        std::optional<v1::Task> task;
        while (true) {
          if (!task) {
            v1::ClaimTasksResponse out;
            if (!claim_once(&out) || out.tasks().empty()) break;
            task = out.tasks(0);
          }
          grpc::ClientContext context;
          v1::CompleteTaskRequest request = Completion(*task);
          *request.mutable_claim_next() = claim;
          v1::CompleteTaskResponse response;
          const absl::Time t0 = absl::Now();
          grpc::Status s = stub->CompleteTask(&context, request, &response);
          const double took = Us(absl::Now() - t0);
          complete_latency.Add(took);
          if (!s.ok()) {
            Fail("complete", s);
            ++errors;
            break;
          }
          ++completed;
          task.reset();
          if (response.next_tasks_size() > 0) {
            claim_latency.Add(took);
            task = response.next_tasks(0);
          }
        }
        return;
      }
      while (true) {
        v1::ClaimTasksResponse out;
        if (!claim_once(&out) || out.tasks().empty()) break;
        for (const v1::Task& t : out.tasks()) {
          CompleteAsync(stub.get(), t, &complete_latency, &in_flight);
        }
        in_flight.WaitBelow(1);
        completed += out.tasks_size();
      }
      errors += in_flight.errors();
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration elapsed = absl::Now() - start;
  const double rate = completed.load() / absl::ToDoubleSeconds(elapsed);
  std::fprintf(stderr, "%lld claim->complete cycles in %s: %.0f cycles/s (%d workers, batch %d)\n",
               static_cast<long long>(completed.load()), absl::FormatDuration(elapsed).c_str(),
               rate, workers, batch);
  std::printf(
      "cycles=%lld seconds=%.3f cycles_per_s=%.0f workers=%d batch=%d claim_next=%d "
      "import_per_s=%.0f %s %s errors=%d\n",
      static_cast<long long>(completed.load()), absl::ToDoubleSeconds(elapsed), rate, workers,
      batch, claim_next ? 1 : 0, n / absl::ToDoubleSeconds(import_time),
      claim_latency.Summary("claim").c_str(), complete_latency.Summary("complete").c_str(),
      errors.load());
  return errors.load() == 0 && completed.load() == n ? 0 : 1;
}

int Latency() {
  const int rate = absl::GetFlag(FLAGS_rate);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const int streams = absl::GetFlag(FLAGS_streams);
  const std::string delivery = absl::GetFlag(FLAGS_delivery);
  if (rate < 1 || seconds < 1 || streams < 1 || (delivery != "stream" && delivery != "poll")) {
    std::fprintf(stderr, "--rate, --seconds, --streams must be positive; --delivery stream|poll\n");
    return 2;
  }
  const int64_t total = static_cast<int64_t>(rate) * seconds;
  Feed feed;
  Samples delivered, complete_latency;
  std::atomic<int64_t> received{0};
  std::atomic<bool> done{false};
  std::atomic<int> errors{0};

  auto on_task = [&](v1::TaskService::Stub* stub, const v1::Task& t, InFlight* in_flight) {
    delivered.Add(Us(absl::Now() - TimeOf(t.not_before())));
    ++received;
    CompleteAsync(stub, t, &complete_latency, in_flight);
  };

  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<grpc::ClientContext>> stream_contexts;
  std::mutex contexts_mu;
  for (int w = 0; w < streams; ++w) {
    threads.emplace_back([&, w] {
      auto stub = v1::TaskService::NewStub(Connect());
      InFlight in_flight;
      const std::string worker = absl::StrCat("bench-", w);
      if (delivery == "poll") {
        v1::ClaimTasksRequest claim;
        claim.set_worker_id(worker);
        claim.add_queues("sms");
        claim.set_max_tasks(16);
        claim.mutable_wait()->set_seconds(1);
        while (!done) {
          grpc::ClientContext context;
          v1::ClaimTasksResponse out;
          grpc::Status s = stub->ClaimTasks(&context, claim, &out);
          if (!s.ok()) {
            Fail("claim", s);
            ++errors;
            break;
          }
          for (const v1::Task& t : out.tasks()) on_task(stub.get(), t, &in_flight);
        }
      } else {
        grpc::ClientContext* context;
        {
          std::lock_guard<std::mutex> lock(contexts_mu);
          stream_contexts.push_back(std::make_unique<grpc::ClientContext>());
          context = stream_contexts.back().get();
        }
        auto stream = stub->StreamTasks(context);
        constexpr int kCredits = 256;
        v1::StreamTasksRequest hello;
        hello.set_worker_id(worker);
        hello.add_queues("sms");
        hello.set_credits(kCredits);
        stream->Write(hello);
        v1::StreamTasksResponse pushed;
        int since_grant = 0;
        while (stream->Read(&pushed)) {
          on_task(stub.get(), pushed.task(), &in_flight);
          // Credits back in bulk: fewer writes, never close to running dry.
          if (++since_grant == kCredits / 2) {
            v1::StreamTasksRequest more;
            more.set_credits(since_grant);
            stream->Write(more);
            since_grant = 0;
          }
        }
        stream->Finish().IgnoreError();  // cancelled at the end
      }
      in_flight.WaitBelow(1);
      errors += in_flight.errors();
    });
  }

  const absl::Time start = absl::Now();
  const bool imported = Import(feed, 0, total, rate);
  const absl::Duration create_time = absl::Now() - start;
  // Let the last ones arrive.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (received.load() < total && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  done = true;
  {
    std::lock_guard<std::mutex> lock(contexts_mu);
    for (auto& c : stream_contexts) c->TryCancel();
  }
  for (std::thread& t : threads) t.join();
  std::fprintf(stderr,
               "created %lld tasks in %s (%.0f/s asked %d/s), %lld delivered via %s (%d workers)\n",
               static_cast<long long>(total), absl::FormatDuration(create_time).c_str(),
               total / absl::ToDoubleSeconds(create_time), rate,
               static_cast<long long>(received.load()), delivery.c_str(), streams);
  std::printf(
      "rate=%d seconds=%d created_per_s=%.0f delivered=%lld delivery=%s workers=%d %s %s "
      "errors=%d\n",
      rate, seconds, total / absl::ToDoubleSeconds(create_time),
      static_cast<long long>(received.load()), delivery.c_str(), streams,
      delivered.Summary("delivery").c_str(), complete_latency.Summary("complete").c_str(),
      errors.load());
  return imported && errors.load() == 0 && received.load() == total ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "TaskService benchmark for collectionsd.\n"
      "Usage: collections-taskbench cycles --tasks=N [--workers=W] [--batch=B] [--server=ADDR]\n"
      "       collections-taskbench latency --rate=R --seconds=S [--streams=K] "
      "[--delivery=stream|poll] [--server=ADDR]\n"
      "Both: [--token_file=FILE] [--tls_ca=FILE [--tls_cert=FILE --tls_key=FILE] "
      "[--tls_server_name=NAME]]");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "taskbench_main") || absl::StrContains(file, "connection_flags");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() == 2 ? args[1] : "";
  if (command == "cycles") return Cycles();
  if (command == "latency") return Latency();
  std::fprintf(stderr, "expected one subcommand: cycles or latency (see --help)\n");
  return 2;
}
