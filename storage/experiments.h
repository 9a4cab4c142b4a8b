// Champion/challenger experiments' rows (migration 12): each experiment as
// its message, and each assigned case's arm with the day it was assigned and
// its days-past-due bucket then; since migration 14 the row also carries
// the case's figures, kept by the writer with each transition
// (experiment_facts.h), which the experiment report sums per arm
// (docs/experiments.md).
//
// Thread-safety: the writes and the Locked reads run inside a storage
// command on the writer (UnitOfWork); the other reads use the store's
// reader pool and are thread-safe.
#ifndef COLLECTIONS_STORAGE_EXPERIMENTS_H_
#define COLLECTIONS_STORAGE_EXPERIMENTS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "collections/v1/experiment_service.pb.h"
#include "storage/store.h"

namespace collections::storage {

// --- On the writer, inside a command -----------------------------------------

// Stores a new experiment under a fresh id (set on `experiment`).
absl::Status InsertExperiment(UnitOfWork& uow, v1::Experiment& experiment);
// Replaces a stored experiment's state and message.
absl::Status UpdateExperiment(UnitOfWork& uow, const v1::Experiment& experiment);
// The stored experiment, read in the command's transaction.
absl::StatusOr<std::optional<v1::Experiment>> LoadExperimentLocked(UnitOfWork& uow,
                                                                   int64_t experiment_id);
// The experiment that is RUNNING or PAUSED, if any (at most one is).
absl::StatusOr<std::optional<v1::Experiment>> LiveExperimentLocked(UnitOfWork& uow);

// A case's arm: `arm` is its index in Experiment.arms; `bucket` the
// case's days-past-due bucket (0 current, 1 1-30, 2 31-60, 3 61-90, 4
// 91-180, 5 180+) on `day`, the day it was assigned.
struct CaseArm {
  int64_t case_id = 0;
  int64_t experiment_id = 0;
  int arm = 0;
  absl::CivilDay day;
  int bucket = 0;
};
absl::Status RecordCaseArm(UnitOfWork& uow, const CaseArm& arm);

// The bucket number of `days_past_due` (as CaseArm::bucket).
int DpdBucketOf(int days_past_due);

// --- Reads on the reader pool -------------------------------------------------

absl::StatusOr<std::optional<v1::Experiment>> GetExperiment(Store& store, int64_t experiment_id);
// Newest first.
absl::StatusOr<std::vector<v1::Experiment>> ListExperiments(Store& store);
// The RUNNING or PAUSED experiment, if any.
absl::StatusOr<std::optional<v1::Experiment>> LiveExperiment(Store& store);

// Up to `limit` case ids of the experiment assigned to an arm other than
// the champion (index 0), above `after_case_id`, in id order.
absl::StatusOr<std::vector<int64_t>> ChallengerCases(Store& store, int64_t experiment_id,
                                                     int64_t after_case_id, int limit);

// One arm's figures (see ExperimentArmFigures in report_service.proto), with
// the sums of squares of the per-case amounts that Welch's interval needs.
struct ArmTotals {
  int arm = 0;
  int64_t cases = 0, cured = 0, rolled = 0, recovered_fen = 0, cost_fen = 0;
  int64_t legal_handoffs = 0, disputes = 0;
  double recovered_squares = 0, cost_squares = 0;
};
// Per arm with cases, by arm index; `today` is the business date the rolls
// are counted on. One pass over the experiment's case_arms_report entries.
absl::StatusOr<std::vector<ArmTotals>> ExperimentArmTotals(Store& store, int64_t experiment_id,
                                                           absl::CivilDay today,
                                                           int cure_window_days);

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_EXPERIMENTS_H_
