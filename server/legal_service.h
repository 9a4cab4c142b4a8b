// collections.v1.LegalService on the gRPC callback API: a thin adapter over
// LegalEngine (which holds the logic), plus the reactor of StreamHandoffs:
// handoffs stream to each firm in sequence order, at least once, resumable
// from the last sequence the firm stored.
#ifndef COLLECTIONS_SERVER_LEGAL_SERVICE_H_
#define COLLECTIONS_SERVER_LEGAL_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/legal_service.grpc.pb.h"
#include "server/legal_engine.h"
#include "server/service_context.h"

namespace collections::server {

class LegalServiceImpl final : public v1::LegalService::CallbackService {
 public:
  explicit LegalServiceImpl(const ServiceContext& context);

  grpc::ServerWriteReactor<v1::Handoff>* StreamHandoffs(
      grpc::CallbackServerContext* context, const v1::StreamHandoffsRequest* request) override;

  grpc::ServerUnaryReactor* AcknowledgeHandoff(grpc::CallbackServerContext* context,
                                               const v1::AcknowledgeHandoffRequest* request,
                                               v1::AcknowledgeHandoffResponse* response) override;

  grpc::ServerUnaryReactor* ReportLegalMilestone(
      grpc::CallbackServerContext* context, const v1::ReportLegalMilestoneRequest* request,
      v1::ReportLegalMilestoneResponse* response) override;

  grpc::ServerUnaryReactor* GetHandoffHistory(grpc::CallbackServerContext* context,
                                              const v1::GetHandoffHistoryRequest* request,
                                              v1::GetHandoffHistoryResponse* response) override;

 private:
  ServiceContext context_;
  LegalEngine engine_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_LEGAL_SERVICE_H_
