#include "clients/common/channel.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace collections::clients {
namespace {

struct FlagEnv {
  const char* flag;
  const char* env;
};
constexpr FlagEnv kFlagEnv[] = {
    {"tls_ca", "COLLECTIONS_TLS_CA"},
    {"tls_cert", "COLLECTIONS_TLS_CERT"},
    {"tls_key", "COLLECTIONS_TLS_KEY"},
    {"token_file", "COLLECTIONS_TOKEN_FILE"},
    {"tls_server_name", "COLLECTIONS_TLS_SERVER_NAME"},
};

// The whole file, or INVALID_ARGUMENT naming the flag and the file.
absl::StatusOr<std::string> ReadFlagFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read \"", path, "\": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read \"", path, "\""));
  }
  std::string content = text.str();
  if (absl::StripAsciiWhitespace(content).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": \"", path, "\" is empty"));
  }
  return content;
}

bool SameTime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

const std::vector<Flag>& ConnectionFlags() {
  static const auto* flags = new std::vector<Flag>{
      {"tls_ca", "FILE",
       "PEM CA bundle to verify the server; given: TLS (default $COLLECTIONS_TLS_CA)"},
      {"tls_cert", "FILE",
       "client certificate for mutual TLS, with --tls_key ($COLLECTIONS_TLS_CERT)"},
      {"tls_key", "FILE", "the client certificate's private key ($COLLECTIONS_TLS_KEY)"},
      {"token_file", "FILE",
       "a file holding your bearer token (JWT), re-read when it changes "
       "($COLLECTIONS_TOKEN_FILE)"},
      {"tls_server_name", "NAME",
       "the name in the server's certificate, when not the --server host "
       "($COLLECTIONS_TLS_SERVER_NAME)"},
  };
  return *flags;
}

std::string ConnectionFlagEnv(const std::string& flag) {
  for (const FlagEnv& f : kFlagEnv) {
    if (flag == f.flag) return f.env;
  }
  return "";
}

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

absl::StatusOr<ConnectionOptions> ConnectionOptionsFrom(const std::string& server,
                                                        const Lookup& flag, const Lookup& env) {
  auto get = [&](const char* name) -> std::string {
    std::optional<std::string> value = flag(name);
    if (!value) value = env(ConnectionFlagEnv(name));
    return value.value_or("");
  };
  ConnectionOptions o;
  o.server = server;
  o.tls_ca = get("tls_ca");
  o.tls_cert = get("tls_cert");
  o.tls_key = get("tls_key");
  o.token_file = get("token_file");
  o.tls_server_name = get("tls_server_name");
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return absl::InvalidArgumentError(
        o.tls_cert.empty() ? "--tls_key needs --tls_cert (the client certificate) too"
                           : "--tls_cert needs --tls_key (the certificate's private key) too");
  }
  if (o.tls_ca.empty() && !o.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key need --tls_ca (the CA that verifies the server)");
  }
  if (o.tls_ca.empty() && !o.tls_server_name.empty()) {
    return absl::InvalidArgumentError("--tls_server_name needs --tls_ca");
  }
  return o;
}

std::string TargetHost(const std::string& target) {
  absl::string_view t = target;
  if (absl::StartsWith(t, "unix:") || absl::StartsWith(t, "unix-abstract:")) return "";
  if (absl::ConsumePrefix(&t, "dns:")) {
    // dns:host:port, dns:///host:port or dns://resolver/host:port.
    if (absl::ConsumePrefix(&t, "//")) {
      const size_t slash = t.find('/');
      t = slash == absl::string_view::npos ? absl::string_view() : t.substr(slash + 1);
    }
  } else if (!absl::ConsumePrefix(&t, "ipv4:")) {
    absl::ConsumePrefix(&t, "ipv6:");
  }
  // A list of addresses (ipv4:a:1,b:2): the first one.
  if (const size_t comma = t.find(','); comma != absl::string_view::npos) t = t.substr(0, comma);
  if (absl::StartsWith(t, "[")) {
    const size_t close = t.find(']');
    return std::string(t.substr(1, close == absl::string_view::npos ? close : close - 1));
  }
  const size_t colon = t.find(':');
  if (colon == absl::string_view::npos) return std::string(t);
  if (t.find(':', colon + 1) != absl::string_view::npos) return std::string(t);  // bare IPv6
  return std::string(t.substr(0, colon));
}

bool IsLoopbackTarget(const std::string& target) {
  std::string host = absl::AsciiStrToLower(TargetHost(target));
  if (absl::EndsWith(host, ".")) host.pop_back();
  if (host == "localhost" || absl::EndsWith(host, ".localhost")) return true;
  struct in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  struct in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<TokenFilePlugin>> TokenFilePlugin::Open(const std::string& path) {
  std::unique_ptr<TokenFilePlugin> plugin(new TokenFilePlugin(path));
  absl::StatusOr<std::string> token = plugin->Token();
  if (!token.ok()) return token.status();
  return plugin;
}

absl::StatusOr<std::string> TokenFilePlugin::Token() {
  absl::MutexLock lock(&mu_);
  struct stat st = {};
  const bool stated = stat(path_.c_str(), &st) == 0;
  if (stated && SameTime(st.st_mtim, mtime_) && st.st_size == size_ && !token_.empty()) {
    return token_;
  }
  absl::StatusOr<std::string> content = ReadFlagFile("token_file", path_);
  if (!content.ok()) {
    if (!token_.empty()) return token_;  // a rotation half done: the last good token
    return content.status();
  }
  token_ = std::string(absl::StripAsciiWhitespace(*content));
  // Unstated (a race with a rename): read again next time.
  mtime_ = stated ? st.st_mtim : timespec{0, 0};
  size_ = stated ? st.st_size : -1;
  return token_;
}

grpc::Status TokenFilePlugin::GetMetadata(grpc::string_ref /*service_url*/,
                                          grpc::string_ref /*method_name*/,
                                          const grpc::AuthContext& /*channel_auth_context*/,
                                          std::multimap<std::string, std::string>* metadata) {
  absl::StatusOr<std::string> token = Token();
  if (!token.ok()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(token.status().message()));
  }
  metadata->emplace("authorization", absl::StrCat("Bearer ", *token));
  return grpc::Status::OK;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const ConnectionOptions& options,
                                                           const grpc::ChannelArguments& args) {
  grpc::ChannelArguments channel_args = args;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadFlagFile("tls_ca", options.tls_ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    if (options.tls_cert.empty() != options.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
    }
    if (!options.tls_cert.empty()) {
      absl::StatusOr<std::string> cert = ReadFlagFile("tls_cert", options.tls_cert);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadFlagFile("tls_key", options.tls_key);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    if (!options.tls_server_name.empty()) {
      channel_args.SetSslTargetNameOverride(options.tls_server_name);
    }
    credentials = grpc::SslCredentials(ssl);
  } else if (!options.tls_cert.empty() || !options.tls_key.empty() ||
             !options.tls_server_name.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert, --tls_key and --tls_server_name need --tls_ca (the CA that verifies the "
        "server)");
  } else if (absl::StartsWith(options.server, "unix:")) {
    credentials = grpc::experimental::LocalCredentials(UDS);
  } else if (IsLoopbackTarget(options.server)) {
    // Plaintext on the loopback interface, for development. Local
    // credentials carry call credentials (the token); they also reach a
    // server that listens with InsecureServerCredentials.
    credentials = grpc::experimental::LocalCredentials(LOCAL_TCP);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "the server ", options.server,
        " is not on this machine: give --tls_ca (or $COLLECTIONS_TLS_CA) to reach it over TLS; "
        "credentials are never sent in plaintext over the network"));
  }
  if (!options.token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenFilePlugin>> plugin =
        TokenFilePlugin::Open(options.token_file);
    if (!plugin.ok()) return plugin.status();
    credentials = grpc::CompositeChannelCredentials(
        credentials, grpc::MetadataCredentialsFromPlugin(*std::move(plugin)));
  }
  return grpc::CreateCustomChannel(options.server, credentials, channel_args);
}

}  // namespace collections::clients
