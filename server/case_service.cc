#include "server/case_service.h"

#include "server/rpc_util.h"

namespace collections::server {
namespace {

grpc::Status NotYet(absl::string_view method) {
  return NotYetImplemented(
      absl::StrCat("CaseService/", method), 3,
      "case intake, payments, signals, daily aging and the case file");
}

}  // namespace

grpc::ServerReadReactor<v1::ImportDelinquenciesRequest>*
CaseServiceImpl::ImportDelinquencies(
    grpc::CallbackServerContext* context,
    v1::ImportDelinquenciesResponse* response) {
  return new FinishNowReactor<
      grpc::ServerReadReactor<v1::ImportDelinquenciesRequest>>(
      NotYet("ImportDelinquencies"));
}

grpc::ServerUnaryReactor* CaseServiceImpl::RecordPayment(
    grpc::CallbackServerContext* context,
    const v1::RecordPaymentRequest* request,
    v1::RecordPaymentResponse* response) {
  return FinishUnary(context, NotYet("RecordPayment"));
}

grpc::ServerUnaryReactor* CaseServiceImpl::SignalCase(
    grpc::CallbackServerContext* context, const v1::SignalCaseRequest* request,
    v1::SignalCaseResponse* response) {
  return FinishUnary(context, NotYet("SignalCase"));
}

grpc::ServerUnaryReactor* CaseServiceImpl::GetCase(
    grpc::CallbackServerContext* context, const v1::GetCaseRequest* request,
    v1::GetCaseResponse* response) {
  return FinishUnary(context, NotYet("GetCase"));
}

grpc::ServerUnaryReactor* CaseServiceImpl::ListCases(
    grpc::CallbackServerContext* context, const v1::ListCasesRequest* request,
    v1::ListCasesResponse* response) {
  return FinishUnary(context, NotYet("ListCases"));
}

grpc::ServerUnaryReactor* CaseServiceImpl::AdvanceBusinessDate(
    grpc::CallbackServerContext* context,
    const v1::AdvanceBusinessDateRequest* request,
    v1::AdvanceBusinessDateResponse* response) {
  return FinishUnary(context, NotYet("AdvanceBusinessDate"));
}

}  // namespace collections::server
