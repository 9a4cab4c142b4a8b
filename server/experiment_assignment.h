// OpenCase: how an import opens a new case, in the live experiment's arm
// when the case takes part (docs/experiments.md): decided under the
// champion's policy to learn its class, assigned an arm by the loan's hash,
// opened under the arm's policy version, then an `experiment_assigned`
// event and the case's case_arms row, all in the import's transaction.
// Without a live experiment, or out of its scope, the case opens under the
// current policy as before.
//
// Runs on the store's writer thread inside a command.
#ifndef COLLECTIONS_SERVER_EXPERIMENT_ASSIGNMENT_H_
#define COLLECTIONS_SERVER_EXPERIMENT_ASSIGNMENT_H_

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "collections/v1/case.pb.h"
#include "server/clock.h"
#include "server/experiment_registry.h"
#include "server/policy_registry.h"
#include "storage/store.h"

namespace collections::server {

// The actor of assignment events.
inline constexpr char kExperimentActor[] = "system:experiment";

// `event` is the import opening the case (case_id set); `experiments` may
// be null (no experiments).
absl::Status OpenCase(storage::UnitOfWork& uow, PolicyRegistry& policies,
                      const ExperimentRegistry* experiments, const Clock& clock,
                      const v1::CaseEvent& event, absl::CivilDay today);

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_EXPERIMENT_ASSIGNMENT_H_
