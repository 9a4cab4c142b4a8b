// collections.v1.TaskService on the gRPC callback API: the reactors around
// TaskEngine (the commands) and TaskDispatcher (waiting for work).
// ClaimTasks long-polls and StreamTasks pushes without a sleeping loop:
// with nothing to lease they register a wait and claim again when woken.
//
// Thread-safe. No reactor blocks a gRPC thread; blocking reads run on the
// executor.
#ifndef COLLECTIONS_SERVER_TASK_SERVICE_H_
#define COLLECTIONS_SERVER_TASK_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/task_service.grpc.pb.h"
#include "server/service_context.h"

namespace collections::server {

class TaskServiceImpl final : public v1::TaskService::CallbackService {
 public:
  explicit TaskServiceImpl(const ServiceContext& context) : context_(context) {}

  grpc::ServerUnaryReactor* ClaimTasks(grpc::CallbackServerContext* context,
                                       const v1::ClaimTasksRequest* request,
                                       v1::ClaimTasksResponse* response) override;

  grpc::ServerBidiReactor<v1::StreamTasksRequest, v1::StreamTasksResponse>* StreamTasks(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* CompleteTask(grpc::CallbackServerContext* context,
                                         const v1::CompleteTaskRequest* request,
                                         v1::CompleteTaskResponse* response) override;

  grpc::ServerUnaryReactor* FailTask(grpc::CallbackServerContext* context,
                                     const v1::FailTaskRequest* request,
                                     v1::FailTaskResponse* response) override;

  grpc::ServerUnaryReactor* ExtendLease(grpc::CallbackServerContext* context,
                                        const v1::ExtendLeaseRequest* request,
                                        v1::ExtendLeaseResponse* response) override;

  grpc::ServerUnaryReactor* ReleaseTask(grpc::CallbackServerContext* context,
                                        const v1::ReleaseTaskRequest* request,
                                        v1::ReleaseTaskResponse* response) override;

  grpc::ServerUnaryReactor* ListTasks(grpc::CallbackServerContext* context,
                                      const v1::ListTasksRequest* request,
                                      v1::ListTasksResponse* response) override;

 private:
  ServiceContext context_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_TASK_SERVICE_H_
