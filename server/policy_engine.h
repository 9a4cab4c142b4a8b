// PolicyEngine: what PolicyService does, without the gRPC plumbing. It reads
// and stores policy versions (PolicyRegistry keeps the one new cases get)
// and migrates cases to a newer version, each move a `policy_migrated`
// event decided by workflow::Decide under the new version and applied
// through the store's writer like any other transition.
//
// Thread-safe. The Check* methods are cheap and never block; the others
// block (database reads and writes) and belong on the executor, never on a
// gRPC callback thread. Put calls run one at a time, so the newest stored
// version is the current one.
#ifndef COLLECTIONS_SERVER_POLICY_ENGINE_H_
#define COLLECTIONS_SERVER_POLICY_ENGINE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collections/v1/policy_service.pb.h"
#include "server/clock.h"
#include "server/policy_registry.h"
#include "storage/store.h"

namespace collections::server {

class CaseEngine;

class PolicyEngine {
 public:
  PolicyEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
               const CaseEngine* cases);

  // The checks a request passes before any work: INVALID_ARGUMENT naming
  // the field, nothing changed.
  static absl::Status CheckGet(const v1::GetPolicyRequest& request);
  static absl::Status CheckPut(const v1::PutPolicyRequest& request);
  static absl::Status CheckMigrate(const v1::MigrateCasesRequest& request);
  static absl::Status CheckSimulate(const v1::SimulatePolicyRequest& request);

  // The policy of `version`, 0 meaning the current one; NOT_FOUND for a
  // version never stored.
  absl::StatusOr<v1::Policy> Get(int64_t version) const;

  // Stores `policy` (checked by CheckPut) as a new version and makes it
  // current, unless it is the same as the current one (then `unchanged`,
  // and nothing is recorded). The audit log records `by` with the new
  // version, in the same transaction.
  absl::StatusOr<v1::PutPolicyResponse> Put(v1::Policy policy, storage::AuditEntry by);

  // Every stored version with its count of open cases, and the current one.
  absl::StatusOr<v1::ListPolicyVersionsResponse> ListVersions() const;

  // Moves the cases `request` (checked by CheckMigrate) names to its target
  // version, one storage command per case; `by`'s principal is recorded on
  // each event, and `by` in the audit log for each case moved (same
  // transaction). A case's failure is its own and is counted and listed.
  absl::StatusOr<v1::MigrateCasesResponse> Migrate(const v1::MigrateCasesRequest& request,
                                                   const storage::AuditEntry& by);

  // Blocking, minutes at most on a large book: runs the open book forward
  // under the request's candidate (checked by CheckSimulate) and under the
  // current policy (workflow/simulation.h), the two on a thread each, page
  // by page of the book. Reads only; writes nothing.
  absl::StatusOr<v1::SimulatePolicyResponse> Simulate(
      const v1::SimulatePolicyRequest& request) const;

 private:
  storage::Store* const store_;
  const Clock* const clock_;
  PolicyRegistry* const policies_;
  const CaseEngine* const cases_;
  absl::Mutex put_mu_;  // one Put at a time
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_POLICY_ENGINE_H_
