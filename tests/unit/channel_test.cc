// clients/common/channel.h: the connection flags (from the command line and
// the environment), which targets are loopback, the token file re-read when
// it changes, and channels opened against an in-process server (local
// credentials, TLS, mutual TLS) carrying the bearer token. Also the hints of
// clients/common/grpc_status.h for refused credentials and failed TLS.
#include "clients/common/channel.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "clients/common/grpc_status.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "tests/unit/test_pki.h"

namespace collections::clients {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A map as a Lookup.
Lookup From(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

// The options from these flags (and an empty environment); they must be
// valid.
ConnectionOptions Options(const std::string& server,
                          std::map<std::string, std::string> flags = {}) {
  absl::StatusOr<ConnectionOptions> o =
      ConnectionOptionsFrom(server, From(std::move(flags)), From({}));
  EXPECT_TRUE(o.ok()) << o.status();
  return o.value_or(ConnectionOptions{});
}

// A fresh directory, removed with its files.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "channel_test.XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string Write(const std::string& name, const std::string& content) const {
    const std::string file = (fs::path(path_) / name).string();
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    return file;
  }

 private:
  std::string path_;
};

TEST(ConnectionOptionsTest, FlagsWinOverTheEnvironment) {
  absl::StatusOr<ConnectionOptions> o = ConnectionOptionsFrom(
      "localhost:50051", From({{"tls_ca", "flag-ca.pem"}, {"token_file", "flag.jwt"}}),
      From({{"COLLECTIONS_TLS_CA", "env-ca.pem"},
            {"COLLECTIONS_TOKEN_FILE", "env.jwt"},
            {"COLLECTIONS_TLS_CERT", "env-cert.pem"},
            {"COLLECTIONS_TLS_KEY", "env-key.pem"},
            {"COLLECTIONS_TLS_SERVER_NAME", "collectionsd.bank"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->server, "localhost:50051");
  EXPECT_EQ(o->tls_ca, "flag-ca.pem");
  EXPECT_EQ(o->token_file, "flag.jwt");
  EXPECT_EQ(o->tls_cert, "env-cert.pem");
  EXPECT_EQ(o->tls_key, "env-key.pem");
  EXPECT_EQ(o->tls_server_name, "collectionsd.bank");
}

TEST(ConnectionOptionsTest, NothingGivenIsPlaintextWithoutToken) {
  absl::StatusOr<ConnectionOptions> o =
      ConnectionOptionsFrom("127.0.0.1:50051", From({}), From({}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->tls_ca, IsEmpty());
  EXPECT_THAT(o->tls_cert, IsEmpty());
  EXPECT_THAT(o->tls_key, IsEmpty());
  EXPECT_THAT(o->token_file, IsEmpty());
}

TEST(ConnectionOptionsTest, AnEmptyFlagTurnsTheEnvironmentOff) {
  absl::StatusOr<ConnectionOptions> o = ConnectionOptionsFrom(
      "localhost:1", From({{"token_file", ""}}), From({{"COLLECTIONS_TOKEN_FILE", "env.jwt"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->token_file, IsEmpty());
}

TEST(ConnectionOptionsTest, TheEnvironmentVariables) {
  EXPECT_EQ(ConnectionFlagEnv("tls_ca"), "COLLECTIONS_TLS_CA");
  EXPECT_EQ(ConnectionFlagEnv("tls_cert"), "COLLECTIONS_TLS_CERT");
  EXPECT_EQ(ConnectionFlagEnv("tls_key"), "COLLECTIONS_TLS_KEY");
  EXPECT_EQ(ConnectionFlagEnv("token_file"), "COLLECTIONS_TOKEN_FILE");
  EXPECT_EQ(ConnectionFlagEnv("server"), "");
  for (const Flag& f : ConnectionFlags()) {
    EXPECT_THAT(f.help, HasSubstr("$" + ConnectionFlagEnv(f.name))) << f.name;
  }
}

TEST(ConnectionOptionsTest, ProcessEnvReadsEmptyAsUnset) {
  setenv("COLLECTIONS_CHANNEL_TEST_VAR", "x.pem", 1);
  EXPECT_EQ(ProcessEnv("COLLECTIONS_CHANNEL_TEST_VAR"), "x.pem");
  setenv("COLLECTIONS_CHANNEL_TEST_VAR", "", 1);
  EXPECT_EQ(ProcessEnv("COLLECTIONS_CHANNEL_TEST_VAR"), std::nullopt);
  unsetenv("COLLECTIONS_CHANNEL_TEST_VAR");
  EXPECT_EQ(ProcessEnv("COLLECTIONS_CHANNEL_TEST_VAR"), std::nullopt);
}

TEST(ConnectionOptionsTest, CertificateAndKeyGoTogether) {
  absl::StatusOr<ConnectionOptions> o = ConnectionOptionsFrom(
      "collectionsd.bank:443", From({{"tls_ca", "ca.pem"}, {"tls_cert", "me.pem"}}), From({}));
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(o.status().message(), HasSubstr("--tls_cert needs --tls_key"));
  o = ConnectionOptionsFrom("collectionsd.bank:443", From({{"tls_ca", "ca.pem"}}),
                            From({{"COLLECTIONS_TLS_KEY", "me.key"}}));
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(o.status().message(), HasSubstr("--tls_key needs --tls_cert"));
  o = ConnectionOptionsFrom("localhost:1", From({{"tls_cert", "me.pem"}, {"tls_key", "me.key"}}),
                            From({}));
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(o.status().message(), HasSubstr("need --tls_ca"));
  o = ConnectionOptionsFrom("localhost:1", From({{"tls_server_name", "x"}}), From({}));
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoopbackTest, Table) {
  struct Case {
    const char* target;
    const char* host;
    bool loopback;
  };
  const Case cases[] = {
      {"localhost:50051", "localhost", true},
      {"LOCALHOST:50051", "LOCALHOST", true},
      {"localhost", "localhost", true},
      {"127.0.0.1:1", "127.0.0.1", true},
      {"127.8.9.10:1", "127.8.9.10", true},
      {"[::1]:1", "::1", true},
      {"::1", "::1", true},
      {"ipv4:127.0.0.1:50051", "127.0.0.1", true},
      {"ipv6:[::1]:50051", "::1", true},
      {"dns:///localhost:50051", "localhost", true},
      {"dns:localhost:50051", "localhost", true},
      {"10.0.0.1:1", "10.0.0.1", false},
      {"128.0.0.1:1", "128.0.0.1", false},
      {"0.0.0.0:50051", "0.0.0.0", false},
      {"[::]:1", "::", false},
      {"[2001:db8::1]:443", "2001:db8::1", false},
      {"dns:///example.com:443", "example.com", false},
      {"dns://8.8.8.8/example.com:443", "example.com", false},
      {"example.com:443", "example.com", false},
      {"localhost.example.com:443", "localhost.example.com", false},
      {"127.0.0.1.example.com:443", "127.0.0.1.example.com", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(TargetHost(c.target), c.host) << c.target;
    EXPECT_EQ(IsLoopbackTarget(c.target), c.loopback) << c.target;
  }
}

TEST(OpenChannelTest, ANonLoopbackServerNeedsTls) {
  for (const char* server : {"10.0.0.1:1", "dns:///example.com:443", "collectionsd.bank:50051"}) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(Options(server));
    EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument) << server;
    EXPECT_THAT(channel.status().message(), HasSubstr("--tls_ca")) << server;
    EXPECT_THAT(channel.status().message(), HasSubstr(server));
  }
  for (const char* server : {"localhost:50051", "127.0.0.1:1", "[::1]:1"}) {
    EXPECT_TRUE(OpenChannel(Options(server)).ok()) << server;
  }
}

TEST(OpenChannelTest, FilesThatCannotBeReadAreNamed) {
  TempDir dir;
  const std::string missing = dir.Write("present", "x") + ".missing";
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      OpenChannel(Options("localhost:1", {{"token_file", missing}}));
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(channel.status().message(), HasSubstr("--token_file"));
  EXPECT_THAT(channel.status().message(), HasSubstr(missing));

  const std::string blank = dir.Write("blank.jwt", " \n\t\n");
  channel = OpenChannel(Options("localhost:1", {{"token_file", blank}}));
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(channel.status().message(), HasSubstr("is empty"));

  channel = OpenChannel(Options("collectionsd.bank:443", {{"tls_ca", missing}}));
  EXPECT_THAT(channel.status().message(), HasSubstr("--tls_ca"));
  EXPECT_THAT(channel.status().message(), HasSubstr(missing));

  const std::string ca = dir.Write("ca.pem", testing::kCaPem);
  channel = OpenChannel(
      Options("collectionsd.bank:443", {{"tls_ca", ca}, {"tls_cert", ca}, {"tls_key", missing}}));
  EXPECT_THAT(channel.status().message(), HasSubstr("--tls_key"));
  EXPECT_THAT(channel.status().message(), HasSubstr(missing));
}

// An AuthContext for calling the plugin directly; the plugin never reads it.
struct NoProperties : grpc::AuthPropertyIterator {
  NoProperties() = default;
};
class NoAuthContext : public grpc::AuthContext {
 public:
  bool IsPeerAuthenticated() const override { return false; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return {}; }
  std::string GetPeerIdentityPropertyName() const override { return ""; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string&) const override { return {}; }
  grpc::AuthPropertyIterator begin() const override { return NoProperties(); }
  grpc::AuthPropertyIterator end() const override { return NoProperties(); }
  void AddProperty(const std::string&, const grpc::string_ref&) override {}
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }
};

// The authorization header the plugin gives now, or the error.
std::string Authorization(TokenFilePlugin& plugin) {
  std::multimap<std::string, std::string> metadata;
  NoAuthContext context;
  grpc::Status s = plugin.GetMetadata("https://localhost/collections.v1.PolicyService",
                                      "ListPolicyVersions", context, &metadata);
  if (!s.ok()) return "error: " + s.error_message();
  EXPECT_EQ(metadata.size(), 1u);
  auto it = metadata.find("authorization");
  return it == metadata.end() ? "none" : it->second;
}

TEST(TokenFilePluginTest, ReadsTheFileAgainWhenItChanges) {
  TempDir dir;
  const std::string file = dir.Write("agent.jwt", "  eyJ.first.sig\n");
  const auto t0 = fs::last_write_time(file);
  absl::StatusOr<std::unique_ptr<TokenFilePlugin>> plugin = TokenFilePlugin::Open(file);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ(Authorization(**plugin), "Bearer eyJ.first.sig");

  // Rotated (same length, a later modification time).
  dir.Write("agent.jwt", "eyJ.other.sig\n");
  fs::last_write_time(file, t0 + std::chrono::seconds(60));
  EXPECT_EQ(Authorization(**plugin), "Bearer eyJ.other.sig");

  // Unchanged file: the token read before (rewritten content with the old
  // time and size is not noticed, which is the point of the check).
  dir.Write("agent.jwt", "eyJ.xxxxx.sig\n");
  fs::last_write_time(file, t0 + std::chrono::seconds(60));
  EXPECT_EQ(Authorization(**plugin), "Bearer eyJ.other.sig");

  // A rotation half done (the file empty or gone for a moment): the last
  // good token, and the file read again on the next call.
  dir.Write("agent.jwt", "");
  fs::last_write_time(file, t0 + std::chrono::seconds(120));
  EXPECT_EQ(Authorization(**plugin), "Bearer eyJ.other.sig");
  fs::remove(file);
  EXPECT_EQ(Authorization(**plugin), "Bearer eyJ.other.sig");
  dir.Write("agent.jwt", "eyJ.third.sig");
  fs::last_write_time(file, t0 + std::chrono::seconds(180));
  EXPECT_EQ(Authorization(**plugin), "Bearer eyJ.third.sig");
}

TEST(TokenFilePluginTest, AMissingOrEmptyFileIsAnErrorAtStart) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<TokenFilePlugin>> plugin =
      TokenFilePlugin::Open(dir.Write("empty.jwt", "\n"));
  EXPECT_EQ(plugin.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plugin.status().message(), HasSubstr("--token_file"));
  plugin = TokenFilePlugin::Open(dir.Write("x", "") + "/nope.jwt");
  EXPECT_EQ(plugin.status().code(), absl::StatusCode::kInvalidArgument);
}

// A PolicyService whose ListPolicyVersions answers with what the call
// carried: the authorization header as the first version's name, and the
// peer's certificate URI (if any) as the second's.
class EchoPolicyService final : public v1::PolicyService::Service {
 public:
  grpc::Status ListPolicyVersions(grpc::ServerContext* context,
                                  const v1::ListPolicyVersionsRequest*,
                                  v1::ListPolicyVersionsResponse* response) override {
    std::string authorization;
    for (const auto& [key, value] : context->client_metadata()) {
      if (key == "authorization") authorization.assign(value.data(), value.size());
    }
    response->add_versions()->set_name(authorization);
    std::string uri;
    for (const grpc::string_ref& v :
         context->auth_context()->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
      uri.assign(v.data(), v.size());
    }
    response->add_versions()->set_name(uri);
    return grpc::Status::OK;
  }
};

class Server {
 public:
  explicit Server(std::shared_ptr<grpc::ServerCredentials> credentials) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~Server() { server_->Shutdown(); }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string Localhost() const { return "localhost:" + std::to_string(port_); }

 private:
  int port_ = 0;
  EchoPolicyService service_;
  std::unique_ptr<grpc::Server> server_;
};

// One call over `options`; the response, or the status.
grpc::Status Call(const ConnectionOptions& options, v1::ListPolicyVersionsResponse* out) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(options);
  if (!channel.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(channel.status().message()));
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return v1::PolicyService::NewStub(*channel)->ListPolicyVersions(
      &context, v1::ListPolicyVersionsRequest(), out);
}

std::shared_ptr<grpc::ServerCredentials> TlsServer(grpc_ssl_client_certificate_request_type want) {
  grpc::SslServerCredentialsOptions tls(want);
  tls.pem_root_certs = testing::kCaPem;
  tls.pem_key_cert_pairs.push_back({testing::kServerKey, testing::kServerPem});
  return grpc::SslServerCredentials(tls);
}

TEST(OpenChannelTest, LoopbackCarriesTheTokenToALocalOrPlaintextServer) {
  TempDir dir;
  const std::string token = dir.Write("me.jwt", "eyJ.local.sig\n");
  for (auto credentials :
       {grpc::experimental::LocalServerCredentials(LOCAL_TCP), grpc::InsecureServerCredentials()}) {
    Server server(credentials);
    v1::ListPolicyVersionsResponse out;
    grpc::Status s = Call(Options(server.Address(), {{"token_file", token}}), &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(out.versions(0).name(), "Bearer eyJ.local.sig");
    s = Call(Options(server.Localhost()), &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(out.versions(0).name(), "");
  }
}

TEST(OpenChannelTest, TlsCarriesTheToken) {
  TempDir dir;
  Server server(TlsServer(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE));
  const std::string ca = dir.Write("ca.pem", testing::kCaPem);
  const std::string token = dir.Write("me.jwt", "eyJ.tls.sig");
  v1::ListPolicyVersionsResponse out;
  grpc::Status s = Call(Options(server.Address(), {{"tls_ca", ca}, {"token_file", token}}), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.versions(0).name(), "Bearer eyJ.tls.sig");

  // The certificate names collectionsd.test (and localhost, 127.0.0.1):
  // --tls_server_name checks the name given instead of the address.
  s = Call(Options(server.Address(), {{"tls_ca", ca}, {"tls_server_name", "collectionsd.test"}}),
           &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Call(Options(server.Address(), {{"tls_ca", ca}, {"tls_server_name", "collectionsd.other"}}),
           &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(TlsFailure(s)) << s.error_message();
}

TEST(OpenChannelTest, AnUntrustedServerIsATlsFailureWithAHint) {
  TempDir dir;
  Server server(TlsServer(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE));
  v1::ListPolicyVersionsResponse out;
  grpc::Status s = Call(
      Options(server.Address(), {{"tls_ca", dir.Write("other.pem", testing::kOtherCaPem)}}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(TlsFailure(s)) << s.error_message();
  EXPECT_THAT(FailureText(s, server.Address()),
              HasSubstr("could not establish TLS with " + server.Address() +
                        ": check --tls_ca and the server's certificate name"));
}

TEST(OpenChannelTest, MutualTls) {
  TempDir dir;
  Server server(TlsServer(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY));
  const std::string ca = dir.Write("ca.pem", testing::kCaPem);
  v1::ListPolicyVersionsResponse out;
  grpc::Status s =
      Call(Options(server.Address(), {{"tls_ca", ca},
                                      {"tls_cert", dir.Write("client.pem", testing::kClientPem)},
                                      {"tls_key", dir.Write("client.key", testing::kClientKey)}}),
           &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.versions(1).name(), "spiffe://collections/firm/test");
  // Without a client certificate the server refuses the handshake.
  s = Call(Options(server.Address(), {{"tls_ca", ca}}), &out);
  EXPECT_FALSE(s.ok());
}

TEST(FailureTextTest, HintsForRefusedCredentials) {
  EXPECT_EQ(FailureText(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token expired"), "s:1"),
            "UNAUTHENTICATED: the server refused the credentials: token expired (check "
            "--token_file / COLLECTIONS_TOKEN_FILE, or the client certificate)");
  EXPECT_EQ(FailureText(
                grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "PutPolicy needs the role admin"),
                "s:1"),
            "PERMISSION_DENIED: not allowed: PutPolicy needs the role admin");
  EXPECT_EQ(FailureText(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     "failed to connect to all addresses; last error: UNKNOWN: "
                                     "ipv4:127.0.0.1:1: Failed to connect to remote host: "
                                     "Connection refused"),
                        "127.0.0.1:1"),
            "UNAVAILABLE: failed to connect to all addresses; last error: UNKNOWN: "
            "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused");
  EXPECT_EQ(FailureText(grpc::Status(grpc::StatusCode::NOT_FOUND, "no case 7"), "s:1"),
            "NOT_FOUND: no case 7");
}

}  // namespace
}  // namespace collections::clients
