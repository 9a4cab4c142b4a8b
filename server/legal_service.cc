#include "server/legal_service.h"

#include "server/rpc_util.h"

namespace collections::server {
namespace {

grpc::Status NotYet(absl::string_view method) {
  return NotYetImplemented(
      absl::StrCat("LegalService/", method), 6,
      "legal handoff to counsel systems and legal milestones");
}

}  // namespace

grpc::ServerWriteReactor<v1::Handoff>* LegalServiceImpl::StreamHandoffs(
    grpc::CallbackServerContext* context,
    const v1::StreamHandoffsRequest* request) {
  return new FinishNowReactor<grpc::ServerWriteReactor<v1::Handoff>>(
      NotYet("StreamHandoffs"));
}

grpc::ServerUnaryReactor* LegalServiceImpl::AcknowledgeHandoff(
    grpc::CallbackServerContext* context,
    const v1::AcknowledgeHandoffRequest* request,
    v1::AcknowledgeHandoffResponse* response) {
  return FinishUnary(context, NotYet("AcknowledgeHandoff"));
}

grpc::ServerUnaryReactor* LegalServiceImpl::ReportLegalMilestone(
    grpc::CallbackServerContext* context,
    const v1::ReportLegalMilestoneRequest* request,
    v1::ReportLegalMilestoneResponse* response) {
  return FinishUnary(context, NotYet("ReportLegalMilestone"));
}

}  // namespace collections::server
