#include "server/audit_service.h"

#include <utility>

#include "server/rpc_util.h"

namespace collections::server {

grpc::ServerUnaryReactor* AuditServiceImpl::ListAuditRecords(
    grpc::CallbackServerContext* context, const v1::ListAuditRecordsRequest* request,
    v1::ListAuditRecordsResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.AuditService/ListAuditRecords");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  absl::StatusOr<storage::AuditFilter> filter = AuditEngine::CheckList(*request);
  if (!filter.ok()) return FinishUnary(context, ToGrpcStatus(filter.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, response, filter = *std::move(filter)] {
                  FinishWith(reactor, response, engine_.List(filter));
                });
  return reactor;
}

grpc::ServerUnaryReactor* AuditServiceImpl::VerifyAuditChain(
    grpc::CallbackServerContext* context, const v1::VerifyAuditChainRequest* request,
    v1::VerifyAuditChainResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.AuditService/VerifyAuditChain");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, response] { FinishWith(reactor, response, engine_.Verify()); });
  return reactor;
}

}  // namespace collections::server
