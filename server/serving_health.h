// ServingHealth: what grpc.health.v1 says about the server, kept true.
//
// The overall status and every collections.v1 service are NOT_SERVING while
// the database cannot be written: the store reports each group commit's
// outcome (StoreOptions::on_write_outcome, wired to OnWriteOutcome) and a
// database error flips health to NOT_SERVING at once (a conflict, ABORTED,
// only when kConflictsBeforeNotServing commits in a row fail so). While unhealthy, a
// probe write (one transaction storing 256 KiB under an idempotency key of
// its own, replacing the last probe's) is submitted every `probe_interval`
// of real time; the first
// that commits flips health back to SERVING, without waiting for a user's
// write. (Another command's successful commit proves nothing: it may have
// written no page at all.) Write failures are logged with their cause, once per
// distinct cause per minute of the server's clock with a count of those in
// between, never silently and never a line per failure.
//
// While the start-up catch-up runs (SetCatchingUp), ReportService is
// NOT_SERVING: today's report snapshot is being taken again.
//
// Thread-safe: OnWriteOutcome may be called from several writer threads at
// once and never blocks on the writer.
#ifndef COLLECTIONS_SERVER_SERVING_HEALTH_H_
#define COLLECTIONS_SERVER_SERVING_HEALTH_H_

#include <grpcpp/health_check_service_interface.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/clock.h"
#include "storage/store.h"

namespace collections::server {

class ServingHealth {
 public:
  // Failures of one cause are logged at most once per this much of the clock.
  static constexpr absl::Duration kLogInterval = absl::Minutes(1);
  // Commits failing with ABORTED (busy, serialization failure) in a row,
  // with no commit succeeding between them, before health turns.
  static constexpr int kConflictsBeforeNotServing = 3;

  // `services`: the collections.v1 services whose status it sets (besides
  // the overall one); `report_service` is among them.
  ServingHealth(const Clock* clock, std::vector<std::string> services, std::string report_service);
  ~ServingHealth();  // Stop()
  ServingHealth(const ServingHealth&) = delete;
  ServingHealth& operator=(const ServingHealth&) = delete;

  // The store's on_write_outcome.
  void OnWriteOutcome(const absl::Status& outcome);

  // Publishes the statuses on `health` from now on (null: nowhere), and
  // starts probing `store` while the database cannot be written.
  void Start(grpc::HealthCheckServiceInterface* health, storage::Store* store,
             absl::Duration probe_interval = absl::Seconds(1));
  // Stops the probe and publishes nothing more (the server's shutdown sets
  // NOT_SERVING for good). Idempotent.
  void Stop();

  void SetCatchingUp(bool catching_up);

  // Whether the last commit's outcome was a success (true before any).
  bool writable() const;

 private:
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LogFailureLocked(const absl::Status& outcome) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProbeLoop();

  struct Cause {
    absl::Time last_logged;
    int64_t unlogged = 0;  // failures since last_logged
  };

  const Clock* const clock_;
  const std::vector<std::string> services_;
  const std::string report_service_;

  mutable absl::Mutex mu_;
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(mu_) = nullptr;
  storage::Store* store_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration probe_interval_ ABSL_GUARDED_BY(mu_);
  bool writable_ ABSL_GUARDED_BY(mu_) = true;
  bool catching_up_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool probe_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  int64_t failures_while_unwritable_ ABSL_GUARDED_BY(mu_) = 0;
  int consecutive_conflicts_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Cause> causes_ ABSL_GUARDED_BY(mu_);
  std::thread prober_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_SERVING_HEALTH_H_
