#include "server/plan_service.h"

#include <string>
#include <utility>

#include "server/rpc_util.h"

namespace collections::server {

PlanServiceImpl::PlanServiceImpl(const ServiceContext& context)
    : context_(context), engine_(context.store, context.clock, context.policies, context.cases) {}

grpc::ServerUnaryReactor* PlanServiceImpl::ProposePlan(grpc::CallbackServerContext* context,
                                                       const v1::ProposePlanRequest* request,
                                                       v1::ProposePlanResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PlanService/ProposePlan");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = PlanEngine::CheckPropose(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_.Propose(*request, caller->name, AnswerWith(reactor, response), AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::ApprovePlan(grpc::CallbackServerContext* context,
                                                       const v1::ApprovePlanRequest* request,
                                                       v1::ApprovePlanResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PlanService/ApprovePlan");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_.Approve(request->plan_id(), caller->name, caller->HasRole("supervisor"),
                  AnswerWith(reactor, response), AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::RejectPlan(grpc::CallbackServerContext* context,
                                                      const v1::RejectPlanRequest* request,
                                                      v1::RejectPlanResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PlanService/RejectPlan");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = PlanEngine::CheckReject(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_.Reject(*request, caller->name, AnswerWith(reactor, response), AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::GetPlan(grpc::CallbackServerContext* context,
                                                   const v1::GetPlanRequest* request,
                                                   v1::GetPlanResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PlanService/GetPlan");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = PlanEngine::CheckGet(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, id = request->plan_id(), response] {
                  FinishWith(reactor, response, engine_.Get(id));
                });
  return reactor;
}

}  // namespace collections::server
