#include "server/access_service.h"

#include "server/audit_engine.h"
#include "server/rpc_util.h"

namespace collections::server {

AccessServiceImpl::AccessServiceImpl(const ServiceContext& context, AccessEngine* engine)
    : context_(context), engine_(engine) {}

grpc::ServerUnaryReactor* AccessServiceImpl::GetAccessRules(
    grpc::CallbackServerContext* context, const v1::GetAccessRulesRequest* request,
    v1::GetAccessRulesResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.AccessService/GetAccessRules");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = AccessEngine::CheckGet(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, response, version = request->version()] {
                  FinishWith(reactor, response, engine_->Get(version));
                });
  return reactor;
}

grpc::ServerUnaryReactor* AccessServiceImpl::PutAccessRules(
    grpc::CallbackServerContext* context, const v1::PutAccessRulesRequest* request,
    v1::PutAccessRulesResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, kPutAccessRulesMethod);
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = engine_->CheckPut(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(
      context, context_.executor, reactor,
      [this, reactor, request, response, by = AuditEntryFor(*caller, "PutAccessRules", 0, "")] {
        FinishWith(reactor, response, engine_->Put(*request, by));
      });
  return reactor;
}

}  // namespace collections::server
