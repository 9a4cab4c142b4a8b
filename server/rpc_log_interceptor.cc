#include "server/rpc_log_interceptor.h"

#include <openssl/rand.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace collections::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The request_id of a protobuf request message, if it has a non-empty one.
std::string RequestIdOf(void* message) {
  if (message == nullptr) return "";
  const auto* request = static_cast<const google::protobuf::Message*>(message);
  const google::protobuf::FieldDescriptor* field =
      request->GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->is_repeated() ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
    return "";
  }
  return request->GetReflection()->GetString(*request, field);
}

std::string GeneratedRequestId() {
  unsigned char bytes[8] = {};
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return "g-unavailable";
  return absl::StrCat("g-",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), 8)));
}

class RpcLogInterceptor final : public grpc::experimental::Interceptor {
 public:
  // `messages`: whether the call's received messages are protobuf ones.
  RpcLogInterceptor(grpc::experimental::ServerRpcInfo* info, const security::CallGate* gate,
                    std::string method, bool messages)
      : info_(info),
        gate_(gate),
        method_(std::move(method)),
        messages_(messages),
        started_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (messages_ && request_id_.empty() &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      request_id_ = RequestIdOf(methods->GetRecvMessage());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      LogCall(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void LogCall(grpc::StatusCode code) {
    const LogLevel level = RpcLogLevel(code);
    if (!LogEnabled(level)) return;
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - started_);
    std::string principal;
    if (grpc::ServerContextBase* context = info_->server_context(); context != nullptr) {
      // Tokens were verified when the call came in and are remembered: a
      // lookup, not a second verification.
      absl::StatusOr<security::Principal> caller =
          gate_->Authenticate(context->client_metadata(), context->auth_context().get());
      if (caller.ok()) principal = caller->name;
    }
    Log(level, "rpc",
        {{"method", method_},
         {"status", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))},
         {"duration_ms", absl::StrFormat("%.3f", ms), /*number=*/true},
         {"request_id", request_id_.empty() ? GeneratedRequestId() : request_id_},
         {"principal", principal}});
  }

  grpc::experimental::ServerRpcInfo* const info_;
  const security::CallGate* const gate_;
  const std::string method_;
  const bool messages_;
  const absl::Time started_;
  std::string request_id_;
};

}  // namespace

LogLevel RpcLogLevel(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return LogLevel::kDebug;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      return LogLevel::kWarning;
    default:
      return LogLevel::kInfo;
  }
}

grpc::experimental::Interceptor* RpcLogInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  std::string method = info->method() != nullptr ? info->method() : "unknown";
  // gRPC's own services (health) hand their interceptors byte buffers too.
  const bool messages =
      absl::StartsWith(method, "/collections.v1.") && raw_methods_.count(method) == 0;
  return new RpcLogInterceptor(info, gate_, std::move(method), messages);
}

}  // namespace collections::server
