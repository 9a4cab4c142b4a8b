// collections.v1.ReportService on the gRPC callback API: validates the
// request (the period defaults to the 30 days up to the current business
// date), runs the report's queries (storage/reports.h) on the executor and
// says what the figures are consistent as of.
//
// Thread-safe: gRPC calls the methods on its threads; the work runs on
// context.executor and finishes the reactor from there.
#ifndef COLLECTIONS_SERVER_REPORT_SERVICE_H_
#define COLLECTIONS_SERVER_REPORT_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/report_service.grpc.pb.h"
#include "server/service_context.h"

namespace collections::server {

class ReportServiceImpl final : public v1::ReportService::CallbackService {
 public:
  explicit ReportServiceImpl(const ServiceContext& context) : context_(context) {}

  grpc::ServerUnaryReactor* Portfolio(grpc::CallbackServerContext* context,
                                      const v1::ReportRequest* request,
                                      v1::PortfolioReport* response) override;

  grpc::ServerUnaryReactor* StageFunnel(grpc::CallbackServerContext* context,
                                        const v1::ReportRequest* request,
                                        v1::StageFunnelReport* response) override;

  grpc::ServerUnaryReactor* RollRates(grpc::CallbackServerContext* context,
                                      const v1::ReportRequest* request,
                                      v1::RollRateReport* response) override;

  grpc::ServerUnaryReactor* StrategyEffectiveness(grpc::CallbackServerContext* context,
                                                  const v1::ReportRequest* request,
                                                  v1::EffectivenessReport* response) override;

  grpc::ServerUnaryReactor* OverdueReasons(grpc::CallbackServerContext* context,
                                           const v1::ReportRequest* request,
                                           v1::OverdueReasonsReport* response) override;

  grpc::ServerUnaryReactor* AgentProductivity(grpc::CallbackServerContext* context,
                                              const v1::ReportRequest* request,
                                              v1::AgentProductivityReport* response) override;

  grpc::ServerUnaryReactor* SlaBreaches(grpc::CallbackServerContext* context,
                                        const v1::ReportRequest* request,
                                        v1::SlaReport* response) override;

  // Computed by context.experiments (experiment_engine.h).
  grpc::ServerUnaryReactor* ExperimentReport(grpc::CallbackServerContext* context,
                                             const v1::ExperimentReportRequest* request,
                                             v1::ExperimentReportAnswer* response) override;

 private:
  ServiceContext context_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_REPORT_SERVICE_H_
