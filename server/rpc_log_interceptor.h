// A server interceptor that logs one line per RPC when it ends: the method,
// the status code, how long it took, the request id (the request's
// request_id field when it has one, else an id made for the call, "g-" and
// 16 hex digits) and the principal the call gate authenticated ("" when
// none). OK calls are logged at debug level, refusals and errors the caller
// caused at info, the server's own failures (INTERNAL, UNKNOWN, DATA_LOSS)
// at warning (docs/operations-notes.md). Thread-safe factory; one
// interceptor per call, used by that call's threads one at a time.
#ifndef COLLECTIONS_SERVER_RPC_LOG_INTERCEPTOR_H_
#define COLLECTIONS_SERVER_RPC_LOG_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <set>
#include <string>
#include <utility>

#include "security/call_gate.h"
#include "server/logging.h"

namespace collections::server {

// The level of an RPC's line for its status code.
LogLevel RpcLogLevel(grpc::StatusCode code);

class RpcLogInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `gate` (not owned) names the caller; it must outlive the server.
  // `raw_methods`: the methods whose handlers take raw byte buffers rather
  // than messages (their requests' request_id is not read). Only
  // collections.v1 methods are read at all.
  RpcLogInterceptorFactory(const security::CallGate* gate, std::set<std::string> raw_methods)
      : gate_(gate), raw_methods_(std::move(raw_methods)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  const security::CallGate* const gate_;
  const std::set<std::string> raw_methods_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_RPC_LOG_INTERCEPTOR_H_
