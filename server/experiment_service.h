// collections.v1.ExperimentService on the gRPC callback API: a thin adapter
// around ExperimentEngine (experiment_engine.h), which holds the logic. Each
// method admits its caller, checks the request (bad input is answered at
// once and changes nothing), runs the engine on the executor and answers
// with its result.
//
// Thread-safe: gRPC calls the methods on its threads; blocking work runs on
// context.executor, never on a gRPC thread.
#ifndef COLLECTIONS_SERVER_EXPERIMENT_SERVICE_H_
#define COLLECTIONS_SERVER_EXPERIMENT_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/experiment_service.grpc.pb.h"
#include "server/experiment_engine.h"
#include "server/service_context.h"

namespace collections::server {

class ExperimentServiceImpl final : public v1::ExperimentService::CallbackService {
 public:
  // context.experiments must be set.
  explicit ExperimentServiceImpl(const ServiceContext& context) : context_(context) {}

  grpc::ServerUnaryReactor* CreateExperiment(grpc::CallbackServerContext* context,
                                             const v1::CreateExperimentRequest* request,
                                             v1::ExperimentAnswer* response) override;
  grpc::ServerUnaryReactor* GetExperiment(grpc::CallbackServerContext* context,
                                          const v1::GetExperimentRequest* request,
                                          v1::ExperimentAnswer* response) override;
  grpc::ServerUnaryReactor* ListExperiments(grpc::CallbackServerContext* context,
                                            const v1::ListExperimentsRequest* request,
                                            v1::ListExperimentsResponse* response) override;
  grpc::ServerUnaryReactor* PauseExperiment(grpc::CallbackServerContext* context,
                                            const v1::ExperimentActionRequest* request,
                                            v1::ExperimentAnswer* response) override;
  grpc::ServerUnaryReactor* ResumeExperiment(grpc::CallbackServerContext* context,
                                             const v1::ExperimentActionRequest* request,
                                             v1::ExperimentAnswer* response) override;
  grpc::ServerUnaryReactor* EndExperiment(grpc::CallbackServerContext* context,
                                          const v1::EndExperimentRequest* request,
                                          v1::ExperimentAnswer* response) override;
  grpc::ServerUnaryReactor* RollBackExperiment(grpc::CallbackServerContext* context,
                                               const v1::ExperimentActionRequest* request,
                                               v1::RollBackExperimentResponse* response) override;

 private:
  ServiceContext context_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_EXPERIMENT_SERVICE_H_
