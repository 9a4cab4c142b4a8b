// collections.v1.PolicyService on the gRPC callback API.
// Every RPC answers UNIMPLEMENTED until issue #7 (PolicyService: versioned
// policies and case migration) brings it.
#ifndef COLLECTIONS_SERVER_POLICY_SERVICE_H_
#define COLLECTIONS_SERVER_POLICY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/policy_service.grpc.pb.h"
#include "server/service_context.h"

namespace collections::server {

class PolicyServiceImpl final : public v1::PolicyService::CallbackService {
 public:
  explicit PolicyServiceImpl(const ServiceContext& context)
      : context_(context) {}

  grpc::ServerUnaryReactor* GetPolicy(grpc::CallbackServerContext* context,
                                      const v1::GetPolicyRequest* request,
                                      v1::GetPolicyResponse* response) override;

  grpc::ServerUnaryReactor* PutPolicy(grpc::CallbackServerContext* context,
                                      const v1::PutPolicyRequest* request,
                                      v1::PutPolicyResponse* response) override;

  grpc::ServerUnaryReactor* ListPolicyVersions(
      grpc::CallbackServerContext* context,
      const v1::ListPolicyVersionsRequest* request,
      v1::ListPolicyVersionsResponse* response) override;

  grpc::ServerUnaryReactor* MigrateCases(
      grpc::CallbackServerContext* context,
      const v1::MigrateCasesRequest* request,
      v1::MigrateCasesResponse* response) override;

 private:
  ServiceContext context_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_POLICY_SERVICE_H_
