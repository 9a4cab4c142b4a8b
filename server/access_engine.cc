#include "server/access_engine.h"

#include <google/protobuf/util/message_differencer.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/commands.h"
#include "server/logging.h"
#include "storage/access_rules.h"
#include "workflow/dates.h"

namespace collections::server {
namespace {

// The audit log's words for a version: counts only (certificate SANs and
// principals are configuration, not personal data, but they are long).
std::string Describe(const v1::AccessRules& rules) {
  return absl::StrCat("access rules version ", rules.version(), ": ", rules.certificates_size(),
                      " certificates, ", rules.methods_size(), " method role changes");
}

// Whole seconds: what the other timestamps the server stores for people use.
google::protobuf::Timestamp Stamp(absl::Time now) {
  return workflow::TimeToProto(absl::FromUnixSeconds(absl::ToUnixSeconds(now)));
}

}  // namespace

bool SameAccessRules(const v1::AccessRules& a, const v1::AccessRules& b) {
  v1::AccessRules x, y;
  *x.mutable_certificates() = a.certificates();
  *x.mutable_methods() = a.methods();
  *y.mutable_certificates() = b.certificates();
  *y.mutable_methods() = b.methods();
  return google::protobuf::util::MessageDifferencer::Equals(x, y);
}

absl::StatusOr<StartupAccessRules> EnsureAccessRulesStored(storage::Store& store,
                                                           const v1::AccessRules& file_rules,
                                                           absl::Time now) {
  StartupAccessRules out;
  // A replica starting at the same time may store its file's first: this
  // one's insert then finds the version taken (ABORTED), and the writer
  // runs the command again, which reads that version instead.
  RETURN_IF_ERROR(store.Write([&](storage::UnitOfWork& uow) -> absl::Status {
    out = StartupAccessRules();
    ASSIGN_OR_RETURN(std::optional<v1::AccessRules> newest, storage::NewestAccessRulesLocked(uow));
    if (newest.has_value()) {
      out.rules = *std::move(newest);
      return absl::OkStatus();
    }
    out.rules = file_rules;
    out.rules.set_created_by("system:startup");
    *out.rules.mutable_created_at() = Stamp(now);
    RETURN_IF_ERROR(storage::InsertAccessRules(uow, out.rules));
    out.added = true;
    storage::AuditEntry audit;
    audit.principal = "system:startup";
    audit.action = "StartupAccessRules";
    audit.detail = absl::StrCat(Describe(out.rules), " (from the access config file)");
    return uow.AppendAudit(audit);
  }));
  return out;
}

AccessEngine::AccessEngine(storage::Store* store, const Clock* clock, security::CallGate* gate)
    : store_(store), clock_(clock), gate_(gate) {}

absl::Status AccessEngine::CheckGet(const v1::GetAccessRulesRequest& request) {
  if (request.version() < 0) return absl::InvalidArgumentError("version must not be negative");
  return absl::OkStatus();
}

absl::Status AccessEngine::CheckPut(const v1::PutAccessRulesRequest& request) const {
  RETURN_IF_ERROR(CheckRequiredRequestId(request.request_id()));
  RETURN_IF_ERROR(security::CallGate::ValidateRules(request.rules()));
  return gate_->CheckSomeoneMayCall(request.rules(), kPutAccessRulesMethod);
}

absl::StatusOr<v1::GetAccessRulesResponse> AccessEngine::Get(int64_t version) const {
  ASSIGN_OR_RETURN(std::optional<v1::AccessRules> rules, storage::GetAccessRules(*store_, version));
  if (!rules.has_value()) {
    return absl::NotFoundError(version == 0 ? std::string("no access rules are stored")
                                            : absl::StrCat("no access rules version ", version));
  }
  v1::GetAccessRulesResponse out;
  *out.mutable_rules() = *std::move(rules);
  return out;
}

absl::StatusOr<v1::PutAccessRulesResponse> AccessEngine::Put(
    const v1::PutAccessRulesRequest& request, storage::AuditEntry by) {
  v1::AccessRules wanted;
  *wanted.mutable_certificates() = request.rules().certificates();
  *wanted.mutable_methods() = request.rules().methods();
  wanted.set_created_by(by.principal);
  *wanted.mutable_created_at() = Stamp(clock_->Now());
  const IdempotencyKey key =
      IdempotencyKeyFor(kPutAccessRulesMethod, by.principal, 0, request.request_id(), request);
  v1::PutAccessRulesResponse out;
  RETURN_IF_ERROR(store_->Write([&](storage::UnitOfWork& uow) -> absl::Status {
    out = v1::PutAccessRulesResponse();
    ASSIGN_OR_RETURN(bool seen, FindStoredAnswer(uow, key, &out));
    if (seen) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<v1::AccessRules> newest, storage::NewestAccessRulesLocked(uow));
    if (newest.has_value() && SameAccessRules(*newest, wanted)) {
      *out.mutable_rules() = *std::move(newest);
      out.set_unchanged(true);
      return SaveAnswer(uow, key, out);
    }
    v1::AccessRules stored = wanted;
    RETURN_IF_ERROR(storage::InsertAccessRules(uow, stored));
    storage::AuditEntry audit = by;
    audit.detail = absl::StrCat(Describe(stored), " (was ", newest ? newest->version() : 0, ")");
    RETURN_IF_ERROR(uow.AppendAudit(audit));
    *out.mutable_rules() = std::move(stored);
    return SaveAnswer(uow, key, out);
  }));
  // The next call on this replica is admitted by the new version; the
  // others hear of it through the commit's notification.
  absl::StatusOr<bool> used = gate_->UseRules(out.rules());
  if (!used.ok()) return used.status();
  if (*used) LogInfo("access rules: admitting by version %d", out.rules().version());
  return out;
}

absl::Status AccessEngine::Refresh() {
  ASSIGN_OR_RETURN(int64_t newest, storage::NewestAccessRulesVersion(*store_));
  if (newest <= gate_->rules_version()) return absl::OkStatus();
  ASSIGN_OR_RETURN(v1::GetAccessRulesResponse got, Get(newest));
  ASSIGN_OR_RETURN(bool used, gate_->UseRules(got.rules()));
  if (used) {
    LogInfo("access rules: admitting by version %d (stored by %s)", got.rules().version(),
            got.rules().created_by());
  }
  return absl::OkStatus();
}

}  // namespace collections::server
