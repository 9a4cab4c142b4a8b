// AccessTable: the one method -> roles table. Every RPC of the services has
// an entry; the defaults are the ones a bank would choose (README, "Roles"),
// and the access rules' `methods` (stored in the database, docs/security.md)
// may change any of them. Immutable once built; safe to share between
// threads.
#ifndef COLLECTIONS_SECURITY_ACCESS_TABLE_H_
#define COLLECTIONS_SECURITY_ACCESS_TABLE_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "collections/v1/access.pb.h"
#include "security/principal.h"

namespace collections::security {

class AccessTable {
 public:
  // The built-in table with `methods` applied. INVALID_ARGUMENT for an
  // unknown method or role, the message starting with `source` ("access
  // config", "access rules").
  static absl::StatusOr<AccessTable> Create(
      const google::protobuf::RepeatedPtrField<v1::MethodRoles>& methods,
      absl::string_view source = "access config");
  static absl::StatusOr<AccessTable> Create(const v1::AccessConfig& config) {
    return Create(config.methods());
  }
  // The built-in table alone.
  static AccessTable Defaults();

  // `method` as gRPC names it: "/collections.v1.TaskService/ClaimTasks" (a
  // leading slash is optional). OK when the principal has one of the
  // method's roles; PERMISSION_DENIED naming the roles that would do
  // otherwise, and for a method not in the table. Server reflection is open
  // to every authenticated caller.
  absl::Status Check(absl::string_view method, const Principal& principal) const;

  // Every method of the table, "collections.v1.Service/Method", sorted.
  std::vector<std::string> Methods() const;
  // The roles of `method`; empty when unknown.
  std::set<std::string> RolesOf(absl::string_view method) const;

  // Methods anyone may call without credentials (the standard health check).
  static bool IsOpen(absl::string_view method);

 private:
  std::map<std::string, std::set<std::string>, std::less<>> roles_;
};

}  // namespace collections::security

#endif  // COLLECTIONS_SECURITY_ACCESS_TABLE_H_
