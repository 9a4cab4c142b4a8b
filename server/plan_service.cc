#include "server/plan_service.h"

#include "server/rpc_util.h"

namespace collections::server {
namespace {

grpc::Status NotYet(absl::string_view method) {
  return NotYetImplemented(absl::StrCat("PlanService/", method), 5,
                           "repayment plans, concessions and hardship");
}

}  // namespace

grpc::ServerUnaryReactor* PlanServiceImpl::ProposePlan(
    grpc::CallbackServerContext* context, const v1::ProposePlanRequest* request,
    v1::ProposePlanResponse* response) {
  return FinishUnary(context, NotYet("ProposePlan"));
}

grpc::ServerUnaryReactor* PlanServiceImpl::ApprovePlan(
    grpc::CallbackServerContext* context, const v1::ApprovePlanRequest* request,
    v1::ApprovePlanResponse* response) {
  return FinishUnary(context, NotYet("ApprovePlan"));
}

grpc::ServerUnaryReactor* PlanServiceImpl::RejectPlan(
    grpc::CallbackServerContext* context, const v1::RejectPlanRequest* request,
    v1::RejectPlanResponse* response) {
  return FinishUnary(context, NotYet("RejectPlan"));
}

grpc::ServerUnaryReactor* PlanServiceImpl::GetPlan(
    grpc::CallbackServerContext* context, const v1::GetPlanRequest* request,
    v1::GetPlanResponse* response) {
  return FinishUnary(context, NotYet("GetPlan"));
}

}  // namespace collections::server
