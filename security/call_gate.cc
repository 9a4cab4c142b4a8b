#include "security/call_gate.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "google/protobuf/text_format.h"

namespace collections::security {
namespace {

absl::string_view View(const grpc::string_ref& ref) { return {ref.data(), ref.size()}; }

std::string Dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

class GateProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit GateProcessor(const CallGate* gate) : gate_(gate) {}
  // Verification is CPU work of microseconds, and remembered: it runs inline.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* /*consumed*/, OutputMetadata* /*response*/) override {
    auto path = metadata.find(":path");
    const absl::string_view method = path == metadata.end() ? "" : View(path->second);
    if (AccessTable::IsOpen(method)) return grpc::Status::OK;
    // Nothing is written into `context`: gRPC shares it between the calls
    // of one connection, so a per-call principal stored there would leak
    // into the next call. Handlers run Admit themselves.
    absl::StatusOr<Principal> admitted = gate_->Admit(metadata, context, method);
    if (admitted.ok()) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(admitted.status().code()),
                        std::string(admitted.status().message()));
  }

 private:
  const CallGate* const gate_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CallGate>> CallGate::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read access config ", path));
  std::stringstream text;
  text << in.rdbuf();
  v1::AccessConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &config)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "access config ", path, " is not a collections.v1.AccessConfig in text format"));
  }
  return Create(config, Dir(path));
}

absl::StatusOr<std::unique_ptr<CallGate>> CallGate::Create(const v1::AccessConfig& config,
                                                           const std::string& base_dir) {
  v1::AccessRules file_rules;
  *file_rules.mutable_certificates() = config.certificates();
  *file_rules.mutable_methods() = config.methods();
  RETURN_IF_ERROR(ValidateRules(file_rules, "access config"));
  ASSIGN_OR_RETURN(AccessTable table, AccessTable::Create(file_rules.methods(), "access config"));
  std::unique_ptr<TokenVerifier> tokens;
  if (config.has_jwt()) {
    ASSIGN_OR_RETURN(tokens, TokenVerifier::Create(config.jwt(), base_dir));
  }
  if (tokens == nullptr && config.certificates().empty()) {
    return absl::InvalidArgumentError(
        "access config: no way to authenticate anyone (give jwt settings or certificates)");
  }
  return std::unique_ptr<CallGate>(
      new CallGate(std::move(file_rules), std::move(table), std::move(tokens)));
}

absl::Status CallGate::ValidateRules(const v1::AccessRules& rules, absl::string_view source) {
  RETURN_IF_ERROR(AccessTable::Create(rules.methods(), source).status());
  // Who matched first would otherwise decide silently who a system is.
  std::map<std::string, std::string> principal_of;  // "uri:..." / "dns:..." -> principal
  for (const v1::CertificatePrincipal& cert : rules.certificates()) {
    const std::string where = absl::StrCat(source, ": certificates \"", cert.principal(), "\"");
    if (cert.principal().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": every certificate needs a principal"));
    }
    if (cert.uri().empty() == cert.dns().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": give exactly one of uri, dns"));
    }
    for (const std::string& role : cert.roles()) {
      if (!IsRole(role)) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": unknown role \"", role, "\""));
      }
    }
    const std::string match = cert.uri().empty()
                                  ? absl::StrCat("dns ", absl::AsciiStrToLower(cert.dns()))
                                  : absl::StrCat("uri ", cert.uri());
    auto [it, added] = principal_of.emplace(match, cert.principal());
    if (!added) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ", match, " is already matched by certificates \"", it->second, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status CallGate::CheckSomeoneMayCall(const v1::AccessRules& rules,
                                           absl::string_view method) const {
  ASSIGN_OR_RETURN(AccessTable table, AccessTable::Create(rules.methods(), "access rules"));
  const std::set<std::string> roles = table.RolesOf(method);
  absl::string_view bare = absl::StripPrefix(method, "/");
  if (roles.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("these rules close ", bare, " to every role: nobody could change them again"));
  }
  if (tokens_ != nullptr) return absl::OkStatus();
  for (const v1::CertificatePrincipal& cert : rules.certificates()) {
    for (const std::string& role : cert.roles()) {
      if (roles.count(role) > 0) return absl::OkStatus();
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "this server accepts no bearer tokens and no certificate in these rules has the role ",
      absl::StrJoin(roles, " or "), " that ", bare, " needs: nobody could change them again"));
}

CallGate::CallGate(v1::AccessRules file_rules, AccessTable table,
                   std::unique_ptr<TokenVerifier> tokens)
    : file_rules_(std::move(file_rules)),
      tokens_(std::move(tokens)),
      rules_(std::make_shared<const Rules>(Rules{file_rules_, std::move(table)})) {}

std::shared_ptr<const CallGate::Rules> CallGate::Current() const {
  absl::MutexLock lock(&mu_);
  return rules_;
}

absl::StatusOr<bool> CallGate::UseRules(const v1::AccessRules& rules) {
  RETURN_IF_ERROR(ValidateRules(rules));
  ASSIGN_OR_RETURN(AccessTable table, AccessTable::Create(rules.methods(), "access rules"));
  auto next = std::make_shared<const Rules>(Rules{rules, std::move(table)});
  absl::MutexLock lock(&mu_);
  // Versions only grow: a slow reader's older answer must not undo a newer
  // version another thread has put in place.
  if (rules_->message.version() >= rules.version()) return false;
  rules_ = std::move(next);
  return true;
}

v1::AccessRules CallGate::rules() const { return Current()->message; }

int64_t CallGate::rules_version() const { return Current()->message.version(); }

const v1::CertificatePrincipal* CallGate::CertificateFor(const grpc::AuthContext& auth,
                                                         const Rules& rules, std::string* matched) {
  // Only a certificate the TLS handshake verified carries these properties.
  bool tls = false;
  for (const grpc::string_ref& type : auth.FindPropertyValues("transport_security_type")) {
    // "ssl" from SslServerCredentials, "tls" from TlsServerCredentials.
    if (View(type) == "ssl" || View(type) == "tls") tls = true;
  }
  if (!tls) return nullptr;
  const auto uris = auth.FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME);
  const auto dnss = auth.FindPropertyValues(GRPC_PEER_DNS_PROPERTY_NAME);
  for (const v1::CertificatePrincipal& cert : rules.message.certificates()) {
    for (const grpc::string_ref& uri : uris) {
      if (!cert.uri().empty() && View(uri) == cert.uri()) {
        *matched = cert.uri();
        return &cert;
      }
    }
    for (const grpc::string_ref& dns : dnss) {
      if (!cert.dns().empty() && absl::EqualsIgnoreCase(View(dns), cert.dns())) {
        *matched = cert.dns();
        return &cert;
      }
    }
  }
  return nullptr;
}

absl::StatusOr<Principal> CallGate::Authenticate(const Metadata& metadata,
                                                 const grpc::AuthContext* auth) const {
  return Authenticate(metadata, auth, *Current());
}

absl::StatusOr<Principal> CallGate::Authenticate(const Metadata& metadata,
                                                 const grpc::AuthContext* auth,
                                                 const Rules& rules) const {
  std::string matched;
  const v1::CertificatePrincipal* cert =
      auth != nullptr ? CertificateFor(*auth, rules, &matched) : nullptr;
  auto header = metadata.find("authorization");
  if (header != metadata.end()) {
    absl::string_view value = View(header->second);
    if (!absl::StartsWithIgnoreCase(value, "bearer ")) {
      return absl::UnauthenticatedError("the authorization metadata is not \"Bearer <token>\"");
    }
    if (tokens_ == nullptr) {
      return absl::UnauthenticatedError("this server accepts no bearer tokens (no jwt settings)");
    }
    value.remove_prefix(7);
    ASSIGN_OR_RETURN(Principal principal, tokens_->Verify(absl::StripAsciiWhitespace(value)));
    if (cert != nullptr) principal.certificate = matched;
    return principal;
  }
  if (cert != nullptr) {
    Principal principal;
    principal.name = cert->principal();
    principal.roles.insert(cert->roles().begin(), cert->roles().end());
    principal.firm_id = cert->firm_id();
    principal.certificate = matched;
    return principal;
  }
  if (auth != nullptr && !auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME).empty()) {
    return absl::UnauthenticatedError(
        "the client certificate is not mapped to a principal in the access configuration");
  }
  return absl::UnauthenticatedError(
      "no credentials: send a bearer token (authorization: Bearer <JWT>) or a client "
      "certificate");
}

absl::StatusOr<Principal> CallGate::Admit(const Metadata& metadata, const grpc::AuthContext* auth,
                                          absl::string_view method) const {
  // One version for the whole decision (the certificate's principal and
  // the method's roles), however the rules change meanwhile.
  const std::shared_ptr<const Rules> rules = Current();
  ASSIGN_OR_RETURN(Principal principal, Authenticate(metadata, auth, *rules));
  RETURN_IF_ERROR(rules->table.Check(method, principal));
  return principal;
}

absl::StatusOr<Principal> CallGate::Admit(const grpc::ServerContextBase& context,
                                          absl::string_view method) const {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  ASSIGN_OR_RETURN(Principal principal, Admit(context.client_metadata(), auth.get(), method));
  principal.peer = context.peer();
  return principal;
}

std::shared_ptr<grpc::AuthMetadataProcessor> CallGate::Processor() const {
  return std::make_shared<GateProcessor>(this);
}

}  // namespace collections::security
