#include "server/report_service.h"

#include "server/rpc_util.h"

namespace collections::server {
namespace {

grpc::Status NotYet(absl::string_view method) {
  return NotYetImplemented(absl::StrCat("ReportService/", method), 7,
                           "workflow reports for managers");
}

}  // namespace

grpc::ServerUnaryReactor* ReportServiceImpl::Portfolio(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::PortfolioReport* response) {
  return FinishUnary(context, NotYet("Portfolio"));
}

grpc::ServerUnaryReactor* ReportServiceImpl::StageFunnel(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::StageFunnelReport* response) {
  return FinishUnary(context, NotYet("StageFunnel"));
}

grpc::ServerUnaryReactor* ReportServiceImpl::RollRates(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::RollRateReport* response) {
  return FinishUnary(context, NotYet("RollRates"));
}

grpc::ServerUnaryReactor* ReportServiceImpl::StrategyEffectiveness(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::EffectivenessReport* response) {
  return FinishUnary(context, NotYet("StrategyEffectiveness"));
}

grpc::ServerUnaryReactor* ReportServiceImpl::OverdueReasons(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::OverdueReasonsReport* response) {
  return FinishUnary(context, NotYet("OverdueReasons"));
}

grpc::ServerUnaryReactor* ReportServiceImpl::AgentProductivity(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::AgentProductivityReport* response) {
  return FinishUnary(context, NotYet("AgentProductivity"));
}

grpc::ServerUnaryReactor* ReportServiceImpl::SlaBreaches(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::SlaReport* response) {
  return FinishUnary(context, NotYet("SlaBreaches"));
}

}  // namespace collections::server
