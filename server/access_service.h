// collections.v1.AccessService on the gRPC callback API: a thin adapter
// around AccessEngine (access_engine.h), which holds the logic. Each method
// admits its caller, checks the request (bad input is answered at once and
// changes nothing), runs the engine on the executor and answers with its
// result.
//
// Thread-safe: gRPC calls the methods on its threads; blocking work runs on
// context.executor, never on a gRPC thread.
#ifndef COLLECTIONS_SERVER_ACCESS_SERVICE_H_
#define COLLECTIONS_SERVER_ACCESS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/access_service.grpc.pb.h"
#include "server/access_engine.h"
#include "server/service_context.h"

namespace collections::server {

class AccessServiceImpl final : public v1::AccessService::CallbackService {
 public:
  AccessServiceImpl(const ServiceContext& context, AccessEngine* engine);

  grpc::ServerUnaryReactor* GetAccessRules(grpc::CallbackServerContext* context,
                                           const v1::GetAccessRulesRequest* request,
                                           v1::GetAccessRulesResponse* response) override;
  grpc::ServerUnaryReactor* PutAccessRules(grpc::CallbackServerContext* context,
                                           const v1::PutAccessRulesRequest* request,
                                           v1::PutAccessRulesResponse* response) override;

 private:
  ServiceContext context_;
  AccessEngine* const engine_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_ACCESS_SERVICE_H_
