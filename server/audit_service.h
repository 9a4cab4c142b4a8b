// collections.v1.AuditService on the gRPC callback API: a thin adapter
// around AuditEngine (audit_engine.h). Each method admits its caller, checks
// the request (bad input is answered at once) and runs the engine on the
// executor.
//
// Thread-safe: gRPC calls the methods on its threads; blocking work runs on
// context.executor, never on a gRPC thread.
#ifndef COLLECTIONS_SERVER_AUDIT_SERVICE_H_
#define COLLECTIONS_SERVER_AUDIT_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/audit_service.grpc.pb.h"
#include "server/audit_engine.h"
#include "server/service_context.h"

namespace collections::server {

class AuditServiceImpl final : public v1::AuditService::CallbackService {
 public:
  explicit AuditServiceImpl(const ServiceContext& context)
      : context_(context), engine_(context.store) {}

  grpc::ServerUnaryReactor* ListAuditRecords(grpc::CallbackServerContext* context,
                                             const v1::ListAuditRecordsRequest* request,
                                             v1::ListAuditRecordsResponse* response) override;

  grpc::ServerUnaryReactor* VerifyAuditChain(grpc::CallbackServerContext* context,
                                             const v1::VerifyAuditChainRequest* request,
                                             v1::VerifyAuditChainResponse* response) override;

 private:
  ServiceContext context_;
  AuditEngine engine_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_AUDIT_SERVICE_H_
