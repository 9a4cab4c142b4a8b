#include "server/experiment_engine.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/case_engine.h"
#include "server/case_moves.h"
#include "server/commands.h"
#include "server/experiment_assignment.h"
#include "storage/experiments.h"
#include "workflow/dates.h"
#include "workflow/experiment.h"
#include "workflow/state_machine.h"

namespace collections::server {
namespace {

constexpr char kService[] = "/collections.v1.ExperimentService/";
constexpr int kDefaultCureWindowDays = 30;
constexpr int kMaxCureWindowDays = 365;
// Challenger cases listed per read during a roll-back, and roll-back
// commands queued at most.
constexpr int kRollBackPage = 1000;
constexpr int kRollBackQueue = 2048;

absl::Status CheckExperimentId(int64_t id) {
  if (id <= 0) return absl::InvalidArgumentError("experiment_id is required");
  return absl::OkStatus();
}

std::string StateName(v1::ExperimentState state) {
  switch (state) {
    case v1::EXPERIMENT_STATE_RUNNING:
      return "running";
    case v1::EXPERIMENT_STATE_PAUSED:
      return "paused";
    case v1::EXPERIMENT_STATE_ENDED:
      return "ended";
    case v1::EXPERIMENT_STATE_ROLLED_BACK:
      return "rolled back";
    default:
      return "unknown";
  }
}

absl::Status NotFound(int64_t id) {
  return absl::NotFoundError(absl::StrCat("experiment ", id, " not found"));
}

// One challenger against the champion on one metric.
struct MetricSpec {
  const char* name;
  bool higher_is_better;
  bool proportion;  // else a per-case amount (Welch)
};
constexpr MetricSpec kMetrics[] = {
    {"cure_rate", true, true},
    {"roll_rate", false, true},
    {"recovered_per_case_fen", true, false},
    {"cost_per_case_fen", false, false},
    {"legal_handoff_rate", false, true},
    {"dispute_rate", false, true},
};

int64_t Count(const storage::ArmTotals& t, absl::string_view metric) {
  if (metric == "cure_rate") return t.cured;
  if (metric == "roll_rate") return t.rolled;
  if (metric == "legal_handoff_rate") return t.legal_handoffs;
  return t.disputes;
}

workflow::Moments AmountsOf(const storage::ArmTotals& t, absl::string_view metric) {
  workflow::Moments m;
  m.n = t.cases;
  if (metric == "recovered_per_case_fen") {
    m.sum = static_cast<double>(t.recovered_fen);
    m.sum_squares = t.recovered_squares;
  } else {
    m.sum = static_cast<double>(t.cost_fen);
    m.sum_squares = t.cost_squares;
  }
  return m;
}

v1::ExperimentComparison Compare(const MetricSpec& spec, const storage::ArmTotals& champion,
                                 const storage::ArmTotals& challenger, const std::string& name) {
  v1::ExperimentComparison c;
  c.set_challenger(name);
  c.set_metric(spec.name);
  c.set_higher_is_better(spec.higher_is_better);
  if (champion.cases < 2 || challenger.cases < 2) {
    c.set_verdict("no data");
    return c;
  }
  workflow::Interval interval;
  if (spec.proportion) {
    const int64_t x1 = Count(champion, spec.name), x2 = Count(challenger, spec.name);
    c.set_champion_value(static_cast<double>(x1) / champion.cases);
    c.set_challenger_value(static_cast<double>(x2) / challenger.cases);
    interval = workflow::ProportionDifference(x1, champion.cases, x2, challenger.cases);
  } else {
    const workflow::Moments a = AmountsOf(champion, spec.name);
    const workflow::Moments b = AmountsOf(challenger, spec.name);
    c.set_champion_value(a.Mean());
    c.set_challenger_value(b.Mean());
    interval = workflow::WelchDifference(a, b).interval;
  }
  c.set_difference(interval.estimate);
  c.set_ci_low(interval.low);
  c.set_ci_high(interval.high);
  c.set_verdict(workflow::Verdict(interval, spec.higher_is_better));
  return c;
}

}  // namespace

ExperimentEngine::ExperimentEngine(storage::Store* store, const Clock* clock,
                                   PolicyRegistry* policies, const CaseEngine* cases,
                                   PolicyEngine* policy_engine, ExperimentRegistry* registry)
    : store_(store),
      clock_(clock),
      policies_(policies),
      cases_(cases),
      policy_engine_(policy_engine),
      registry_(registry) {}

absl::Status ExperimentEngine::CheckCreate(const v1::CreateExperimentRequest& request) {
  RETURN_IF_ERROR(CheckRequiredRequestId(request.request_id()));
  v1::Experiment e = request.experiment();
  return workflow::ValidateNewExperiment(e);
}

absl::Status ExperimentEngine::CheckGet(const v1::GetExperimentRequest& request) {
  return CheckExperimentId(request.experiment_id());
}

absl::Status ExperimentEngine::CheckAction(const v1::ExperimentActionRequest& request) {
  RETURN_IF_ERROR(CheckExperimentId(request.experiment_id()));
  return CheckRequiredRequestId(request.request_id());
}

absl::Status ExperimentEngine::CheckEnd(const v1::EndExperimentRequest& request) {
  RETURN_IF_ERROR(CheckExperimentId(request.experiment_id()));
  if (request.winner().empty()) {
    return absl::InvalidArgumentError("winner is required (the name of an arm)");
  }
  return CheckRequiredRequestId(request.request_id());
}

absl::Status ExperimentEngine::CheckReport(const v1::ExperimentReportRequest& request) {
  RETURN_IF_ERROR(CheckExperimentId(request.experiment_id()));
  if (request.cure_window_days() < 0 || request.cure_window_days() > kMaxCureWindowDays) {
    return absl::InvalidArgumentError("cure_window_days must be 1..365 (0: 30)");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ExperimentAnswer> ExperimentEngine::Create(
    const v1::CreateExperimentRequest& request, const storage::AuditEntry& by) {
  v1::Experiment e = request.experiment();
  RETURN_IF_ERROR(workflow::ValidateNewExperiment(e));
  // The versions and the safeguards, before anything is written.
  if (e.arms(0).policy_version() == 0) {
    e.mutable_arms(0)->set_policy_version(policies_->Current().version());
  }
  ASSIGN_OR_RETURN(const v1::Policy* champion, policies_->Get(e.arms(0).policy_version()));
  for (int i = 1; i < e.arms_size(); ++i) {
    ASSIGN_OR_RETURN(const v1::Policy* challenger, policies_->Get(e.arms(i).policy_version()));
    RETURN_IF_ERROR(workflow::CheckSafeguards(*champion, *challenger, e.arms(i).name()));
  }
  const absl::CivilDay today = cases_->BusinessDate();
  if (workflow::IsUnset(e.start_date())) *e.mutable_start_date() = workflow::DayToProto(today);
  if (!workflow::IsUnset(e.end_date()) &&
      *workflow::DayFromProto(e.end_date(), "end_date") < today) {
    return absl::InvalidArgumentError(absl::StrCat(
        "experiment.end_date is before the business date ", workflow::FormatDay(today)));
  }
  e.set_state(v1::EXPERIMENT_STATE_RUNNING);
  e.clear_winner();
  e.clear_winner_policy_version();
  e.clear_ended_on();
  e.set_created_by(by.principal);
  *e.mutable_created_at() =
      workflow::TimeToProto(absl::FromUnixSeconds(absl::ToUnixSeconds(clock_->Now())));

  v1::ExperimentAnswer out;
  const IdempotencyKey key = IdempotencyKeyFor(absl::StrCat(kService, "CreateExperiment"),
                                               by.principal, 0, request.request_id(), request);
  RETURN_IF_ERROR(store_->Write([&](storage::UnitOfWork& uow) -> absl::Status {
    out = v1::ExperimentAnswer();
    ASSIGN_OR_RETURN(bool seen, FindStoredAnswer(uow, key, &out));
    if (seen) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<v1::Experiment> live, storage::LiveExperimentLocked(uow));
    if (live) {
      return absl::FailedPreconditionError(absl::StrCat(
          "experiment ", live->experiment_id(), " (", live->name(), ") is ",
          StateName(live->state()), "; end it or roll it back before starting another"));
    }
    v1::Experiment stored = e;
    RETURN_IF_ERROR(storage::InsertExperiment(uow, stored));
    storage::AuditEntry audit = by;
    audit.detail = absl::StrCat("experiment ", stored.experiment_id(), " created");
    RETURN_IF_ERROR(uow.AppendAudit(audit));
    *out.mutable_experiment() = stored;
    return SaveAnswer(uow, key, out);
  }));
  registry_->Changed(out.experiment());
  return out;
}

absl::StatusOr<v1::ExperimentAnswer> ExperimentEngine::Get(int64_t experiment_id) {
  ASSIGN_OR_RETURN(std::optional<v1::Experiment> e, storage::GetExperiment(*store_, experiment_id));
  if (!e) return NotFound(experiment_id);
  v1::ExperimentAnswer out;
  *out.mutable_experiment() = *std::move(e);
  return out;
}

absl::StatusOr<v1::ListExperimentsResponse> ExperimentEngine::List() {
  ASSIGN_OR_RETURN(std::vector<v1::Experiment> all, storage::ListExperiments(*store_));
  v1::ListExperimentsResponse out;
  for (v1::Experiment& e : all) *out.add_experiments() = std::move(e);
  return out;
}

absl::StatusOr<v1::ExperimentAnswer> ExperimentEngine::ChangeState(
    const std::string& method, int64_t experiment_id, const std::string& request_id,
    const google::protobuf::Message& request, const storage::AuditEntry& by,
    const std::function<absl::Status(v1::Experiment&)>& change) {
  v1::ExperimentAnswer out;
  const IdempotencyKey key = IdempotencyKeyFor(absl::StrCat(kService, method), by.principal,
                                               experiment_id, request_id, request);
  RETURN_IF_ERROR(store_->Write([&](storage::UnitOfWork& uow) -> absl::Status {
    out = v1::ExperimentAnswer();
    ASSIGN_OR_RETURN(bool seen, FindStoredAnswer(uow, key, &out));
    if (seen) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<v1::Experiment> e,
                     storage::LoadExperimentLocked(uow, experiment_id));
    if (!e) return NotFound(experiment_id);
    const v1::ExperimentState before = e->state();
    RETURN_IF_ERROR(change(*e));
    RETURN_IF_ERROR(storage::UpdateExperiment(uow, *e));
    storage::AuditEntry audit = by;
    audit.detail = absl::StrCat("experiment ", experiment_id, " ", StateName(before), " -> ",
                                StateName(e->state()));
    RETURN_IF_ERROR(uow.AppendAudit(audit));
    *out.mutable_experiment() = *e;
    return SaveAnswer(uow, key, out);
  }));
  registry_->Changed(out.experiment());
  return out;
}

absl::StatusOr<v1::ExperimentAnswer> ExperimentEngine::Pause(
    const v1::ExperimentActionRequest& request, const storage::AuditEntry& by) {
  return ChangeState("PauseExperiment", request.experiment_id(), request.request_id(), request, by,
                     [](v1::Experiment& e) {
                       if (e.state() != v1::EXPERIMENT_STATE_RUNNING) {
                         return absl::FailedPreconditionError(
                             absl::StrCat("experiment ", e.experiment_id(), " is ",
                                          StateName(e.state()), ": only a running one pauses"));
                       }
                       e.set_state(v1::EXPERIMENT_STATE_PAUSED);
                       return absl::OkStatus();
                     });
}

absl::StatusOr<v1::ExperimentAnswer> ExperimentEngine::Resume(
    const v1::ExperimentActionRequest& request, const storage::AuditEntry& by) {
  return ChangeState("ResumeExperiment", request.experiment_id(), request.request_id(), request, by,
                     [](v1::Experiment& e) {
                       if (e.state() != v1::EXPERIMENT_STATE_PAUSED) {
                         return absl::FailedPreconditionError(
                             absl::StrCat("experiment ", e.experiment_id(), " is ",
                                          StateName(e.state()), ": only a paused one resumes"));
                       }
                       e.set_state(v1::EXPERIMENT_STATE_RUNNING);
                       return absl::OkStatus();
                     });
}

absl::StatusOr<v1::ExperimentAnswer> ExperimentEngine::End(const v1::EndExperimentRequest& request,
                                                           const storage::AuditEntry& by) {
  absl::MutexLock lock(&end_mu_);
  ASSIGN_OR_RETURN(v1::ExperimentAnswer current, Get(request.experiment_id()));
  const v1::Experiment& e = current.experiment();
  const v1::ExperimentArm* winner = nullptr;
  for (const v1::ExperimentArm& arm : e.arms()) {
    if (arm.name() == request.winner()) winner = &arm;
  }
  if (winner == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "winner \"", request.winner(), "\" is not an arm of experiment ", e.experiment_id()));
  }
  const bool live =
      e.state() == v1::EXPERIMENT_STATE_RUNNING || e.state() == v1::EXPERIMENT_STATE_PAUSED;
  // A repeat of an End that succeeded finds its stored answer below; only a
  // live experiment changes the policy.
  int64_t new_cases_version = policies_->Current().version();
  if (live && winner->policy_version() != new_cases_version) {
    ASSIGN_OR_RETURN(v1::Policy policy, policy_engine_->Get(winner->policy_version()));
    policy.set_version(0);
    storage::AuditEntry put = by;
    put.action = "PutPolicy";
    ASSIGN_OR_RETURN(v1::PutPolicyResponse stored, policy_engine_->Put(policy, put));
    new_cases_version = stored.policy().version();
  }
  const absl::CivilDay today = cases_->BusinessDate();
  return ChangeState(
      "EndExperiment", request.experiment_id(), request.request_id(), request, by,
      [&](v1::Experiment& x) {
        if (x.state() != v1::EXPERIMENT_STATE_RUNNING && x.state() != v1::EXPERIMENT_STATE_PAUSED) {
          return absl::FailedPreconditionError(absl::StrCat("experiment ", x.experiment_id(),
                                                            " is ", StateName(x.state()),
                                                            ": it cannot end again"));
        }
        x.set_state(v1::EXPERIMENT_STATE_ENDED);
        x.set_winner(request.winner());
        x.set_winner_policy_version(new_cases_version);
        *x.mutable_ended_on() = workflow::DayToProto(today);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::RollBackExperimentResponse> ExperimentEngine::RollBack(
    const v1::ExperimentActionRequest& request, const storage::AuditEntry& by) {
  const int64_t id = request.experiment_id();
  const IdempotencyKey key = IdempotencyKeyFor(absl::StrCat(kService, "RollBackExperiment"),
                                               by.principal, id, request.request_id(), request);
  const absl::CivilDay today = cases_->BusinessDate();
  // First: stop assigning (the state), unless this request was answered.
  v1::RollBackExperimentResponse out;
  bool answered = false;
  v1::Experiment e;
  RETURN_IF_ERROR(store_->Write([&](storage::UnitOfWork& uow) -> absl::Status {
    out = v1::RollBackExperimentResponse();
    ASSIGN_OR_RETURN(answered, FindStoredAnswer(uow, key, &out));
    if (answered) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<v1::Experiment> stored, storage::LoadExperimentLocked(uow, id));
    if (!stored) return NotFound(id);
    e = *std::move(stored);
    if (e.state() == v1::EXPERIMENT_STATE_ROLLED_BACK) return absl::OkStatus();  // finish it
    const v1::ExperimentState before = e.state();
    e.set_state(v1::EXPERIMENT_STATE_ROLLED_BACK);
    *e.mutable_ended_on() = workflow::DayToProto(today);
    RETURN_IF_ERROR(storage::UpdateExperiment(uow, e));
    storage::AuditEntry audit = by;
    audit.detail = absl::StrCat("experiment ", id, " ", StateName(before), " -> rolled back");
    return uow.AppendAudit(audit);
  }));
  if (answered) return out;
  registry_->Changed(e);

  // Then every open challenger case, one command each.
  const v1::ExperimentArm& champion_arm = e.arms(0);
  ASSIGN_OR_RETURN(const v1::Policy* champion, policies_->Get(champion_arm.policy_version()));
  storage::Store* store = store_;
  const Clock* clock = clock_;
  const std::string actor = by.principal;
  CaseMoveTally tally;
  auto move = [&](int64_t case_id) {
    auto skipped = std::make_shared<bool>(false);
    tally.WaitBelow(kRollBackQueue);
    tally.Add();
    store->Submit(
        [=](storage::UnitOfWork& uow) -> absl::Status {
          ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(case_id));
          if (!c) return absl::NotFoundError(absl::StrCat("case_id ", case_id, " not found"));
          if (c->experiment_id() != id || c->experiment_arm() == champion_arm.name() ||
              !workflow::IsOpenStage(c->stage())) {
            *skipped = true;
            return absl::OkStatus();
          }
          v1::CaseEvent event;
          *event.mutable_business_date() = workflow::DayToProto(today);
          event.set_actor(actor);
          v1::ExperimentAssigned& a = *event.mutable_experiment_assigned();
          a.set_experiment_id(id);
          a.set_arm(champion_arm.name());
          a.set_from_version(c->policy_version());
          a.set_to_version(champion->version());
          a.set_bucket(workflow::AssignmentBucket(id, c->loan_id()));
          ASSIGN_OR_RETURN(workflow::Transition t,
                           workflow::Decide(*c, event, *champion, clock->Now()));
          RETURN_IF_ERROR(uow.Apply(t, c->version()));
          storage::AuditEntry audit = by;
          audit.case_id = case_id;
          audit.detail = absl::StrCat("experiment ", id, " roll-back: arm ", c->experiment_arm(),
                                      " -> ", champion_arm.name(), ", policy version ",
                                      c->policy_version(), " -> ", champion->version());
          return uow.AppendAudit(audit);
        },
        [&tally, case_id, skipped](absl::Status s) { tally.Done(case_id, *skipped, s); });
  };
  int64_t after = 0;
  absl::Status listed;
  while (true) {
    absl::StatusOr<std::vector<int64_t>> page =
        storage::ChallengerCases(*store_, id, after, kRollBackPage);
    if (!page.ok()) {
      listed = page.status();
      break;
    }
    for (int64_t case_id : *page) move(case_id);
    if (static_cast<int>(page->size()) < kRollBackPage) break;
    after = page->back();
  }
  const CaseMoveTally::Result moves = tally.Wait();  // the commands refer to the tally
  RETURN_IF_ERROR(listed);

  out = v1::RollBackExperimentResponse();
  *out.mutable_experiment() = e;
  out.set_moved(moves.moved);
  out.set_skipped(moves.skipped);
  out.set_failed(moves.failed);
  for (const auto& [case_id, message] : moves.errors) {
    v1::RollBackCaseError* error = out.add_errors();
    error->set_case_id(case_id);
    error->set_message(message);
  }
  // A roll-back with failures is not stored: a repeat tries them again.
  if (moves.failed == 0) {
    RETURN_IF_ERROR(store_->Write(
        [&](storage::UnitOfWork& uow) -> absl::Status { return SaveAnswer(uow, key, out); }));
  }
  return out;
}

absl::StatusOr<v1::ExperimentReportAnswer> ExperimentEngine::Report(
    const v1::ExperimentReportRequest& request) {
  ASSIGN_OR_RETURN(v1::ExperimentAnswer found, Get(request.experiment_id()));
  const v1::Experiment& e = found.experiment();
  const int window =
      request.cure_window_days() == 0 ? kDefaultCureWindowDays : request.cure_window_days();
  const absl::CivilDay today = cases_->BusinessDate();
  ASSIGN_OR_RETURN(std::vector<storage::ArmTotals> rows,
                   storage::ExperimentArmTotals(*store_, e.experiment_id(), today, window));
  std::vector<storage::ArmTotals> arms(e.arms_size());
  for (int i = 0; i < e.arms_size(); ++i) arms[i].arm = i;
  for (const storage::ArmTotals& row : rows) {
    if (row.arm >= 0 && row.arm < e.arms_size()) arms[row.arm] = row;
  }
  v1::ExperimentReportAnswer out;
  *out.mutable_as_of() = workflow::DayToProto(today);
  out.set_experiment_id(e.experiment_id());
  out.set_name(e.name());
  out.set_cure_window_days(window);
  for (int i = 0; i < e.arms_size(); ++i) {
    const storage::ArmTotals& t = arms[i];
    v1::ExperimentArmFigures* f = out.add_arms();
    f->set_arm(e.arms(i).name());
    f->set_policy_version(e.arms(i).policy_version());
    f->set_cases(t.cases);
    f->set_cured(t.cured);
    f->set_rolled(t.rolled);
    f->set_recovered_fen(t.recovered_fen);
    f->set_cost_fen(t.cost_fen);
    f->set_legal_handoffs(t.legal_handoffs);
    f->set_disputes(t.disputes);
  }
  for (int i = 1; i < e.arms_size(); ++i) {
    for (const MetricSpec& spec : kMetrics) {
      *out.add_comparisons() = Compare(spec, arms[0], arms[i], e.arms(i).name());
    }
  }
  return out;
}

}  // namespace collections::server
