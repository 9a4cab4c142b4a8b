#include "server/policy_engine.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/case_engine.h"
#include "server/case_moves.h"
#include "server/policy_bootstrap.h"
#include "storage/reports.h"
#include "workflow/dates.h"
#include "workflow/policy.h"
#include "workflow/state_machine.h"

namespace collections::server {
namespace {

constexpr int kMaxCaseIds = 10000;

}  // namespace

PolicyEngine::PolicyEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
                           const CaseEngine* cases)
    : store_(store), clock_(clock), policies_(policies), cases_(cases) {}

absl::Status PolicyEngine::CheckGet(const v1::GetPolicyRequest& request) {
  if (request.version() < 0) {
    return absl::InvalidArgumentError("version must not be negative (0: the current one)");
  }
  return absl::OkStatus();
}

absl::Status PolicyEngine::CheckPut(const v1::PutPolicyRequest& request) {
  if (!request.has_policy()) {
    return absl::InvalidArgumentError("policy is required");
  }
  if (request.policy().version() != 0) {
    return absl::InvalidArgumentError("policy.version must be 0: the server assigns versions");
  }
  if (absl::Status s = workflow::ValidatePolicy(request.policy()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("policy: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status PolicyEngine::CheckMigrate(const v1::MigrateCasesRequest& request) {
  if (request.to_version() < 0 || request.from_version() < 0) {
    return absl::InvalidArgumentError("to_version and from_version must not be negative");
  }
  if (request.case_ids().empty() == (request.from_version() == 0)) {
    return absl::InvalidArgumentError("give either case_ids or from_version (not both)");
  }
  if (request.case_ids_size() > kMaxCaseIds) {
    return absl::InvalidArgumentError(
        absl::StrCat("case_ids: at most ", kMaxCaseIds, " per call (or use from_version)"));
  }
  for (int64_t id : request.case_ids()) {
    if (id <= 0) return absl::InvalidArgumentError("case_ids must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Policy> PolicyEngine::Get(int64_t version) const {
  absl::StatusOr<const v1::Policy*> policy =
      version == 0 ? &policies_->Current() : policies_->Get(version);
  if (!policy.ok()) return policy.status();
  return **policy;
}

absl::StatusOr<v1::PutPolicyResponse> PolicyEngine::Put(v1::Policy policy, storage::AuditEntry by) {
  absl::MutexLock lock(&put_mu_);
  v1::PutPolicyResponse out;
  const v1::Policy& current = policies_->Current();
  if (SamePolicy(current, policy)) {
    *out.mutable_policy() = current;
    out.set_unchanged(true);
    return out;
  }
  const int64_t previous = current.version();
  RETURN_IF_ERROR(store_->Write([&policy, &by, previous](storage::UnitOfWork& uow) {
    ASSIGN_OR_RETURN(int64_t version, uow.PutPolicy(policy));  // sets policy.version
    by.detail = absl::StrCat("policy version ", version, " (was ", previous, ")");
    return uow.AppendAudit(by);
  }));
  policies_->SetCurrent(policy);
  *out.mutable_policy() = std::move(policy);
  return out;
}

absl::StatusOr<v1::ListPolicyVersionsResponse> PolicyEngine::ListVersions() const {
  ASSIGN_OR_RETURN(std::vector<storage::PolicyVersionInfo> versions,
                   storage::ListPolicyVersionInfo(*store_));
  ASSIGN_OR_RETURN(auto open, storage::OpenCasesByPolicyVersion(*store_));
  v1::ListPolicyVersionsResponse out;
  for (const storage::PolicyVersionInfo& v : versions) {
    v1::PolicyVersion* p = out.add_versions();
    p->set_version(v.version);
    p->set_name(v.name);
    p->set_open_cases(open.count(v.version) ? open.at(v.version) : 0);
    // Whole seconds, as ever.
    *p->mutable_created_at() =
        workflow::TimeToProto(absl::FromUnixSeconds(absl::ToUnixSeconds(v.created_at)));
  }
  out.set_current(policies_->Current().version());
  return out;
}

absl::StatusOr<v1::MigrateCasesResponse> PolicyEngine::Migrate(
    const v1::MigrateCasesRequest& request, const storage::AuditEntry& by) {
  const std::string& actor = by.principal;
  const int64_t to_version =
      request.to_version() == 0 ? policies_->Current().version() : request.to_version();
  ASSIGN_OR_RETURN(const v1::Policy* target, policies_->Get(to_version));
  if (request.from_version() > 0) {
    RETURN_IF_ERROR(policies_->Get(request.from_version()).status());
    if (request.from_version() >= to_version) {
      return absl::FailedPreconditionError(absl::StrCat(
          "to_version ", to_version, " is not newer than from_version ", request.from_version()));
    }
  }
  const absl::CivilDay today = cases_->BusinessDate();
  storage::Store* store = store_;
  const Clock* clock = clock_;
  CaseMoveTally tally;
  // One command per case, so that one case's failure stays its own and the
  // writer groups the moves into commits.
  auto move = [&](int64_t case_id) {
    auto skipped = std::make_shared<bool>(false);
    tally.WaitBelow(2048);
    tally.Add();
    store->Submit(
        [=](storage::UnitOfWork& uow) -> absl::Status {
          ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(case_id));
          if (!c) return absl::NotFoundError(absl::StrCat("case_id ", case_id, " not found"));
          if (c->policy_version() >= to_version) {
            *skipped = true;
            return absl::OkStatus();
          }
          if (!workflow::IsOpenStage(c->stage())) {
            return absl::FailedPreconditionError(
                absl::StrCat("case ", case_id, " is ", v1::Stage_Name(c->stage()),
                             ": only open cases move to another policy"));
          }
          v1::CaseEvent event;
          *event.mutable_business_date() = workflow::DayToProto(today);
          event.set_actor(actor);
          event.mutable_policy_migrated()->set_from_version(c->policy_version());
          event.mutable_policy_migrated()->set_to_version(to_version);
          // Decided under the new version: it re-classifies the case.
          ASSIGN_OR_RETURN(workflow::Transition t,
                           workflow::Decide(*c, event, *target, clock->Now()));
          RETURN_IF_ERROR(uow.Apply(t, c->version()));
          storage::AuditEntry audit = by;
          audit.case_id = case_id;
          audit.detail = absl::StrCat("policy version ", c->policy_version(), " -> ", to_version);
          return uow.AppendAudit(audit);
        },
        [&tally, case_id, skipped](absl::Status s) { tally.Done(case_id, *skipped, s); });
  };

  if (request.from_version() == 0) {
    for (int64_t id : request.case_ids()) move(id);
  } else {
    storage::CaseFilter filter;
    filter.policy_version = request.from_version();
    filter.stages = {v1::STAGE_REMINDER, v1::STAGE_COUNSELLING, v1::STAGE_REPAYMENT_PLAN,
                     v1::STAGE_LEGAL_ACTION};
    filter.limit = 1000;
    absl::Status listed;
    while (true) {
      absl::StatusOr<std::vector<v1::Case>> page = store->ListCases(filter);
      if (!page.ok()) {
        listed = page.status();
        break;
      }
      for (const v1::Case& c : *page) move(c.case_id());
      if (static_cast<int>(page->size()) < filter.limit) break;
      filter.after_case_id = page->back().case_id();
    }
    if (!listed.ok()) {
      tally.Wait();  // the commands refer to the tally
      return listed;
    }
  }
  const CaseMoveTally::Result moves = tally.Wait();
  v1::MigrateCasesResponse out;
  out.set_migrated(moves.moved);
  out.set_skipped(moves.skipped);
  out.set_failed(moves.failed);
  for (const auto& [case_id, message] : moves.errors) {
    v1::MigrateCaseError* e = out.add_errors();
    e->set_case_id(case_id);
    e->set_message(message);
  }
  out.set_to_version(to_version);
  return out;
}

}  // namespace collections::server
