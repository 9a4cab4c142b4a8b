#include "server/policy_service.h"

#include <utility>

#include "server/audit_engine.h"
#include "server/rpc_util.h"

namespace collections::server {

PolicyServiceImpl::PolicyServiceImpl(const ServiceContext& context)
    : context_(context), engine_(context.store, context.clock, context.policies, context.cases) {}

grpc::ServerUnaryReactor* PolicyServiceImpl::GetPolicy(grpc::CallbackServerContext* context,
                                                       const v1::GetPolicyRequest* request,
                                                       v1::GetPolicyResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PolicyService/GetPolicy");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = PolicyEngine::CheckGet(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, response, version = request->version()] {
                  absl::StatusOr<v1::Policy> policy = engine_.Get(version);
                  if (policy.ok()) *response->mutable_policy() = *std::move(policy);
                  reactor->Finish(ToGrpcStatus(policy.status()));
                });
  return reactor;
}

grpc::ServerUnaryReactor* PolicyServiceImpl::PutPolicy(grpc::CallbackServerContext* context,
                                                       const v1::PutPolicyRequest* request,
                                                       v1::PutPolicyResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PolicyService/PutPolicy");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = PolicyEngine::CheckPut(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, response, policy = request->policy(),
                 by = AuditEntryFor(*caller, "PutPolicy", 0, "")] {
                  FinishWith(reactor, response, engine_.Put(policy, by));
                });
  return reactor;
}

grpc::ServerUnaryReactor* PolicyServiceImpl::ListPolicyVersions(
    grpc::CallbackServerContext* context, const v1::ListPolicyVersionsRequest* request,
    v1::ListPolicyVersionsResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PolicyService/ListPolicyVersions");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor, [this, reactor, response] {
    FinishWith(reactor, response, engine_.ListVersions());
  });
  return reactor;
}

grpc::ServerUnaryReactor* PolicyServiceImpl::MigrateCases(grpc::CallbackServerContext* context,
                                                          const v1::MigrateCasesRequest* request,
                                                          v1::MigrateCasesResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PolicyService/MigrateCases");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = PolicyEngine::CheckMigrate(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(
      context, context_.executor, reactor,
      [this, reactor, request, response, by = AuditEntryFor(*caller, "MigrateCases", 0, "")] {
        FinishWith(reactor, response, engine_.Migrate(*request, by));
      });
  return reactor;
}

grpc::ServerUnaryReactor* PolicyServiceImpl::SimulatePolicy(
    grpc::CallbackServerContext* context, const v1::SimulatePolicyRequest* request,
    v1::SimulatePolicyResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.PolicyService/SimulatePolicy");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = PolicyEngine::CheckSimulate(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor, [this, reactor, request, response] {
    FinishWith(reactor, response, engine_.Simulate(*request));
  });
  return reactor;
}

}  // namespace collections::server
