// AccessEngine: what AccessService does, without the gRPC plumbing. It
// reads and stores versions of the access rules (storage/access_rules.h)
// and hands each newer version to the call gate, which admits every call
// by it from then on. The rules of other replicas arrive through Refresh
// (a peer's notification, or the periodic look every replica takes).
//
// Also the start-up side (EnsureAccessRulesStored): a database without
// rules takes the access file's as version 1; a database with rules keeps
// them, whatever the file says.
//
// Thread-safe. CheckPut never blocks; Get, Put and Refresh block (database
// reads and writes) and belong on the executor or a thread of their own,
// never on a gRPC callback thread.
#ifndef COLLECTIONS_SERVER_ACCESS_ENGINE_H_
#define COLLECTIONS_SERVER_ACCESS_ENGINE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collections/v1/access_service.pb.h"
#include "security/call_gate.h"
#include "server/clock.h"
#include "storage/audit.h"
#include "storage/store.h"

namespace collections::server {

// The method whose callers may change the rules: rules that leave nobody
// able to call it are refused.
inline constexpr char kPutAccessRulesMethod[] = "/collections.v1.AccessService/PutAccessRules";

// The same certificates and methods, in the same order (the version and
// who stored it aside).
bool SameAccessRules(const v1::AccessRules& a, const v1::AccessRules& b);

struct StartupAccessRules {
  v1::AccessRules rules;  // the newest stored version after the call
  bool added = false;     // the file's rules were stored as version 1
};

// The rules collectionsd starts with: the newest stored version; when none
// is stored yet, `file_rules` stored as version 1 (recorded in the audit
// log as "system:startup", created at `now`). Safe when several replicas
// start at once on one database.
absl::StatusOr<StartupAccessRules> EnsureAccessRulesStored(storage::Store& store,
                                                           const v1::AccessRules& file_rules,
                                                           absl::Time now);

class AccessEngine {
 public:
  AccessEngine(storage::Store* store, const Clock* clock, security::CallGate* gate);

  // The checks a PutAccessRules request passes before any work:
  // INVALID_ARGUMENT (the request id, rules that do not validate) and
  // FAILED_PRECONDITION (rules nobody could change again); nothing stored.
  absl::Status CheckPut(const v1::PutAccessRulesRequest& request) const;
  // INVALID_ARGUMENT for a negative version.
  static absl::Status CheckGet(const v1::GetAccessRulesRequest& request);

  // The stored version `version` (0: the newest); NOT_FOUND when none.
  absl::StatusOr<v1::GetAccessRulesResponse> Get(int64_t version) const;
  // Stores the request's rules (checked by CheckPut) as a new version
  // unless they equal the newest one (then `unchanged`), records `by` in
  // the audit log and the answer under the request id in the same
  // transaction, and admits by the new version at once.
  absl::StatusOr<v1::PutAccessRulesResponse> Put(const v1::PutAccessRulesRequest& request,
                                                 storage::AuditEntry by);
  // Admits by the newest stored version when it is newer than the gate's.
  absl::Status Refresh();

 private:
  storage::Store* const store_;
  const Clock* const clock_;
  security::CallGate* const gate_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_ACCESS_ENGINE_H_
