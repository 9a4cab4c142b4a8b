#include "server/policy_service.h"

#include "server/rpc_util.h"

namespace collections::server {
namespace {

grpc::Status NotYet(absl::string_view method) {
  return NotYetImplemented(
      absl::StrCat("PolicyService/", method), 7,
      "PolicyService: versioned policies and case migration");
}

}  // namespace

grpc::ServerUnaryReactor* PolicyServiceImpl::GetPolicy(
    grpc::CallbackServerContext* context, const v1::GetPolicyRequest* request,
    v1::GetPolicyResponse* response) {
  return FinishUnary(context, NotYet("GetPolicy"));
}

grpc::ServerUnaryReactor* PolicyServiceImpl::PutPolicy(
    grpc::CallbackServerContext* context, const v1::PutPolicyRequest* request,
    v1::PutPolicyResponse* response) {
  return FinishUnary(context, NotYet("PutPolicy"));
}

grpc::ServerUnaryReactor* PolicyServiceImpl::ListPolicyVersions(
    grpc::CallbackServerContext* context,
    const v1::ListPolicyVersionsRequest* request,
    v1::ListPolicyVersionsResponse* response) {
  return FinishUnary(context, NotYet("ListPolicyVersions"));
}

grpc::ServerUnaryReactor* PolicyServiceImpl::MigrateCases(
    grpc::CallbackServerContext* context,
    const v1::MigrateCasesRequest* request,
    v1::MigrateCasesResponse* response) {
  return FinishUnary(context, NotYet("MigrateCases"));
}

}  // namespace collections::server
