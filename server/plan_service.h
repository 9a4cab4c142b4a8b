// collections.v1.PlanService on the gRPC callback API: plans are proposed,
// approved (maker-checker: never by the proposer; above the policy's agent
// limits only by a supervisor) or rejected; each step is a storage command
// that records the plan and the case event together.
//
// Callers name themselves with the metadata "collections-actor" and, to
// approve above the agent limits, "collections-role: supervisor" (until
// authentication lands, the network is trusted for this).
#ifndef COLLECTIONS_SERVER_PLAN_SERVICE_H_
#define COLLECTIONS_SERVER_PLAN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/plan_service.grpc.pb.h"
#include "server/service_context.h"

namespace collections::server {

class PlanServiceImpl final : public v1::PlanService::CallbackService {
 public:
  explicit PlanServiceImpl(const ServiceContext& context) : context_(context) {}

  grpc::ServerUnaryReactor* ProposePlan(
      grpc::CallbackServerContext* context,
      const v1::ProposePlanRequest* request,
      v1::ProposePlanResponse* response) override;

  grpc::ServerUnaryReactor* ApprovePlan(
      grpc::CallbackServerContext* context,
      const v1::ApprovePlanRequest* request,
      v1::ApprovePlanResponse* response) override;

  grpc::ServerUnaryReactor* RejectPlan(
      grpc::CallbackServerContext* context,
      const v1::RejectPlanRequest* request,
      v1::RejectPlanResponse* response) override;

  grpc::ServerUnaryReactor* GetPlan(grpc::CallbackServerContext* context,
                                    const v1::GetPlanRequest* request,
                                    v1::GetPlanResponse* response) override;

 private:
  ServiceContext context_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_PLAN_SERVICE_H_
