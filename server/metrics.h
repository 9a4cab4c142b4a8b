// Metrics: collectionsd's Prometheus endpoint (prometheus-cpp). Off unless
// --metrics_listen names an address; loopback only unless the operator
// says --insecure_listen (the figures carry no personal data, but queue
// names and volumes are the bank's business).
//
// What it exports (docs/metrics.md): every RPC by service, method and
// status code with a latency histogram, from one gRPC interceptor; the
// writer's commands, commits, failures, batches, queue and write latency;
// open tasks by queue, state and hold kind and handoffs per firm (one
// grouped read, cached for kOpenWorkMaxAge of the server's clock, so that
// scrapes cost the database little and never wait on the writer); the
// business date and the last aging run; the reader pool's size.
// Thread-safe: gRPC's threads record, the exporter's threads read.
#ifndef COLLECTIONS_SERVER_METRICS_H_
#define COLLECTIONS_SERVER_METRICS_H_

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/case_engine.h"
#include "storage/store.h"

namespace collections::server {

class Metrics {
 public:
  // What the exporter reads at each scrape.
  struct Sources {
    std::function<storage::WriterStats()> writer;
    std::function<absl::CivilDay()> business_date;
    // The server's clock: the ages exported and the open-work cache's age.
    std::function<absl::Time()> now;
    std::function<absl::StatusOr<storage::OpenWork>(absl::Time now)> open_work;
    std::function<CaseEngine::AgingRun()> last_aging_run;
    int reader_pool_size = 0;
    std::function<int()> readers_in_use;
    int writer_connections = 0;
  };

  // How long a scrape reuses the open-work counts read by an earlier one:
  // kOpenWorkMaxAge, or kOpenWorkReadsPerAge times as long as that read
  // took when it took longer (a large book: the read visits every READY
  // task), at most kOpenWorkLongestAge. So the read costs the database at
  // most a tenth of one connection's time, however often Prometheus
  // scrapes.
  static constexpr absl::Duration kOpenWorkMaxAge = absl::Seconds(5);
  static constexpr int kOpenWorkReadsPerAge = 10;
  static constexpr absl::Duration kOpenWorkLongestAge = absl::Seconds(60);

  // Listens on `listen` (host:port; port 0 picks one). INVALID_ARGUMENT for
  // a non-loopback address unless `allow_open`; UNAVAILABLE when it cannot
  // bind.
  static absl::StatusOr<std::unique_ptr<Metrics>> Start(const std::string& listen, bool allow_open,
                                                        Sources sources);
  ~Metrics();

  int port() const { return port_; }

  // The interceptor factory that counts and times every RPC.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  // Called by the interceptor when an RPC ends.
  void RecordRpc(const std::string& method, grpc::StatusCode code, double seconds);

 private:
  Metrics() = default;
  class Snapshot;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Snapshot> snapshot_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>* rpcs_ = nullptr;
  prometheus::Family<prometheus::Histogram>* rpc_seconds_ = nullptr;
  int port_ = 0;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_METRICS_H_
