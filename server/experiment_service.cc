#include "server/experiment_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/audit_engine.h"
#include "server/rpc_util.h"

namespace collections::server {
namespace {

// Admits the caller to `method`, checks the request with `check`, then runs
// `work(by)` on the executor and finishes with its answer.
template <typename Request, typename Response, typename Check, typename Work>
grpc::ServerUnaryReactor* Serve(const ServiceContext& service, grpc::CallbackServerContext* context,
                                const char* method, const Request& request, Response* response,
                                Check check, Work work) {
  absl::StatusOr<security::Principal> caller =
      service.gate->Admit(*context, absl::StrCat("/collections.v1.ExperimentService/", method));
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = check(request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(
      context, service.executor, reactor,
      [reactor, response, work = std::move(work), by = AuditEntryFor(*caller, method, 0, "")] {
        FinishWith(reactor, response, work(by));
      });
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* ExperimentServiceImpl::CreateExperiment(
    grpc::CallbackServerContext* context, const v1::CreateExperimentRequest* request,
    v1::ExperimentAnswer* response) {
  return Serve(context_, context, "CreateExperiment", *request, response,
               &ExperimentEngine::CheckCreate, [this, request](const storage::AuditEntry& by) {
                 return context_.experiments->Create(*request, by);
               });
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::GetExperiment(
    grpc::CallbackServerContext* context, const v1::GetExperimentRequest* request,
    v1::ExperimentAnswer* response) {
  return Serve(context_, context, "GetExperiment", *request, response, &ExperimentEngine::CheckGet,
               [this, id = request->experiment_id()](const storage::AuditEntry&) {
                 return context_.experiments->Get(id);
               });
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::ListExperiments(
    grpc::CallbackServerContext* context, const v1::ListExperimentsRequest* request,
    v1::ListExperimentsResponse* response) {
  return Serve(
      context_, context, "ListExperiments", *request, response,
      [](const v1::ListExperimentsRequest&) { return absl::OkStatus(); },
      [this](const storage::AuditEntry&) { return context_.experiments->List(); });
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::PauseExperiment(
    grpc::CallbackServerContext* context, const v1::ExperimentActionRequest* request,
    v1::ExperimentAnswer* response) {
  return Serve(context_, context, "PauseExperiment", *request, response,
               &ExperimentEngine::CheckAction, [this, request](const storage::AuditEntry& by) {
                 return context_.experiments->Pause(*request, by);
               });
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::ResumeExperiment(
    grpc::CallbackServerContext* context, const v1::ExperimentActionRequest* request,
    v1::ExperimentAnswer* response) {
  return Serve(context_, context, "ResumeExperiment", *request, response,
               &ExperimentEngine::CheckAction, [this, request](const storage::AuditEntry& by) {
                 return context_.experiments->Resume(*request, by);
               });
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::EndExperiment(
    grpc::CallbackServerContext* context, const v1::EndExperimentRequest* request,
    v1::ExperimentAnswer* response) {
  return Serve(context_, context, "EndExperiment", *request, response, &ExperimentEngine::CheckEnd,
               [this, request](const storage::AuditEntry& by) {
                 return context_.experiments->End(*request, by);
               });
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::RollBackExperiment(
    grpc::CallbackServerContext* context, const v1::ExperimentActionRequest* request,
    v1::RollBackExperimentResponse* response) {
  return Serve(context_, context, "RollBackExperiment", *request, response,
               &ExperimentEngine::CheckAction, [this, request](const storage::AuditEntry& by) {
                 return context_.experiments->RollBack(*request, by);
               });
}

}  // namespace collections::server
