// What the clients say about a failed call: the status code's name,
// whether a RESOURCE_EXHAUSTED was a message over gRPC's size limit (which no
// retry can help) rather than a shortage on the server, and what to check
// when the credentials were refused or TLS failed. Pure; thread-safe.
#ifndef COLLECTIONS_CLIENTS_COMMON_GRPC_STATUS_H_
#define COLLECTIONS_CLIENTS_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

namespace collections::clients {

// "NOT_FOUND" for grpc::StatusCode::NOT_FOUND; "UNKNOWN" for a number gRPC
// does not define.
const char* StatusCodeName(grpc::StatusCode code);

// RESOURCE_EXHAUSTED because a message was larger than the limit ("Received
// message larger than max").
bool OverMessageLimit(const grpc::Status& s);

// UNAVAILABLE because the TLS handshake failed (an untrusted or misnamed
// server certificate, a refused client certificate, TLS against plaintext).
bool TlsFailure(const grpc::Status& s);

// "CODE: what went wrong" for a failed call to `server`, with what to check
// for refused credentials:
//   UNAUTHENTICATED: the server refused the credentials: MESSAGE (check
//     --token_file / COLLECTIONS_TOKEN_FILE, or the client certificate)
//   PERMISSION_DENIED: not allowed: MESSAGE
//   UNAVAILABLE: could not establish TLS with SERVER: check --tls_ca and the
//     server's certificate name (MESSAGE)
// and "CODE: MESSAGE" for any other status.
std::string FailureText(const grpc::Status& s, const std::string& server);

}  // namespace collections::clients

#endif  // COLLECTIONS_CLIENTS_COMMON_GRPC_STATUS_H_
