// collections.v1.PlanService on the gRPC callback API: a thin adapter that
// decodes a request and the caller's name, calls PlanEngine (which holds
// the logic) and answers.
//
// Who proposes, approves and rejects is the authenticated principal (a
// verified token's subject); maker-checker compares those, and approving
// above the agent limits needs the role "supervisor".
#ifndef COLLECTIONS_SERVER_PLAN_SERVICE_H_
#define COLLECTIONS_SERVER_PLAN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/plan_service.grpc.pb.h"
#include "server/plan_engine.h"
#include "server/service_context.h"

namespace collections::server {

class PlanServiceImpl final : public v1::PlanService::CallbackService {
 public:
  explicit PlanServiceImpl(const ServiceContext& context);

  grpc::ServerUnaryReactor* ProposePlan(grpc::CallbackServerContext* context,
                                        const v1::ProposePlanRequest* request,
                                        v1::ProposePlanResponse* response) override;

  grpc::ServerUnaryReactor* ApprovePlan(grpc::CallbackServerContext* context,
                                        const v1::ApprovePlanRequest* request,
                                        v1::ApprovePlanResponse* response) override;

  grpc::ServerUnaryReactor* RejectPlan(grpc::CallbackServerContext* context,
                                       const v1::RejectPlanRequest* request,
                                       v1::RejectPlanResponse* response) override;

  grpc::ServerUnaryReactor* GetPlan(grpc::CallbackServerContext* context,
                                    const v1::GetPlanRequest* request,
                                    v1::GetPlanResponse* response) override;

 private:
  ServiceContext context_;
  PlanEngine engine_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_PLAN_SERVICE_H_
