// CallGate: the one place where a call's caller and permission are decided.
// Authentication: a client certificate (mutual TLS) mapped by the access
// configuration to a system principal, and/or a bearer token verified by
// TokenVerifier; a token, when present, names the caller. Authorization:
// the AccessTable. Metadata the caller sends about itself
// ("collections-actor", "collections-role") is never read.
//
// The gate runs twice per call, from the same code: as gRPC's
// AuthMetadataProcessor (Processor()), before any handler, on TLS and
// loopback listeners; and in each handler (Admit), which also yields the
// principal the handler acts for (tokens are verified once and remembered,
// so the second run is a lookup). Thread-safe.
#ifndef COLLECTIONS_SECURITY_CALL_GATE_H_
#define COLLECTIONS_SECURITY_CALL_GATE_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "collections/v1/access.pb.h"
#include "security/access_table.h"
#include "security/principal.h"
#include "security/token_verifier.h"

namespace collections::security {

class CallGate {
 public:
  using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

  // Reads the access configuration (protobuf text format) at `path`.
  // INVALID_ARGUMENT naming what to fix.
  static absl::StatusOr<std::unique_ptr<CallGate>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<CallGate>> Create(const v1::AccessConfig& config,
                                                          const std::string& base_dir);

  // Who is calling. UNAUTHENTICATED without usable credentials.
  absl::StatusOr<Principal> Authenticate(const Metadata& metadata,
                                         const grpc::AuthContext* auth) const;
  // Authenticate, then the table's check for `method` ("/pkg.Service/M").
  // UNAUTHENTICATED or PERMISSION_DENIED (naming the roles needed).
  absl::StatusOr<Principal> Admit(const Metadata& metadata, const grpc::AuthContext* auth,
                                  absl::string_view method) const;
  // The same, for a handler: the principal carries the peer's address.
  absl::StatusOr<Principal> Admit(const grpc::ServerContextBase& context,
                                  absl::string_view method) const;

  // A processor that refuses calls Admit refuses, before any handler runs.
  std::shared_ptr<grpc::AuthMetadataProcessor> Processor() const;

  const AccessTable& table() const { return table_; }

 private:
  CallGate(v1::AccessConfig config, AccessTable table, std::unique_ptr<TokenVerifier> tokens);
  // The configured system for the certificate's SANs, if any matches.
  const v1::CertificatePrincipal* CertificateFor(const grpc::AuthContext& auth,
                                                 std::string* matched) const;

  const v1::AccessConfig config_;
  const AccessTable table_;
  const std::unique_ptr<TokenVerifier> tokens_;  // null without jwt settings
};

}  // namespace collections::security

#endif  // COLLECTIONS_SECURITY_CALL_GATE_H_
