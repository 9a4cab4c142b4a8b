#include "server/metrics.h"

#include <prometheus/metric_family.h>

#include <chrono>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "security/transport.h"

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

}  // namespace

// The figures read at each scrape from the server's parts.
class Metrics::Snapshot final : public prometheus::Collectable {
 public:
  explicit Snapshot(Sources sources) : sources_(std::move(sources)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto one = [&](const char* name, const char* help, prometheus::MetricType type, double value) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = type;
      prometheus::ClientMetric metric;
      if (type == prometheus::MetricType::Counter) {
        metric.counter.value = value;
      } else {
        metric.gauge.value = value;
      }
      family.metric.push_back(std::move(metric));
      out.push_back(std::move(family));
    };
    if (sources_.writer) {
      const storage::WriterStats w = sources_.writer();
      one("collections_writer_commands_total", "Commands the store's writer ran.",
          prometheus::MetricType::Counter, static_cast<double>(w.commands));
      one("collections_writer_commits_total", "Transactions the writer committed.",
          prometheus::MetricType::Counter, static_cast<double>(w.commits));
      one("collections_writer_failed_commands_total",
          "Commands that failed (their callers got an error).", prometheus::MetricType::Counter,
          static_cast<double>(w.failed_commands));
      one("collections_writer_largest_batch", "The most commands one commit has carried.",
          prometheus::MetricType::Gauge, static_cast<double>(w.largest_batch));
    }
    if (sources_.business_date) {
      const absl::CivilDay day = sources_.business_date();
      one("collections_business_date_seconds",
          "The business date, as the Unix time of its midnight UTC.", prometheus::MetricType::Gauge,
          absl::ToDoubleSeconds(absl::FromCivil(day, absl::UTCTimeZone()) - absl::UnixEpoch()));
    }
    return out;
  }

 private:
  const Sources sources_;
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

Metrics::~Metrics() = default;

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
