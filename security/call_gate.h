// CallGate: the one place where a call's caller and permission are decided.
// Authentication: a client certificate (mutual TLS) mapped by the access
// configuration to a system principal, and/or a bearer token verified by
// TokenVerifier; a token, when present, names the caller. Authorization:
// the AccessTable. Metadata the caller sends about itself
// ("collections-actor", "collections-role") is never read.
//
// The access rules (the certificate mappings and the method -> roles
// changes, collections.v1.AccessRules) are replaceable while the server
// runs (UseRules): the server takes them from the database and gives the
// gate each newer version (docs/security.md). One Admit decides under one
// version, read once at its start, so a call's principal and its method's
// roles always come from the same rules. The token issuer and its keys are
// the file's and never change here.
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

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "collections/v1/access.pb.h"
#include "collections/v1/access_service.pb.h"
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

  // INVALID_ARGUMENT naming the entry (the message starts with `source`)
  // for an unknown method or role, a certificate entry without a principal
  // or without exactly one of uri and dns, or two entries matching the
  // same URI or DNS name.
  static absl::Status ValidateRules(const v1::AccessRules& rules,
                                    absl::string_view source = "access rules");
  // FAILED_PRECONDITION when, under `rules`, nobody could call `method`
  // ("/pkg.Service/M") on this gate: its role list is empty, or this gate
  // accepts no bearer tokens and no certificate entry holds one of its
  // roles. (A gate with jwt settings cannot know which roles the identity
  // provider will issue: any of the method's roles will do.)
  absl::Status CheckSomeoneMayCall(const v1::AccessRules& rules, absl::string_view method) const;

  // The access file's `certificates` and `methods`, as rules of version 0.
  const v1::AccessRules& file_rules() const { return file_rules_; }
  // Admits by `rules` from now on, unless the gate already admits by a
  // version at least as new (false then: nothing changed). INVALID_ARGUMENT
  // for rules ValidateRules refuses (nothing changes).
  absl::StatusOr<bool> UseRules(const v1::AccessRules& rules);
  // The rules in force (version 0: the file's, before any UseRules).
  v1::AccessRules rules() const;
  int64_t rules_version() const;

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

  // The method -> roles table in force now.
  AccessTable table() const { return Current()->table; }

 private:
  // One version of the rules with its table: immutable, shared by the calls
  // admitted under it.
  struct Rules {
    v1::AccessRules message;
    AccessTable table;
  };

  CallGate(v1::AccessRules file_rules, AccessTable table, std::unique_ptr<TokenVerifier> tokens);
  std::shared_ptr<const Rules> Current() const;
  absl::StatusOr<Principal> Authenticate(const Metadata& metadata, const grpc::AuthContext* auth,
                                         const Rules& rules) const;
  // The configured system for the certificate's SANs, if any matches.
  static const v1::CertificatePrincipal* CertificateFor(const grpc::AuthContext& auth,
                                                        const Rules& rules, std::string* matched);

  const v1::AccessRules file_rules_;
  const std::unique_ptr<TokenVerifier> tokens_;  // null without jwt settings
  mutable absl::Mutex mu_;
  std::shared_ptr<const Rules> rules_ ABSL_GUARDED_BY(mu_);
};

}  // namespace collections::security

#endif  // COLLECTIONS_SECURITY_CALL_GATE_H_
