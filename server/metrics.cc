#include "server/metrics.h"

#include <prometheus/metric_family.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "security/transport.h"
#include "server/commands.h"
#include "workflow/compliance.h"

namespace collections::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// "/collections.v1.TaskService/ClaimTasks" -> {"collections.v1.TaskService", "ClaimTasks"}.
std::pair<std::string, std::string> SplitMethod(const std::string& path) {
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (parts.size() != 2) return {"unknown", path};
  return {parts[0], parts[1]};
}

class RpcInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcInterceptor(Metrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), started_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->RecordRpc(method_, methods->GetSendStatus().error_code(),
                          absl::ToDoubleSeconds(absl::Now() - started_));
    }
    methods->Proceed();
  }

 private:
  Metrics* const metrics_;
  const std::string method_;
  const absl::Time started_;
};

class RpcInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcInterceptor(metrics_, info->method() != nullptr ? info->method() : "unknown");
  }

 private:
  Metrics* const metrics_;
};

// One metric family as Collect() builds it: a name, help, type and its
// labelled values.
class FamilyBuilder {
 public:
  FamilyBuilder(const char* name, const char* help, prometheus::MetricType type) {
    family_.name = name;
    family_.help = help;
    family_.type = type;
  }
  FamilyBuilder& Add(std::vector<prometheus::ClientMetric::Label> labels, double value) {
    prometheus::ClientMetric metric;
    metric.label = std::move(labels);
    if (family_.type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family_.metric.push_back(std::move(metric));
    return *this;
  }
  void AppendTo(std::vector<prometheus::MetricFamily>& out) {
    if (!family_.metric.empty()) out.push_back(std::move(family_));
  }

 private:
  prometheus::MetricFamily family_;
};

double SecondsBetween(absl::Time from, absl::Time to) {
  if (from == absl::InfiniteFuture() || to <= from) return 0;
  return absl::ToDoubleSeconds(to - from);
}

}  // namespace

// The figures read at each scrape from the server's parts. The open work
// (tasks, handoffs) is one grouped read, reused for kOpenWorkMaxAge or ten
// times as long as it took.
class Metrics::Snapshot final : public prometheus::Collectable {
 public:
  explicit Snapshot(Sources sources) : sources_(std::move(sources)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    auto one = [&](const char* name, const char* help, MetricType type, double value) {
      FamilyBuilder(name, help, type).Add({}, value).AppendTo(out);
    };
    if (sources_.writer) {
      const storage::WriterStats w = sources_.writer();
      one("collections_writer_commands_total", "Commands the store's writer ran.",
          MetricType::Counter, static_cast<double>(w.commands));
      one("collections_writer_commits_total", "Transactions the writer committed.",
          MetricType::Counter, static_cast<double>(w.commits));
      one("collections_writer_failed_commands_total",
          "Commands that failed (their callers got an error).", MetricType::Counter,
          static_cast<double>(w.failed_commands));
      one("collections_writer_largest_batch", "The most commands one commit has carried.",
          MetricType::Gauge, static_cast<double>(w.largest_batch));
      one("collections_writer_queued_commands", "Commands waiting for the writer now.",
          MetricType::Gauge, static_cast<double>(w.queued_commands));
      one("collections_writer_rejected_commands_total",
          "Commands refused at once (RESOURCE_EXHAUSTED) because the writer's queue was full.",
          MetricType::Counter, static_cast<double>(w.rejected_commands));
      FamilyBuilder("collections_sqlite_wal_checkpoints_total",
                    "SQLite WAL checkpoints: beside the writer (background), or by the writer "
                    "itself because the WAL outgrew four times its checkpoint size (writer).",
                    MetricType::Counter)
          .Add({{"by", "background"}}, static_cast<double>(w.background_checkpoints))
          .Add({{"by", "writer"}}, static_cast<double>(w.writer_checkpoints))
          .AppendTo(out);
    }
    if (sources_.business_date) {
      const absl::CivilDay day = sources_.business_date();
      one("collections_business_date_seconds",
          "The business date, as the Unix time of its midnight UTC.", MetricType::Gauge,
          absl::ToDoubleSeconds(absl::FromCivil(day, absl::UTCTimeZone()) - absl::UnixEpoch()));
    }
    if (sources_.last_aging_run) {
      const CaseEngine::AgingRun run = sources_.last_aging_run();
      one("collections_aging_runs_total", "Business-date moves (aging runs) finished since start.",
          MetricType::Counter, static_cast<double>(run.runs));
      if (run.runs > 0) {
        one("collections_aging_last_run_seconds", "How long the last finished aging run took.",
            MetricType::Gauge, absl::ToDoubleSeconds(run.took));
        one("collections_aging_last_run_days", "How many days the last aging run moved the date.",
            MetricType::Gauge, static_cast<double>(run.days));
      }
    }
    if (sources_.reader_pool_size > 0) {
      one("collections_db_reader_pool_size", "Database connections in the readers' pool.",
          MetricType::Gauge, sources_.reader_pool_size);
    }
    if (sources_.readers_in_use) {
      one("collections_db_readers_in_use", "Readers' pool connections leased by a read now.",
          MetricType::Gauge, sources_.readers_in_use());
    }
    if (sources_.writer_connections > 0) {
      one("collections_db_writer_connections",
          "Writer connections, each with its own group commit (1 on SQLite).", MetricType::Gauge,
          sources_.writer_connections);
    }
    if (sources_.open_work && sources_.now) CollectOpenWork(out);
    return out;
  }

 private:
  void CollectOpenWork(std::vector<prometheus::MetricFamily>& out) const {
    using prometheus::MetricType;
    const absl::Time now = sources_.now();
    storage::OpenWork work;
    int64_t failures = 0;
    absl::Duration took, age;
    {
      absl::MutexLock lock(&mu_);
      const absl::Duration max_age = std::min(
          kOpenWorkLongestAge, std::max(kOpenWorkMaxAge, kOpenWorkReadsPerAge * read_took_));
      const bool fresh =
          read_at_ != absl::InfinitePast() && now >= read_at_ && now - read_at_ < max_age;
      if (!fresh) {
        absl::StatusOr<storage::OpenWork> read = sources_.open_work(now);
        // The server's clock, as for the ages: real time but in tests.
        read_took_ = std::max(absl::ZeroDuration(), sources_.now() - now);
        if (read.ok()) {
          work_ = *std::move(read);
          read_at_ = now;
        } else {
          ++read_failures_;  // the last good counts stay
        }
      }
      work = work_;
      failures = read_failures_;
      took = read_took_;
      age = read_at_ == absl::InfinitePast() ? absl::ZeroDuration() : now - read_at_;
    }
    FamilyBuilder("collections_open_work_read_seconds",
                  "How long the last read of the open tasks and handoffs took (the counts "
                  "are reused for ten times as long, at least 5 s and at most 60 s).",
                  MetricType::Gauge)
        .Add({}, absl::ToDoubleSeconds(took))
        .AppendTo(out);
    FamilyBuilder("collections_open_work_age_seconds",
                  "How old the open task and handoff counts shown are.", MetricType::Gauge)
        .Add({}, absl::ToDoubleSeconds(age))
        .AppendTo(out);
    FamilyBuilder("collections_open_work_read_failures_total",
                  "Scrapes whose read of the open tasks and handoffs failed (the figures "
                  "shown are then the last ones read).",
                  MetricType::Counter)
        .Add({}, static_cast<double>(failures))
        .AppendTo(out);

    struct Queue {
      int64_t ready = 0, scheduled = 0, leased = 0;
      absl::Time oldest_ready = absl::InfiniteFuture();
      std::map<std::string, int64_t> held;  // by hold kind
    };
    std::map<std::string, Queue> queues;
    for (const storage::OpenTaskGroup& g : work.tasks) {
      Queue& q = queues[g.queue];
      if (g.leased) {
        q.leased += g.tasks;
      } else if (!g.hold_prefix.empty()) {
        q.held[std::string(workflow::HoldKindOf(g.hold_prefix))] += g.tasks;
      } else {
        q.ready += g.tasks - g.not_yet_due;
        q.scheduled += g.not_yet_due;
        q.oldest_ready = std::min(q.oldest_ready, g.oldest_due);
      }
    }
    FamilyBuilder ready("collections_tasks_ready",
                        "READY tasks without a hold whose time has come, by queue.",
                        MetricType::Gauge);
    FamilyBuilder scheduled("collections_tasks_scheduled",
                            "READY tasks without a hold whose not_before is still ahead, by queue.",
                            MetricType::Gauge);
    FamilyBuilder leased("collections_tasks_leased", "LEASED tasks, by queue.", MetricType::Gauge);
    FamilyBuilder held("collections_tasks_held",
                       "READY tasks held back, by queue and kind of hold reason.",
                       MetricType::Gauge);
    FamilyBuilder oldest("collections_tasks_oldest_ready_age_seconds",
                         "How long the longest-waiting ready task of each queue has been "
                         "claimable (0: none).",
                         MetricType::Gauge);
    for (const auto& [name, q] : queues) {
      ready.Add({{"queue", name}}, static_cast<double>(q.ready));
      scheduled.Add({{"queue", name}}, static_cast<double>(q.scheduled));
      leased.Add({{"queue", name}}, static_cast<double>(q.leased));
      oldest.Add({{"queue", name}}, q.ready > 0 ? SecondsBetween(q.oldest_ready, now) : 0);
      for (const auto& [kind, n] : q.held) {
        held.Add({{"queue", name}, {"reason", kind}}, static_cast<double>(n));
      }
    }
    ready.AppendTo(out);
    scheduled.AppendTo(out);
    leased.AppendTo(out);
    held.AppendTo(out);
    oldest.AppendTo(out);

    FamilyBuilder unacknowledged("collections_handoffs_unacknowledged",
                                 "Handoffs the firm has not acknowledged yet.", MetricType::Gauge);
    FamilyBuilder lag("collections_handoff_stream_lag_sequences",
                      "The firm's newest handoff sequence minus the newest it acknowledged.",
                      MetricType::Gauge);
    FamilyBuilder waiting("collections_handoff_oldest_unacknowledged_age_seconds",
                          "How long the firm's oldest unacknowledged handoff has waited (0: none).",
                          MetricType::Gauge);
    for (const storage::FirmHandoffCounts& f : work.handoffs) {
      unacknowledged.Add({{"firm", f.firm_id}}, static_cast<double>(f.unacknowledged));
      lag.Add({{"firm", f.firm_id}},
              static_cast<double>(f.newest_sequence - f.newest_acknowledged_sequence));
      waiting.Add({{"firm", f.firm_id}}, SecondsBetween(f.oldest_unacknowledged, now));
    }
    unacknowledged.AppendTo(out);
    lag.AppendTo(out);
    waiting.AppendTo(out);
  }

  const Sources sources_;
  mutable absl::Mutex mu_;
  mutable storage::OpenWork work_ ABSL_GUARDED_BY(mu_);
  mutable absl::Time read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable int64_t read_failures_ ABSL_GUARDED_BY(mu_) = 0;
  mutable absl::Duration read_took_ ABSL_GUARDED_BY(mu_);  // the last read's
};

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Start(const std::string& listen, bool allow_open,
                                                        Sources sources) {
  if (!allow_open && !security::IsLoopbackListen(listen)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen=", listen,
                     " is not a loopback address (pass --insecure_listen to "
                     "serve metrics on an open address)"));
  }
  std::unique_ptr<Metrics> metrics(new Metrics());
  metrics->registry_ = std::make_shared<prometheus::Registry>();
  metrics->rpcs_ = &prometheus::BuildCounter()
                        .Name("collections_rpcs_total")
                        .Help("RPCs finished, by service, method and gRPC status code.")
                        .Register(*metrics->registry_);
  metrics->rpc_seconds_ = &prometheus::BuildHistogram()
                               .Name("collections_rpc_seconds")
                               .Help("How long RPCs took, by service and method.")
                               .Register(*metrics->registry_);
  // The histogram lives in the registry, which the observer shares: a
  // writer callback that copied the observer just before ~Metrics stays safe.
  prometheus::Histogram* write_seconds =
      &prometheus::BuildHistogram()
           .Name("collections_write_seconds")
           .Help(
               "How long the RPCs' writes took from submission to a durable commit (the "
               "writer's queue, the command, the group commit).")
           .Register(*metrics->registry_)
           .Add({},
                prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  SetWriteLatencyObserver(metrics.get(),
                          [registry = metrics->registry_, write_seconds](absl::Duration took) {
                            write_seconds->Observe(absl::ToDoubleSeconds(took));
                          });
  metrics->snapshot_ = std::make_shared<Snapshot>(std::move(sources));
  try {
    // civetweb's listening_ports wants host:port with a numeric port; "0"
    // picks a free one.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  metrics->exposer_->RegisterCollectable(metrics->snapshot_);
  const std::vector<int> ports = metrics->exposer_->GetListeningPorts();
  metrics->port_ = ports.empty() ? 0 : ports.front();
  return metrics;
}

Metrics::~Metrics() { ClearWriteLatencyObserver(this); }

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::InterceptorFactory() {
  return std::make_unique<RpcInterceptorFactory>(this);
}

void Metrics::RecordRpc(const std::string& method, grpc::StatusCode code, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  auto [service, name] = SplitMethod(method);
  rpcs_
      ->Add({{"service", service},
             {"method", name},
             {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}})
      .Increment();
  rpc_seconds_->Add({{"service", service}, {"method", name}}, kBuckets).Observe(seconds);
}

}  // namespace collections::server
