// collections.v1.PolicyService on the gRPC callback API: a thin adapter
// around PolicyEngine (policy_engine.h), which holds the logic. Each method
// checks the request (bad input is answered at once and changes nothing),
// runs the engine on the executor and answers with its result.
//
// Thread-safe: gRPC calls the methods on its threads; blocking work runs on
// context.executor, never on a gRPC thread.
#ifndef COLLECTIONS_SERVER_POLICY_SERVICE_H_
#define COLLECTIONS_SERVER_POLICY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/policy_service.grpc.pb.h"
#include "server/policy_engine.h"
#include "server/service_context.h"

namespace collections::server {

class PolicyServiceImpl final : public v1::PolicyService::CallbackService {
 public:
  explicit PolicyServiceImpl(const ServiceContext& context);

  grpc::ServerUnaryReactor* GetPolicy(grpc::CallbackServerContext* context,
                                      const v1::GetPolicyRequest* request,
                                      v1::GetPolicyResponse* response) override;

  grpc::ServerUnaryReactor* PutPolicy(grpc::CallbackServerContext* context,
                                      const v1::PutPolicyRequest* request,
                                      v1::PutPolicyResponse* response) override;

  grpc::ServerUnaryReactor* ListPolicyVersions(grpc::CallbackServerContext* context,
                                               const v1::ListPolicyVersionsRequest* request,
                                               v1::ListPolicyVersionsResponse* response) override;

  grpc::ServerUnaryReactor* MigrateCases(grpc::CallbackServerContext* context,
                                         const v1::MigrateCasesRequest* request,
                                         v1::MigrateCasesResponse* response) override;

  grpc::ServerUnaryReactor* SimulatePolicy(grpc::CallbackServerContext* context,
                                           const v1::SimulatePolicyRequest* request,
                                           v1::SimulatePolicyResponse* response) override;
  // The engine, for ExperimentEngine (a winner's policy is stored through
  // it, so that Puts stay one at a time).
  PolicyEngine& engine() { return engine_; }

 private:
  ServiceContext context_;
  PolicyEngine engine_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_POLICY_SERVICE_H_
