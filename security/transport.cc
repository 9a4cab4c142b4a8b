#include "security/transport.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace collections::security {
namespace {

absl::Status Readable(const std::string& path, absl::string_view flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  return absl::OkStatus();
}

absl::string_view HostOf(absl::string_view host_port) {
  if (absl::StartsWith(host_port, "[")) {
    const size_t close = host_port.find(']');
    return close == absl::string_view::npos ? host_port : host_port.substr(1, close - 1);
  }
  const size_t colon = host_port.rfind(':');
  return colon == absl::string_view::npos ? host_port : host_port.substr(0, colon);
}

}  // namespace

bool IsLoopbackListen(absl::string_view host_port) {
  const absl::string_view host = HostOf(host_port);
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::StatusOr<ListenerCredentials> CredentialsFor(
    const TransportOptions& options, std::shared_ptr<grpc::AuthMetadataProcessor> processor) {
  ListenerCredentials out;
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (!options.tls_cert.empty()) {
    if (auto s = Readable(options.tls_cert, "tls_cert"); !s.ok()) return s;
    if (auto s = Readable(options.tls_key, "tls_key"); !s.ok()) return s;
    if (!options.tls_client_ca.empty()) {
      if (auto s = Readable(options.tls_client_ca, "tls_client_ca"); !s.ok()) return s;
    }
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        options.tls_key, options.tls_cert, options.tls_client_ca, options.reload_seconds);
    grpc::experimental::TlsServerCredentialsOptions tls(provider);
    tls.watch_identity_key_cert_pairs();
    if (options.tls_client_ca.empty()) {
      tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      out.mode = "tls";
    } else {
      tls.watch_root_certs();
      // People's tools come with tokens and no certificate; a certificate
      // that is presented must chain to the CA.
      tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
      out.mode = "mutual tls";
    }
    out.credentials = grpc::experimental::TlsServerCredentials(tls);
  } else if (!options.tls_client_ca.empty()) {
    return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert and --tls_key");
  } else if (IsLoopbackListen(options.listen)) {
    out.credentials = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
    out.mode = "loopback plaintext";
  } else if (options.insecure_listen) {
    out.credentials = grpc::InsecureServerCredentials();
    out.mode = "plaintext";
    out.warning = absl::StrCat(
        "serving PLAINTEXT on ", options.listen,
        " (--insecure_listen): tokens and personal data cross the network unencrypted; use "
        "this only behind a TLS-terminating proxy on the same host");
    return out;  // gRPC's insecure credentials take no processor
  } else {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to serve plaintext on ", options.listen,
                     ": give --tls_cert and --tls_key, listen on a loopback address, or pass "
                     "--insecure_listen"));
  }
  out.credentials->SetAuthMetadataProcessor(std::move(processor));
  out.processor_attached = true;
  return out;
}

}  // namespace collections::security
