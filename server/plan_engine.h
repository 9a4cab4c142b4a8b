// PlanEngine: what PlanService does, without the gRPC plumbing. Plans are
// proposed, approved (maker-checker: never by the proposer; above the
// policy's agent limits only by a supervisor) or rejected; each step is a
// storage command that records the plan and the case event together.
//
// Thread-safe. The Check* methods are cheap and never block. Propose,
// Approve and Reject hand a command to the store's writer and call `done`
// once the commit is durable; Get blocks (a database read) and belongs on
// the executor, never on a gRPC callback thread.
#ifndef COLLECTIONS_SERVER_PLAN_ENGINE_H_
#define COLLECTIONS_SERVER_PLAN_ENGINE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collections/v1/plan_service.pb.h"
#include "server/clock.h"
#include "server/commands.h"
#include "server/policy_registry.h"
#include "storage/store.h"

namespace collections::server {

class CaseEngine;

class PlanEngine {
 public:
  PlanEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
             const CaseEngine* cases);

  // The checks a request passes before any work: INVALID_ARGUMENT naming
  // the field, nothing changed.
  static absl::Status CheckPropose(const v1::ProposePlanRequest& request);
  static absl::Status CheckReject(const v1::RejectPlanRequest& request);
  static absl::Status CheckGet(const v1::GetPlanRequest& request);

  // `proposer`, `approver` and `rejecter` are the callers' names, recorded
  // on the plan and the case's events.
  void Propose(v1::ProposePlanRequest request, const std::string& proposer,
               std::function<void(absl::StatusOr<v1::ProposePlanResponse>)> done,
               CallAlive alive = nullptr);
  void Approve(int64_t plan_id, const std::string& approver, bool supervisor,
               std::function<void(absl::StatusOr<v1::ApprovePlanResponse>)> done,
               CallAlive alive = nullptr);
  void Reject(v1::RejectPlanRequest request, const std::string& rejecter,
              std::function<void(absl::StatusOr<v1::RejectPlanResponse>)> done,
              CallAlive alive = nullptr);

  // Blocking read.
  absl::StatusOr<v1::GetPlanResponse> Get(int64_t plan_id) const;

 private:
  storage::Store* const store_;
  const Clock* const clock_;
  PolicyRegistry* const policies_;
  const CaseEngine* const cases_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_PLAN_ENGINE_H_
