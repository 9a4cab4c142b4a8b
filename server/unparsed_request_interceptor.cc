#include "server/unparsed_request_interceptor.h"

#include <string>

namespace collections::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class UnparsedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit UnparsedRequestInterceptor(const char* method) : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A unary request that failed to parse arrives as no message. (The end
    // of a client stream does too; the status test below keeps those.)
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;
    }
    if (unparsed_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      // What gRPC sends for a request it could not parse; the services
      // never answer UNIMPLEMENTED without a message.
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            std::string("the request could not be parsed as the request message of ") + method_ +
                " (a string field that is not valid UTF-8, or bytes that are not that "
                "message)"));
      }
    }
    methods->Proceed();
  }

 private:
  const char* const method_;
  bool unparsed_ = false;
};

}  // namespace

grpc::experimental::Interceptor* UnparsedRequestInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new UnparsedRequestInterceptor(info->method() != nullptr ? info->method() : "?");
}

}  // namespace collections::server
