#include "server/retry_pushback_interceptor.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/commands.h"

namespace collections::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RetryPushbackInterceptor final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      methods->GetSendTrailingMetadata()->emplace(
          kRetryPushbackHeader, absl::StrCat(absl::ToInt64Milliseconds(kRetryBackoff)));
    }
    methods->Proceed();
  }
};

}  // namespace

grpc::experimental::Interceptor* RetryPushbackInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RetryPushbackInterceptor();
}

}  // namespace collections::server
