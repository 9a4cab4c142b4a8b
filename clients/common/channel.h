// How every client reaches collectionsd: one place that turns the
// connection flags (--tls_ca, --tls_cert, --tls_key, --token_file,
// --tls_server_name; each defaulting from a COLLECTIONS_* environment
// variable) into a gRPC channel with the right credentials.
//
//   - --tls_ca given: TLS, verifying the server against that CA bundle;
//     with --tls_cert and --tls_key also a client certificate (mutual TLS).
//   - no --tls_ca and a loopback server (localhost, 127.0.0.0/8, [::1]):
//     gRPC's local credentials (plaintext on the wire, but gRPC attaches
//     call credentials on them).
//   - no --tls_ca and any other server: refused, so that a token never
//     crosses the network in plaintext.
//   - --token_file given: every call carries "authorization: Bearer <JWT>",
//     read from the file and read again whenever its modification time
//     changes (a long-running client picks up a rotated token).
//
// Thread-safe: a ConnectionOptions is a value; the channel and its token
// plugin may be used from any thread.
#ifndef COLLECTIONS_CLIENTS_COMMON_CHANNEL_H_
#define COLLECTIONS_CLIENTS_COMMON_CHANNEL_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <sys/types.h>

#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "clients/common/args.h"

namespace collections::clients {

struct ConnectionOptions {
  std::string server;           // "HOST:PORT" or a gRPC target ("dns:///host:443")
  std::string tls_ca;           // PEM CA bundle file; non-empty: TLS
  std::string tls_cert;         // client certificate chain (PEM file), with tls_key
  std::string tls_key;          // client private key (PEM file), with tls_cert
  std::string token_file;       // a file holding one JWT
  std::string tls_server_name;  // the name the server's certificate carries, if not the host
};

// The connection flags (name without dashes, value, help naming the
// environment variable), for a client's --help.
const std::vector<Flag>& ConnectionFlags();

// The environment variable a connection flag defaults from
// ("tls_ca" -> "COLLECTIONS_TLS_CA"); empty for a name that is not one.
std::string ConnectionFlagEnv(const std::string& flag);

// A flag's value if the command line gave it (nullopt: absent), or an
// environment variable's value (nullopt: unset).
using Lookup = std::function<std::optional<std::string>(const std::string& name)>;
// std::getenv, with an empty variable read as unset.
std::optional<std::string> ProcessEnv(const std::string& name);

// The options for `server` from the connection flags, each from the command
// line when given there (even empty, which turns it off), else from its
// environment variable. INVALID_ARGUMENT for --tls_cert without --tls_key
// or the other way round, and for --tls_server_name without --tls_ca.
// Files are not read here (OpenChannel does).
absl::StatusOr<ConnectionOptions> ConnectionOptionsFrom(const std::string& server,
                                                        const Lookup& flag,
                                                        const Lookup& env = ProcessEnv);

// The host of a gRPC target: "localhost:50051" -> "localhost", "[::1]:1"
// -> "::1", "dns:///example.com:443" -> "example.com", "ipv4:10.0.0.1:1"
// -> "10.0.0.1"; "" for a unix: target.
std::string TargetHost(const std::string& target);
// The target's host is loopback: "localhost", 127.0.0.0/8 or ::1.
bool IsLoopbackTarget(const std::string& target);

// A channel to options.server with the credentials described above; the
// token file and the TLS files are read now. INVALID_ARGUMENT naming the
// flag and the file for a file that cannot be read or is empty, and for a
// non-loopback server without --tls_ca.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const ConnectionOptions& options,
                                                           const grpc::ChannelArguments& args = {});

// The call credentials' source of the bearer token: the token file, read
// again when its modification time (or size) changes; surrounding
// whitespace stripped. When a re-read fails or finds the file empty (a
// rotation half done), the last good token stays in use and the file is
// read again on the next call.
class TokenFilePlugin : public grpc::MetadataCredentialsPlugin {
 public:
  // Reads the file once; INVALID_ARGUMENT naming --token_file and the file
  // when it is missing, unreadable or empty.
  static absl::StatusOr<std::unique_ptr<TokenFilePlugin>> Open(const std::string& path);

  grpc::Status GetMetadata(grpc::string_ref service_url, grpc::string_ref method_name,
                           const grpc::AuthContext& channel_auth_context,
                           std::multimap<std::string, std::string>* metadata) override;
  const char* GetType() const override { return "collections-token-file"; }
  // A stat() and, rarely, a small read: cheaper inline than the thread hop
  // gRPC makes per call for a blocking plugin.
  bool IsBlocking() const override { return false; }
  grpc::string DebugString() override { return "TokenFilePlugin(" + path_ + ")"; }

 private:
  explicit TokenFilePlugin(std::string path) : path_(std::move(path)) {}
  // The current token, reading the file again if it changed.
  absl::StatusOr<std::string> Token();

  const std::string path_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  struct timespec mtime_ ABSL_GUARDED_BY(mu_) = {0, 0};
  off_t size_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace collections::clients

#endif  // COLLECTIONS_CLIENTS_COMMON_CHANNEL_H_
