#include "tests/service/test_credentials.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <jwt/jwt.hpp>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "tests/service/call_context.h"

namespace collections::testing {

const std::string& CredentialsDir() {
  static const std::string* dir = [] {
    const char* env = std::getenv("COLLECTIONS_TEST_CREDENTIALS");
    return new std::string(env != nullptr && *env != '\0' ? env : COLLECTIONS_TEST_CREDENTIALS_DIR);
  }();
  return *dir;
}

std::string Credential(const std::string& name) {
  const std::string path = CredentialsDir() + "/" + name;
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot read " << path
              << " (the build makes it with scripts/dev_credentials.sh)\n";
    std::abort();
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string MintToken(const std::string& sub, const std::vector<std::string>& roles,
                      const std::string& firm_id, absl::Duration lifetime) {
  static const std::string* key = new std::string(Credential("jwt-rs256.key"));
  jwt::jwt_object token{jwt::params::algorithm("RS256"), jwt::params::secret(*key),
                        jwt::params::headers({{"kid", "dev-rs256"}})};
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  token.add_claim("iss", "https://idp.collections.dev")
      .add_claim("aud", "collectionsd")
      .add_claim("sub", sub)
      .add_claim("iat", now)
      .add_claim("exp", now + absl::ToInt64Seconds(lifetime));
  token.payload().add_claim("roles", roles);
  if (!firm_id.empty()) token.add_claim("firm_id", firm_id);
  return token.signature();
}

namespace {

// One token per caller for the process's life (tokens last a day): the
// server verifies each once, as it would a real agent's.
std::string CachedToken(const std::string& actor, const std::string& role,
                        const std::string& firm_id) {
  static std::mutex mu;
  static auto* tokens =
      new std::map<std::tuple<std::string, std::string, std::string>, std::string>;
  std::string token;
  {
    std::lock_guard<std::mutex> lock(mu);
    std::string& cached = (*tokens)[{actor, role, firm_id}];
    if (cached.empty()) {
      std::vector<std::string> roles;
      if (actor == kTester && role.empty()) {
        roles = {"agent", "supervisor", "legal", "manager", "admin", "ingest"};
      } else {
        roles = {role.empty() ? "agent" : role};
      }
      cached = MintToken(actor, roles, firm_id, absl::Hours(24));
    }
    token = cached;
  }
  return token;
}

}  // namespace

void SetCaller(grpc::ClientContext& context, const std::string& actor, const std::string& role,
               const std::string& firm_id) {
  context.AddMetadata("authorization", "Bearer " + CachedToken(actor, role, firm_id));
}

std::string TesterToken() { return CachedToken(kTester, "", ""); }

std::shared_ptr<grpc::ChannelCredentials> TestChannelCredentials(
    const std::string& client_certificate) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = Credential("ca.pem");
  if (!client_certificate.empty()) {
    options.pem_cert_chain = Credential(client_certificate + ".pem");
    options.pem_private_key = Credential(client_certificate + ".key");
  }
  return grpc::SslCredentials(options);
}

grpc::ChannelArguments TestChannelArguments() {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return args;
}

}  // namespace collections::testing
