// collections.v1.PolicyService on the gRPC callback API: reads and stores
// policy versions (PolicyRegistry keeps the one new cases get) and migrates
// cases to a newer version, each move a `policy_migrated` event decided by
// workflow::Decide under the new version and applied through the store's
// writer like any other transition.
//
// Thread-safe: gRPC calls the methods on its threads; blocking work runs on
// context.executor. PutPolicy calls run one at a time, so the newest stored
// version is the current one.
#ifndef COLLECTIONS_SERVER_POLICY_SERVICE_H_
#define COLLECTIONS_SERVER_POLICY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
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
  absl::StatusOr<v1::PutPolicyResponse> Put(v1::Policy policy);
  absl::StatusOr<v1::MigrateCasesResponse> Migrate(const v1::MigrateCasesRequest& request,
                                                   const std::string& actor);

  ServiceContext context_;
  absl::Mutex put_mu_;  // one PutPolicy at a time
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_POLICY_SERVICE_H_
