// A server interceptor that tells a caller answered RESOURCE_EXHAUSTED (a
// full queue, gRPC's memory quota, a full disk) how long to back off: the
// trailing metadata "grpc-retry-pushback-ms" (kRetryBackoff), which gRPC
// clients with a retry policy honour, next to the hint in the message.
// Other answers are left alone. Stateless factory; one interceptor per call,
// used by that call's thread only.
#ifndef COLLECTIONS_SERVER_RETRY_PUSHBACK_INTERCEPTOR_H_
#define COLLECTIONS_SERVER_RETRY_PUSHBACK_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

namespace collections::server {

class RetryPushbackInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_RETRY_PUSHBACK_INTERCEPTOR_H_
