// The connection flags of the bench clients, as absl flags with the same
// names as collectionsctl's and collections-agent's (clients/common/
// channel.h): --tls_ca, --tls_cert, --tls_key, --token_file and
// --tls_server_name, each defaulting from its COLLECTIONS_* environment
// variable when not given (an empty flag counts as not given). This header
// defines the flags: include it in one file of a binary only.
#ifndef COLLECTIONS_BENCH_CONNECTION_FLAGS_H_
#define COLLECTIONS_BENCH_CONNECTION_FLAGS_H_

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "clients/common/channel.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle to verify the server; given: TLS (default $COLLECTIONS_TLS_CA). "
          "Without it only a loopback server can be reached.");
ABSL_FLAG(std::string, tls_cert, "",
          "Client certificate for mutual TLS, with --tls_key (default $COLLECTIONS_TLS_CERT).");
ABSL_FLAG(std::string, tls_key, "",
          "The client certificate's private key (default $COLLECTIONS_TLS_KEY).");
ABSL_FLAG(std::string, token_file, "",
          "A file holding the bearer token (JWT), re-read when it changes "
          "(default $COLLECTIONS_TOKEN_FILE).");
ABSL_FLAG(std::string, tls_server_name, "",
          "The name in the server's certificate, when not the --server host "
          "(default $COLLECTIONS_TLS_SERVER_NAME).");

namespace collections::bench {

// A channel to `server` with the connection flags' credentials; a message
// on stderr and exit status 2 (bad usage) when they are wrong or a file
// cannot be read.
inline std::shared_ptr<grpc::Channel> OpenChannelOrExit(const std::string& server,
                                                        const grpc::ChannelArguments& args) {
  auto flag = [](const std::string& name) -> std::optional<std::string> {
    std::string value;
    if (name == "tls_ca") value = absl::GetFlag(FLAGS_tls_ca);
    if (name == "tls_cert") value = absl::GetFlag(FLAGS_tls_cert);
    if (name == "tls_key") value = absl::GetFlag(FLAGS_tls_key);
    if (name == "token_file") value = absl::GetFlag(FLAGS_token_file);
    if (name == "tls_server_name") value = absl::GetFlag(FLAGS_tls_server_name);
    if (value.empty()) return std::nullopt;
    return value;
  };
  absl::StatusOr<clients::ConnectionOptions> options = clients::ConnectionOptionsFrom(server, flag);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      options.ok() ? clients::OpenChannel(*options, args)
                   : absl::StatusOr<std::shared_ptr<grpc::Channel>>(options.status());
  if (!channel.ok()) {
    std::fprintf(stderr, "%s\n", std::string(channel.status().message()).c_str());
    std::exit(2);
  }
  return *channel;
}

}  // namespace collections::bench

#endif  // COLLECTIONS_BENCH_CONNECTION_FLAGS_H_
