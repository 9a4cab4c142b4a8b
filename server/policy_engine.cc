#include "server/policy_engine.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <thread>
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
#include "workflow/simulation.h"
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

namespace collections::server {
namespace {

constexpr int kMaxSimulatedDays = 366;
constexpr int kDefaultHistoryDays = 90;
constexpr int kMaxHistoryDays = 3660;
// Cases per page of the book: each page is read, then simulated under both
// policies at once, one thread each.
constexpr int kSimulationPage = 5000;

void FillFigures(const workflow::SimulatedDay& day, v1::SimulatedFigures* out) {
  for (const auto& [queue, q] : day.queues) {
    v1::SimulatedQueue* row = out->add_queues();
    row->set_queue(queue);
    row->set_tasks_created(q.tasks_created);
    row->set_tasks_worked(q.tasks_worked);
    row->set_handling_minutes(q.handling_minutes);
    row->set_cost_fen(q.cost_fen);
  }
  out->set_contacts(day.contacts);
  out->set_borrowers_contacted(day.borrowers_contacted);
  out->set_max_contacts_per_borrower(day.max_contacts_per_borrower);
  out->set_deferred_by_caps(day.deferred_by_caps);
  out->set_entered_legal(day.entered_legal);
  out->set_handoffs(day.handoffs);
  out->set_cured(day.cured);
  out->set_plans_agreed(day.plans_agreed);
  out->set_plans_broken(day.plans_broken);
  out->set_recovered_fen(day.recovered_fen);
  out->set_open_cases(day.open_cases);
}

absl::Status AddPage(workflow::Simulation& sim, const storage::OpenBookPage& page) {
  for (size_t i = 0; i < page.cases.size(); ++i) {
    RETURN_IF_ERROR(sim.AddCase(page.cases[i], page.open_tasks[i]));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PolicyEngine::CheckSimulate(const v1::SimulatePolicyRequest& request) {
  if (request.version() < 0) return absl::InvalidArgumentError("version must not be negative");
  if (request.has_policy() == (request.version() != 0)) {
    return absl::InvalidArgumentError("give either policy or version (not both)");
  }
  if (request.has_policy()) {
    if (request.policy().version() != 0) {
      return absl::InvalidArgumentError("policy.version must be 0 (or give version instead)");
    }
    if (absl::Status s = workflow::ValidatePolicy(request.policy()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("policy: ", s.message()));
    }
  }
  if (request.days() < 1 || request.days() > kMaxSimulatedDays) {
    return absl::InvalidArgumentError(absl::StrCat("days must be 1..", kMaxSimulatedDays));
  }
  if (request.history_days() < 0 || request.history_days() > kMaxHistoryDays) {
    return absl::InvalidArgumentError(absl::StrCat("history_days must be 0..", kMaxHistoryDays,
                                                   " (0: ", kDefaultHistoryDays, ")"));
  }
  if (request.agent_minutes_per_day() < 0 || request.agent_minutes_per_day() > 1440) {
    return absl::InvalidArgumentError("agent_minutes_per_day must be 0..1440 (0: 450)");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::SimulatePolicyResponse> PolicyEngine::Simulate(
    const v1::SimulatePolicyRequest& request) const {
  v1::Policy candidate = request.policy();
  if (!request.has_policy()) {
    ASSIGN_OR_RETURN(candidate, Get(request.version()));
  }
  const v1::Policy current = policies_->Current();
  const absl::CivilDay today = cases_->BusinessDate();
  const int history_days =
      request.history_days() > 0 ? request.history_days() : kDefaultHistoryDays;
  ASSIGN_OR_RETURN(storage::BookBehaviour history,
                   store_->ReadBookBehaviour(today - (history_days - 1), today));

  workflow::SimulationOptions options;
  options.start = today;
  options.days = request.days();
  options.seed = request.seed() != 0 ? request.seed() : 1;
  options.zone = cases_->zone();
  options.start_time = cases_->TimeOfBusinessDay(today);
  if (request.agent_minutes_per_day() > 0) {
    options.agent_minutes_per_day = request.agent_minutes_per_day();
  }
  workflow::Simulation candidate_run(candidate, history.rates, options);
  workflow::Simulation current_run(current, history.rates, options);
  RETURN_IF_ERROR(store_->ForEachOpenBookPage(
      [&](const storage::OpenBookPage& page) -> absl::Status {
        absl::Status candidate_status;
        std::thread other([&] { candidate_status = AddPage(candidate_run, page); });
        absl::Status current_status = AddPage(current_run, page);
        other.join();
        RETURN_IF_ERROR(candidate_status);
        return current_status;
      },
      kSimulationPage));

  v1::SimulatePolicyResponse out;
  *out.mutable_start() = workflow::DayToProto(today);
  out.set_cases(current_run.cases());
  out.set_candidate_version(request.has_policy() ? 0 : candidate.version());
  out.set_current_version(current.version());
  out.set_seed(options.seed);
  out.set_agent_minutes_per_day(options.agent_minutes_per_day);
  out.set_candidate_max_call_attempts_per_day(candidate.contact().max_call_attempts_per_day());
  out.set_current_max_call_attempts_per_day(current.contact().max_call_attempts_per_day());
  for (int i = 0; i < options.days; ++i) {
    v1::SimulatedDay* day = out.add_days();
    *day->mutable_day() = workflow::DayToProto(current_run.days()[i].day);
    FillFigures(candidate_run.days()[i], day->mutable_candidate());
    FillFigures(current_run.days()[i], day->mutable_current());
  }
  for (const storage::BookBehaviour::Row& row : history.rows) {
    v1::SimulationRates* r = out.add_rates();
    r->set_case_class(row.case_class);
    r->set_stage(row.stage);
    r->set_reached_ppm(row.rates.reached_ppm);
    r->set_promise_ppm(row.rates.promise_ppm);
    r->set_promise_kept_ppm(row.rates.promise_kept_ppm);
    r->set_plan_ppm(row.rates.plan_ppm);
    r->set_plan_break_ppm(row.rates.plan_break_ppm);
    r->set_cure_ppm(row.rates.cure_ppm);
    r->set_observations(row.observations);
  }
  return out;
}

}  // namespace collections::server
