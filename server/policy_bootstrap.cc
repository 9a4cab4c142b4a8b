#include "server/policy_bootstrap.h"

#include <google/protobuf/util/message_differencer.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/policy.h"

namespace collections::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string why = std::strerror(err);
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("policy file ", path, ": ", why));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat("policy file ", path, ": ", why));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("policy file ", path, ": cannot open: ", why));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("policy file ", path, ": read failed"));
  }
  return text.str();
}

absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

}  // namespace

absl::StatusOr<v1::Policy> LoadPolicy(const std::string& path) {
  v1::Policy policy;
  if (path.empty()) {
    policy = workflow::DefaultPolicy();
    absl::Status valid = workflow::ValidatePolicy(policy);
    if (!valid.ok()) {
      return Annotate(valid, "the shipped default policy is invalid: ");
    }
  } else {
    ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    absl::StatusOr<v1::Policy> parsed = workflow::ParsePolicy(text);
    if (!parsed.ok()) {
      return Annotate(parsed.status(), absl::StrCat("policy file ", path, ": "));
    }
    policy = *std::move(parsed);
    absl::Status valid = workflow::ValidatePolicy(policy);
    if (!valid.ok()) {
      return Annotate(valid, absl::StrCat("policy file ", path, ": "));
    }
  }
  policy.set_version(0);
  return policy;
}

bool SamePolicy(const v1::Policy& a, const v1::Policy& b) {
  v1::Policy x = a;
  v1::Policy y = b;
  x.set_version(0);
  y.set_version(0);
  return google::protobuf::util::MessageDifferencer::Equals(x, y);
}

absl::StatusOr<StoredPolicy> EnsurePolicyStored(storage::Store& store, const v1::Policy& policy) {
  // Replicas starting at once may race: the command stores the policy only
  // if no version newer than the one compared against has appeared in the
  // meantime (ABORTED otherwise), and the comparison is then redone.
  constexpr int kAttempts = 5;
  absl::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ASSIGN_OR_RETURN(int64_t current, store.CurrentPolicyVersion());
    if (current > 0) {
      ASSIGN_OR_RETURN(v1::Policy stored, store.GetPolicy(current));
      if (SamePolicy(stored, policy)) return StoredPolicy{current, false};
    }
    int64_t assigned = 0;
    last = store.Write([&policy, &assigned, current](storage::UnitOfWork& uow) -> absl::Status {
      ASSIGN_OR_RETURN(std::optional<v1::Policy> newer, uow.LoadPolicy(current + 1));
      if (newer.has_value()) {
        return absl::AbortedError("another server stored a policy version meanwhile");
      }
      v1::Policy copy = policy;  // fresh on every run of the command
      copy.set_version(0);
      ASSIGN_OR_RETURN(assigned, uow.PutPolicy(copy));
      // A policy change like PutPolicy's, made by whoever started the
      // server with this policy file.
      storage::AuditEntry audit;
      audit.principal = "system:startup";
      audit.action = "StartupPolicy";
      audit.detail = absl::StrCat("policy version ", assigned, " (was ", current, ")");
      return uow.AppendAudit(audit);
    });
    if (last.ok()) return StoredPolicy{assigned, true};
    if (last.code() != absl::StatusCode::kAborted &&
        last.code() != absl::StatusCode::kAlreadyExists) {
      return last;
    }
  }
  return last;
}

}  // namespace collections::server
