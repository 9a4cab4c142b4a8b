// A server interceptor that gives a request gRPC could not parse (bytes
// that are not the method's request message, e.g. a string field holding
// invalid UTF-8) a status that says so: INVALID_ARGUMENT "the request could
// not be parsed ...". Without it gRPC 1.51's callback API answers such a
// call UNIMPLEMENTED with no message, as if the method did not exist; the
// service itself never sees the request. Only that status of such a call
// is changed. Stateless factory; one interceptor per call, used by that
// call's thread only.
#ifndef COLLECTIONS_SERVER_UNPARSED_REQUEST_INTERCEPTOR_H_
#define COLLECTIONS_SERVER_UNPARSED_REQUEST_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

namespace collections::server {

class UnparsedRequestInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_UNPARSED_REQUEST_INTERCEPTOR_H_
