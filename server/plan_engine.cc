#include "server/plan_engine.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/case_engine.h"
#include "server/commands.h"
#include "server/transitions.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/plan.h"
#include "workflow/state_machine.h"

namespace collections::server {
namespace {

absl::StatusOr<v1::Case> LoadCase(storage::UnitOfWork& uow, int64_t case_id) {
  ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(case_id));
  if (!c) return absl::NotFoundError(absl::StrCat("case_id ", case_id, " not found"));
  return *std::move(c);
}

absl::StatusOr<v1::Plan> LoadPlan(storage::UnitOfWork& uow, int64_t plan_id) {
  if (plan_id <= 0) return absl::InvalidArgumentError("plan_id is required");
  ASSIGN_OR_RETURN(std::optional<v1::Plan> plan, uow.LoadPlan(plan_id));
  if (!plan) return absl::NotFoundError(absl::StrCat("plan_id ", plan_id, " not found"));
  return *std::move(plan);
}

v1::CaseEvent Event(absl::CivilDay today, const std::string& actor) {
  v1::CaseEvent e;
  *e.mutable_business_date() = workflow::DayToProto(today);
  e.set_actor(actor);
  return e;
}

}  // namespace

PlanEngine::PlanEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
                       const CaseEngine* cases)
    : store_(store), clock_(clock), policies_(policies), cases_(cases) {}

absl::Status PlanEngine::CheckPropose(const v1::ProposePlanRequest& request) {
  if (request.case_id() <= 0) return absl::InvalidArgumentError("case_id is required");
  return CheckRequiredRequestId(request.request_id());
}

absl::Status PlanEngine::CheckReject(const v1::RejectPlanRequest& request) {
  if (request.reason().size() > 4096) return absl::InvalidArgumentError("reason is too long");
  return absl::OkStatus();
}

absl::Status PlanEngine::CheckGet(const v1::GetPlanRequest& request) {
  if (request.plan_id() <= 0) return absl::InvalidArgumentError("plan_id is required");
  return absl::OkStatus();
}

void PlanEngine::Propose(v1::ProposePlanRequest request, const std::string& proposer,
                         std::function<void(absl::StatusOr<v1::ProposePlanResponse>)> done,
                         CallAlive alive) {
  const absl::CivilDay today = cases_->BusinessDate();
  SubmitFor<v1::ProposePlanResponse>(
      store_,
      [this, req = std::move(request), who = proposer, today](
          storage::UnitOfWork& uow, v1::ProposePlanResponse& out) -> absl::Status {
        // Scoped to the proposer and the case.
        const IdempotencyKey key = IdempotencyKeyFor("/collections.v1.PlanService/ProposePlan", who,
                                                     req.case_id(), req.request_id(), req);
        ASSIGN_OR_RETURN(bool seen, FindStoredAnswer(uow, key, &out));
        if (seen) return absl::OkStatus();
        ASSIGN_OR_RETURN(v1::Case c, LoadCase(uow, req.case_id()));
        ASSIGN_OR_RETURN(const v1::Policy* policy, policies_->Get(c.policy_version()));
        ASSIGN_OR_RETURN(v1::Plan plan, workflow::BuildPlan(c, req, *policy, today));
        ASSIGN_OR_RETURN(int64_t plan_id, uow.AllocateIds("plan", 1));
        plan.set_plan_id(plan_id);
        plan.set_proposed_by(who);
        RETURN_IF_ERROR(uow.SavePlan(plan));
        v1::CaseEvent e = Event(today, who);
        v1::PlanProposed& p = *e.mutable_plan_proposed();
        p.set_plan_id(plan_id);
        p.set_kind(plan.kind());
        p.set_total_fen(plan.total_fen());
        p.set_waiver_fen(plan.waiver_fen());
        RETURN_IF_ERROR(DecideAndApply(uow, *policies_, *clock_, &c, e).status());
        *out.mutable_plan() = plan;
        return SaveAnswer(uow, key, out);
      },
      std::move(done), std::move(alive));
}

void PlanEngine::Approve(int64_t plan_id, const std::string& approver, bool supervisor,
                         std::function<void(absl::StatusOr<v1::ApprovePlanResponse>)> done,
                         CallAlive alive) {
  const absl::CivilDay today = cases_->BusinessDate();
  SubmitFor<v1::ApprovePlanResponse>(
      store_,
      [this, plan_id, who = approver, supervisor, today](
          storage::UnitOfWork& uow, v1::ApprovePlanResponse& out) -> absl::Status {
        ASSIGN_OR_RETURN(v1::Plan plan, LoadPlan(uow, plan_id));
        if (plan.state() == v1::PLAN_STATE_APPROVED && plan.approved_by() == who) {
          // A retried approval: the first answer again.
          *out.mutable_plan() = plan;
          ASSIGN_OR_RETURN(*out.mutable_case_(), LoadCase(uow, plan.case_id()));
          return absl::OkStatus();
        }
        if (plan.state() != v1::PLAN_STATE_PROPOSED) {
          return absl::FailedPreconditionError(absl::StrCat(
              "plan ", plan_id, " is ", v1::PlanState_Name(plan.state()), ", not PROPOSED"));
        }
        if (plan.proposed_by() == who) {
          return absl::PermissionDeniedError(
              absl::StrCat(who, " proposed plan ", plan_id, " and cannot also approve it"));
        }
        ASSIGN_OR_RETURN(v1::Case c, LoadCase(uow, plan.case_id()));
        ASSIGN_OR_RETURN(const v1::Policy* policy, policies_->Get(c.policy_version()));
        if (!supervisor && workflow::NeedsSupervisor(plan, c, *policy)) {
          return absl::PermissionDeniedError(
              absl::StrCat("plan ", plan_id, " waives ", workflow::FormatFen(plan.waiver_fen()),
                           ", above an agent's limit: a supervisor must approve it"));
        }
        v1::CaseEvent e = Event(today, who);
        v1::PlanApproved& a = *e.mutable_plan_approved();
        a.set_plan_id(plan_id);
        a.set_kind(plan.kind());
        a.set_approver(who);
        a.set_waiver_fen(plan.waiver_fen());
        a.set_total_fen(plan.total_fen());  // what the case owes the plan from now on
        for (const auto& i : plan.instalments()) *a.add_instalment_due_dates() = i.due_date();
        ASSIGN_OR_RETURN(workflow::Transition t, DecideAndApply(uow, *policies_, *clock_, &c, e));
        if (plan.waiver_fen() > 0) {
          v1::CaseEvent w = Event(today, who);
          w.mutable_penalty_waived()->set_plan_id(plan_id);
          w.mutable_penalty_waived()->set_amount_fen(plan.waiver_fen());
          w.mutable_penalty_waived()->set_approver(who);
          ASSIGN_OR_RETURN(t, DecideAndApply(uow, *policies_, *clock_, &t.next, w));
        }
        plan.set_state(v1::PLAN_STATE_APPROVED);
        plan.set_approved_by(who);
        RETURN_IF_ERROR(uow.SavePlan(plan));
        *out.mutable_plan() = plan;
        *out.mutable_case_() = t.next;
        return absl::OkStatus();
      },
      std::move(done), std::move(alive));
}

void PlanEngine::Reject(v1::RejectPlanRequest request, const std::string& rejecter,
                        std::function<void(absl::StatusOr<v1::RejectPlanResponse>)> done,
                        CallAlive alive) {
  const absl::CivilDay today = cases_->BusinessDate();
  SubmitFor<v1::RejectPlanResponse>(
      store_,
      [this, req = std::move(request), who = rejecter, today](
          storage::UnitOfWork& uow, v1::RejectPlanResponse& out) -> absl::Status {
        ASSIGN_OR_RETURN(v1::Plan plan, LoadPlan(uow, req.plan_id()));
        if (plan.state() != v1::PLAN_STATE_PROPOSED) {
          return absl::FailedPreconditionError(absl::StrCat(
              "plan ", req.plan_id(), " is ", v1::PlanState_Name(plan.state()), ", not PROPOSED"));
        }
        ASSIGN_OR_RETURN(v1::Case c, LoadCase(uow, plan.case_id()));
        v1::CaseEvent e = Event(today, who);
        e.mutable_plan_rejected()->set_plan_id(plan.plan_id());
        e.mutable_plan_rejected()->set_reason(req.reason());
        RETURN_IF_ERROR(DecideAndApply(uow, *policies_, *clock_, &c, e).status());
        plan.set_state(v1::PLAN_STATE_REJECTED);
        plan.set_reason(req.reason());
        RETURN_IF_ERROR(uow.SavePlan(plan));
        *out.mutable_plan() = plan;
        return absl::OkStatus();
      },
      std::move(done), std::move(alive));
}

absl::StatusOr<v1::GetPlanResponse> PlanEngine::Get(int64_t plan_id) const {
  ASSIGN_OR_RETURN(v1::Plan plan, store_->GetPlan(plan_id));
  v1::GetPlanResponse out;
  *out.mutable_plan() = std::move(plan);
  return out;
}

}  // namespace collections::server
