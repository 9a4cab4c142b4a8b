#include "server/task_service.h"

#include "server/rpc_util.h"

namespace collections::server {
namespace {

grpc::Status NotYet(absl::string_view method) {
  return NotYetImplemented(
      absl::StrCat("TaskService/", method), 4,
      "task orchestration: leased claiming, completion and push delivery");
}

}  // namespace

grpc::ServerUnaryReactor* TaskServiceImpl::ClaimTasks(
    grpc::CallbackServerContext* context, const v1::ClaimTasksRequest* request,
    v1::ClaimTasksResponse* response) {
  return FinishUnary(context, NotYet("ClaimTasks"));
}

grpc::ServerBidiReactor<v1::StreamTasksRequest, v1::StreamTasksResponse>*
TaskServiceImpl::StreamTasks(grpc::CallbackServerContext* context) {
  return new FinishNowReactor<
      grpc::ServerBidiReactor<v1::StreamTasksRequest, v1::StreamTasksResponse>>(
      NotYet("StreamTasks"));
}

grpc::ServerUnaryReactor* TaskServiceImpl::CompleteTask(
    grpc::CallbackServerContext* context,
    const v1::CompleteTaskRequest* request,
    v1::CompleteTaskResponse* response) {
  return FinishUnary(context, NotYet("CompleteTask"));
}

grpc::ServerUnaryReactor* TaskServiceImpl::FailTask(
    grpc::CallbackServerContext* context, const v1::FailTaskRequest* request,
    v1::FailTaskResponse* response) {
  return FinishUnary(context, NotYet("FailTask"));
}

grpc::ServerUnaryReactor* TaskServiceImpl::ExtendLease(
    grpc::CallbackServerContext* context, const v1::ExtendLeaseRequest* request,
    v1::ExtendLeaseResponse* response) {
  return FinishUnary(context, NotYet("ExtendLease"));
}

grpc::ServerUnaryReactor* TaskServiceImpl::ReleaseTask(
    grpc::CallbackServerContext* context, const v1::ReleaseTaskRequest* request,
    v1::ReleaseTaskResponse* response) {
  return FinishUnary(context, NotYet("ReleaseTask"));
}

}  // namespace collections::server
