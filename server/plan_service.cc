#include "server/plan_service.h"

#include <string>
#include <utility>

#include "server/rpc_util.h"

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

}  // namespace

PlanServiceImpl::PlanServiceImpl(const ServiceContext& context)
    : context_(context), engine_(context.store, context.clock, context.policies, context.cases) {}

grpc::ServerUnaryReactor* PlanServiceImpl::ProposePlan(grpc::CallbackServerContext* context,
                                                       const v1::ProposePlanRequest* request,
                                                       v1::ProposePlanResponse* response) {
  absl::StatusOr<std::string> actor = Person(context);
  if (!actor.ok()) return FinishUnary(context, ToGrpcStatus(actor.status()));
  if (absl::Status invalid = PlanEngine::CheckPropose(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_.Propose(*request, *actor, AnswerWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::ApprovePlan(grpc::CallbackServerContext* context,
                                                       const v1::ApprovePlanRequest* request,
                                                       v1::ApprovePlanResponse* response) {
  absl::StatusOr<std::string> actor = Person(context);
  if (!actor.ok()) return FinishUnary(context, ToGrpcStatus(actor.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_.Approve(request->plan_id(), *actor, IsSupervisor(context), AnswerWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::RejectPlan(grpc::CallbackServerContext* context,
                                                      const v1::RejectPlanRequest* request,
                                                      v1::RejectPlanResponse* response) {
  absl::StatusOr<std::string> actor = Person(context);
  if (!actor.ok()) return FinishUnary(context, ToGrpcStatus(actor.status()));
  if (absl::Status invalid = PlanEngine::CheckReject(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_.Reject(*request, *actor, AnswerWith(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::GetPlan(grpc::CallbackServerContext* context,
                                                   const v1::GetPlanRequest* request,
                                                   v1::GetPlanResponse* response) {
  if (absl::Status invalid = PlanEngine::CheckGet(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.executor->Schedule([this, reactor, id = request->plan_id(), response] {
    FinishWith(reactor, response, engine_.Get(id));
  });
  return reactor;
}

}  // namespace collections::server
