#include "server/plan_service.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/case_engine.h"
#include "server/rpc_util.h"
#include "server/transitions.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/plan.h"
#include "workflow/state_machine.h"
#include "workflow/status_macros.h"

namespace collections::server {
namespace {

// The caller's name from "collections-actor"; UNAUTHENTICATED without one,
// since maker-checker needs to know who is who.
absl::StatusOr<std::string> Person(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("collections-actor");
  if (it == metadata.end() || it->second.empty()) {
    return absl::UnauthenticatedError(
        "plans need the caller's name in the metadata \"collections-actor\"");
  }
  return ActorOf(context, "agent");
}

bool IsSupervisor(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("collections-role");
  return it != metadata.end() && it->second == "supervisor";
}


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

grpc::ServerUnaryReactor* PlanServiceImpl::ProposePlan(grpc::CallbackServerContext* context,
                                                       const v1::ProposePlanRequest* request,
                                                       v1::ProposePlanResponse* response) {
  absl::StatusOr<std::string> actor = Person(context);
  if (!actor.ok()) return FinishUnary(context, ToGrpcStatus(actor.status()));
  if (request->case_id() <= 0) {
    return FinishUnary(context, ToGrpcStatus(absl::InvalidArgumentError("case_id is required")));
  }
  if (request->request_id().size() > workflow::kMaxIdLength) {
    return FinishUnary(context, ToGrpcStatus(absl::InvalidArgumentError("request_id is too long")));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::CivilDay today = context_.cases->BusinessDate();
  SubmitUnary<v1::ProposePlanResponse>(
      context_.store, reactor, response,
      [this, req = *request, who = *actor, today](storage::UnitOfWork& uow,
                                                  v1::ProposePlanResponse& out) -> absl::Status {
        if (!req.request_id().empty()) {
          ASSIGN_OR_RETURN(auto seen, uow.FindResponse("plan.propose", req.request_id()));
          if (seen) {
            return out.ParseFromString(*seen) ? absl::OkStatus()
                                               : absl::InternalError("stored response is corrupt");
          }
        }
        ASSIGN_OR_RETURN(v1::Case c, LoadCase(uow, req.case_id()));
        ASSIGN_OR_RETURN(const v1::Policy* policy, context_.policies->Get(c.policy_version()));
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
        RETURN_IF_ERROR(DecideAndApply(uow, *context_.policies, *context_.clock, &c, e).status());
        *out.mutable_plan() = plan;
        if (!req.request_id().empty()) {
          RETURN_IF_ERROR(uow.SaveResponse("plan.propose", req.request_id(), out.SerializeAsString()));
        }
        return absl::OkStatus();
      });
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::ApprovePlan(grpc::CallbackServerContext* context,
                                                       const v1::ApprovePlanRequest* request,
                                                       v1::ApprovePlanResponse* response) {
  absl::StatusOr<std::string> actor = Person(context);
  if (!actor.ok()) return FinishUnary(context, ToGrpcStatus(actor.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::CivilDay today = context_.cases->BusinessDate();
  SubmitUnary<v1::ApprovePlanResponse>(
      context_.store, reactor, response,
      [this, plan_id = request->plan_id(), who = *actor, supervisor = IsSupervisor(context),
       today](storage::UnitOfWork& uow, v1::ApprovePlanResponse& out) -> absl::Status {
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
        ASSIGN_OR_RETURN(const v1::Policy* policy, context_.policies->Get(c.policy_version()));
        if (!supervisor && workflow::NeedsSupervisor(plan, c, *policy)) {
          return absl::PermissionDeniedError(absl::StrCat(
              "plan ", plan_id, " waives ", workflow::FormatFen(plan.waiver_fen()),
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
        ASSIGN_OR_RETURN(workflow::Transition t,
                         DecideAndApply(uow, *context_.policies, *context_.clock, &c, e));
        if (plan.waiver_fen() > 0) {
          v1::CaseEvent w = Event(today, who);
          w.mutable_penalty_waived()->set_plan_id(plan_id);
          w.mutable_penalty_waived()->set_amount_fen(plan.waiver_fen());
          w.mutable_penalty_waived()->set_approver(who);
          ASSIGN_OR_RETURN(t, DecideAndApply(uow, *context_.policies, *context_.clock, &t.next, w));
        }
        plan.set_state(v1::PLAN_STATE_APPROVED);
        plan.set_approved_by(who);
        RETURN_IF_ERROR(uow.SavePlan(plan));
        *out.mutable_plan() = plan;
        *out.mutable_case_() = t.next;
        return absl::OkStatus();
      });
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::RejectPlan(grpc::CallbackServerContext* context,
                                                      const v1::RejectPlanRequest* request,
                                                      v1::RejectPlanResponse* response) {
  absl::StatusOr<std::string> actor = Person(context);
  if (!actor.ok()) return FinishUnary(context, ToGrpcStatus(actor.status()));
  if (request->reason().size() > 4096) {
    return FinishUnary(context, ToGrpcStatus(absl::InvalidArgumentError("reason is too long")));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::CivilDay today = context_.cases->BusinessDate();
  SubmitUnary<v1::RejectPlanResponse>(
      context_.store, reactor, response,
      [this, req = *request, who = *actor, today](storage::UnitOfWork& uow,
                                                  v1::RejectPlanResponse& out) -> absl::Status {
        ASSIGN_OR_RETURN(v1::Plan plan, LoadPlan(uow, req.plan_id()));
        if (plan.state() != v1::PLAN_STATE_PROPOSED) {
          return absl::FailedPreconditionError(absl::StrCat(
              "plan ", req.plan_id(), " is ", v1::PlanState_Name(plan.state()), ", not PROPOSED"));
        }
        ASSIGN_OR_RETURN(v1::Case c, LoadCase(uow, plan.case_id()));
        v1::CaseEvent e = Event(today, who);
        e.mutable_plan_rejected()->set_plan_id(plan.plan_id());
        e.mutable_plan_rejected()->set_reason(req.reason());
        RETURN_IF_ERROR(DecideAndApply(uow, *context_.policies, *context_.clock, &c, e).status());
        plan.set_state(v1::PLAN_STATE_REJECTED);
        plan.set_reason(req.reason());
        RETURN_IF_ERROR(uow.SavePlan(plan));
        *out.mutable_plan() = plan;
        return absl::OkStatus();
      });
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::GetPlan(grpc::CallbackServerContext* context,
                                                   const v1::GetPlanRequest* request,
                                                   v1::GetPlanResponse* response) {
  if (request->plan_id() <= 0) {
    return FinishUnary(context, ToGrpcStatus(absl::InvalidArgumentError("plan_id is required")));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.executor->Schedule([this, reactor, id = request->plan_id(), response] {
    absl::StatusOr<v1::Plan> plan = context_.store->GetPlan(id);
    if (plan.ok()) *response->mutable_plan() = *std::move(plan);
    reactor->Finish(ToGrpcStatus(plan.status()));
  });
  return reactor;
}

}  // namespace collections::server
