// Principal: who is calling, as established by a client certificate or a
// verified bearer token — never by what the caller says about itself. A
// value type; safe to copy between threads.
#ifndef COLLECTIONS_SECURITY_PRINCIPAL_H_
#define COLLECTIONS_SECURITY_PRINCIPAL_H_

#include <set>
#include <string>

#include "absl/strings/string_view.h"

namespace collections::security {

// The six roles of the method -> roles table.
inline constexpr const char* kRoles[] = {"agent",   "supervisor", "legal",
                                         "manager", "admin",      "ingest"};
bool IsRole(absl::string_view name);

struct Principal {
  // The token's `sub`, or the configured name of a system's certificate.
  // Events and the audit log record it.
  std::string name;
  std::set<std::string> roles;
  // For the role "legal": the firm the caller speaks for.
  std::string firm_id;
  // The client certificate's matched SAN (URI or DNS), when one was
  // presented and mapped.
  std::string certificate;
  // The peer address, for the audit log ("ipv4:10.0.0.7:51234").
  std::string peer;

  bool HasRole(absl::string_view role) const { return roles.count(std::string(role)) > 0; }
  // "amy (agent, supervisor)".
  std::string Describe() const;
};

}  // namespace collections::security

#endif  // COLLECTIONS_SECURITY_PRINCIPAL_H_
