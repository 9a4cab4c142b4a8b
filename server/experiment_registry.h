// ExperimentRegistry: the experiment that is RUNNING or PAUSED (at most one
// is), as imports need it to assign new cases without reading the database
// per case. ExperimentEngine sets it after each change it commits;
// Refresh re-reads it at start and when another replica committed
// (Server::RefreshSharedState).
//
// Thread-safe.
#ifndef COLLECTIONS_SERVER_EXPERIMENT_REGISTRY_H_
#define COLLECTIONS_SERVER_EXPERIMENT_REGISTRY_H_

#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "collections/v1/experiment_service.pb.h"
#include "storage/experiments.h"
#include "storage/store.h"

namespace collections::server {

class ExperimentRegistry {
 public:
  explicit ExperimentRegistry(storage::Store* store) : store_(store) {}

  // The live experiment, if any.
  std::optional<v1::Experiment> Live() const {
    absl::MutexLock lock(&mu_);
    return live_;
  }

  // After a change this replica committed: `experiment` as now stored.
  void Changed(const v1::Experiment& experiment) {
    absl::MutexLock lock(&mu_);
    const bool live = experiment.state() == v1::EXPERIMENT_STATE_RUNNING ||
                      experiment.state() == v1::EXPERIMENT_STATE_PAUSED;
    if (live) {
      live_ = experiment;
    } else if (live_ && live_->experiment_id() == experiment.experiment_id()) {
      live_.reset();
    }
  }

  // Re-reads the live experiment from the database.
  absl::Status Refresh() {
    absl::StatusOr<std::optional<v1::Experiment>> live = storage::LiveExperiment(*store_);
    if (!live.ok()) return live.status();
    absl::MutexLock lock(&mu_);
    live_ = *std::move(live);
    return absl::OkStatus();
  }

 private:
  storage::Store* const store_;
  mutable absl::Mutex mu_;
  std::optional<v1::Experiment> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_EXPERIMENT_REGISTRY_H_
