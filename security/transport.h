// How collectionsd's listener is secured. TLS from certificate and key
// files, re-read when they change (gRPC's FileWatcherCertificateProvider),
// with client certificates requested and verified against a CA file when
// one is given (mutual TLS). Without TLS: gRPC's local credentials, which
// accept only loopback peers (development), or — only when the operator
// says --insecure_listen — plaintext on any address. Pure functions over
// the options; safe from any thread.
#ifndef COLLECTIONS_SECURITY_TRANSPORT_H_
#define COLLECTIONS_SECURITY_TRANSPORT_H_

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace collections::security {

struct TransportOptions {
  std::string listen;         // host:port
  std::string tls_cert;       // PEM certificate chain of the server
  std::string tls_key;        // PEM private key of the server
  std::string tls_client_ca;  // PEM CA bundle for client certificates
  bool insecure_listen = false;
  // How often the certificate files are checked for changes.
  int reload_seconds = 10;
};

struct ListenerCredentials {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Whether the gate's processor runs before handlers on this listener
  // (not on a plaintext --insecure_listen one; handlers still check).
  bool processor_attached = false;
  // What to log at every start; empty when nothing is amiss.
  std::string warning;
  // "tls", "mutual tls", "loopback plaintext", "plaintext".
  std::string mode;
};

// INVALID_ARGUMENT when the files are missing or unreadable, when only one
// of cert and key is given, when a client CA is given without TLS, and
// FAILED_PRECONDITION for plaintext on a non-loopback address without
// --insecure_listen.
absl::StatusOr<ListenerCredentials> CredentialsFor(
    const TransportOptions& options, std::shared_ptr<grpc::AuthMetadataProcessor> processor);

// "127.0.0.1:50051", "localhost:0", "[::1]:9" and the rest of 127.0.0.0/8.
bool IsLoopbackListen(absl::string_view host_port);

}  // namespace collections::security

#endif  // COLLECTIONS_SECURITY_TRANSPORT_H_
