// What the clients say about a failed call: the status code's name, and
// whether a RESOURCE_EXHAUSTED was a message over gRPC's size limit (which no
// retry can help) rather than a shortage on the server. Pure; thread-safe.
#ifndef COLLECTIONS_CLIENTS_COMMON_GRPC_STATUS_H_
#define COLLECTIONS_CLIENTS_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

namespace collections::clients {

// "NOT_FOUND" for grpc::StatusCode::NOT_FOUND; "UNKNOWN" for a number gRPC
// does not define.
const char* StatusCodeName(grpc::StatusCode code);

// RESOURCE_EXHAUSTED because a message was larger than the limit ("Received
// message larger than max").
bool OverMessageLimit(const grpc::Status& s);

}  // namespace collections::clients

#endif  // COLLECTIONS_CLIENTS_COMMON_GRPC_STATUS_H_
