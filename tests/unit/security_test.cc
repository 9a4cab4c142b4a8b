// security/: the method -> roles table, bearer-token verification against
// the development identity provider's keys, and the listener rules.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <fstream>
#include <jwt/jwt.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "collections/v1/access_service.grpc.pb.h"
#include "collections/v1/audit_service.grpc.pb.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/experiment_service.grpc.pb.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "collections/v1/plan_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "security/access_table.h"
#include "security/call_gate.h"
#include "security/token_verifier.h"
#include "security/transport.h"
#include "tests/service/test_credentials.h"
#include "tests/service/test_env.h"

namespace collections::security {
namespace {

using ::collections::testing::Credential;
using ::collections::testing::CredentialsDir;

Principal With(std::string name, std::set<std::string> roles) {
  Principal p;
  p.name = std::move(name);
  p.roles = std::move(roles);
  return p;
}

// Every RPC of the services, as their descriptors list them.
std::vector<std::string> EveryRpc() {
  std::vector<std::string> out;
  // One message of each service's file, which links the file's descriptor.
  for (const google::protobuf::FileDescriptor* file :
       {v1::GetCaseRequest::descriptor()->file(), v1::ClaimTasksRequest::descriptor()->file(),
        v1::ProposePlanRequest::descriptor()->file(),
        v1::AcknowledgeHandoffRequest::descriptor()->file(),
        v1::GetPolicyRequest::descriptor()->file(), v1::ReportRequest::descriptor()->file(),
        v1::VerifyAuditChainRequest::descriptor()->file(),
        v1::GetExperimentRequest::descriptor()->file(),
        v1::GetAccessRulesRequest::descriptor()->file()}) {
    EXPECT_EQ(file->service_count(), 1) << file->name();
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      for (int i = 0; i < service->method_count(); ++i) {
        out.push_back(absl::StrCat(service->full_name(), "/", service->method(i)->name()));
      }
    }
  }
  return out;
}

TEST(AccessTable, EveryRpcHasAnEntryAndNothingElseDoes) {
  const AccessTable table = AccessTable::Defaults();
  EXPECT_EQ(table.Methods().size(), EveryRpc().size());
  for (const std::string& rpc : EveryRpc()) {
    EXPECT_FALSE(table.RolesOf(rpc).empty()) << rpc << " has no role in the table";
  }
}

TEST(AccessTable, DefaultsAreTheOnesABankWouldChoose) {
  const AccessTable table = AccessTable::Defaults();
  struct Row {
    const char* method;
    const char* role;
    bool allowed;
  };
  for (const Row& row : std::vector<Row>{
           {"CaseService/ImportDelinquencies", "ingest", true},
           {"CaseService/ImportDelinquencies", "admin", false},
           {"CaseService/RecordPayment", "ingest", true},
           {"CaseService/RecordPayment", "agent", false},
           {"CaseService/AdvanceBusinessDate", "admin", true},
           {"CaseService/AdvanceBusinessDate", "manager", false},
           {"CaseService/AdvanceBusinessDate", "supervisor", false},
           {"PolicyService/PutPolicy", "admin", true},
           {"PolicyService/PutPolicy", "manager", false},
           {"PolicyService/GetPolicy", "manager", true},
           {"PolicyService/GetPolicy", "legal", false},
           {"TaskService/ClaimTasks", "agent", true},
           {"TaskService/ClaimTasks", "legal", false},
           {"TaskService/ClaimTasks", "manager", false},
           {"TaskService/ListTasks", "supervisor", true},
           {"TaskService/ListTasks", "agent", false},
           {"PlanService/ProposePlan", "agent", true},
           {"PlanService/ApprovePlan", "supervisor", true},
           {"PlanService/ApprovePlan", "agent", true},  // within the policy's agent limit
           {"PlanService/ApprovePlan", "manager", false},
           {"LegalService/StreamHandoffs", "legal", true},
           {"LegalService/StreamHandoffs", "admin", false},
           {"ReportService/Portfolio", "manager", true},
           {"ReportService/Portfolio", "agent", false},
       }) {
    const std::string method = absl::StrCat("/collections.v1.", row.method);
    absl::Status status = table.Check(method, With("x", {row.role}));
    SCOPED_TRACE(absl::StrCat(row.method, " as ", row.role));
    if (row.allowed) {
      EXPECT_TRUE(status.ok()) << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
    }
  }
}

// The README's "Roles" table is the one readers see: it says what the
// server enforces, row for row.
TEST(AccessTable, TheReadmeTableIsTheTable) {
  std::ifstream in(std::string(COLLECTIONS_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(in) << "README.md";
  const AccessTable table = AccessTable::Defaults();
  std::vector<std::string> columns;
  std::set<std::string> documented;
  for (std::string line; std::getline(in, line);) {
    if (absl::StartsWith(line, "| method | agent |")) {
      for (absl::string_view cell : absl::StrSplit(line, '|', absl::SkipWhitespace())) {
        columns.push_back(std::string(absl::StripAsciiWhitespace(cell)));
      }
      continue;
    }
    if (columns.empty() || !absl::StartsWith(line, "| `")) continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(line.substr(1), '|')) {
      cells.push_back(std::string(absl::StripAsciiWhitespace(cell)));
    }
    ASSERT_GE(cells.size(), columns.size()) << line;
    const std::string method = absl::StrCat("collections.v1.", absl::StripPrefix(cells[0], "`"));
    const std::string bare(absl::StripSuffix(method, "`"));
    documented.insert(bare);
    std::set<std::string> roles;
    for (size_t c = 1; c < columns.size(); ++c) {
      if (cells[c] == "x") roles.insert(columns[c]);
    }
    EXPECT_EQ(roles, table.RolesOf(bare)) << line;
  }
  const std::vector<std::string> methods = table.Methods();
  EXPECT_EQ(documented, std::set<std::string>(methods.begin(), methods.end()));
}

TEST(AccessTable, ARefusalNamesTheRolesThatWouldDo) {
  absl::Status status = AccessTable::Defaults().Check("/collections.v1.PolicyService/PutPolicy",
                                                      With("amy", {"agent"}));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "collections.v1.PolicyService/PutPolicy needs the role admin; amy (agent) does not "
            "have it");
  EXPECT_EQ(AccessTable::Defaults().Check("/collections.v1.Nope/X", With("ada", {"admin"})).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AccessTable, AnInstitutionTightensOrOpensAMethodWithoutARebuild) {
  v1::AccessConfig config;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        methods { method: "collections.v1.CaseService/GetCase" roles: "supervisor" }
        methods { method: "collections.v1.ReportService/Portfolio" }
      )pb",
      &config));
  absl::StatusOr<AccessTable> table = AccessTable::Create(config);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Check("/collections.v1.CaseService/GetCase", With("amy", {"agent"})).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(
      table->Check("/collections.v1.CaseService/GetCase", With("sue", {"supervisor"})).ok());
  EXPECT_EQ(
      table->Check("/collections.v1.ReportService/Portfolio", With("max", {"manager"})).code(),
      absl::StatusCode::kPermissionDenied);

  for (const char* bad :
       {R"pb(methods { method: "collections.v1.CaseService/Nope" })pb",
        R"pb(methods { method: "collections.v1.CaseService/GetCase" roles: "root" })pb"}) {
    v1::AccessConfig wrong;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(bad, &wrong));
    EXPECT_EQ(AccessTable::Create(wrong).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

std::unique_ptr<TokenVerifier> DevVerifier() {
  v1::AccessConfig config;
  EXPECT_TRUE(
      google::protobuf::TextFormat::ParseFromString(Credential("access.textproto"), &config));
  auto verifier = TokenVerifier::Create(config.jwt(), CredentialsDir());
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return verifier.ok() ? *std::move(verifier) : nullptr;
}

std::string Token(const std::string& name) {
  std::string token = Credential("tokens/" + name);
  while (!token.empty() && token.back() == '\n') token.pop_back();
  return token;
}

TEST(TokenVerifier, TheIdentityProvidersTokensSayWhoAndWhichRoles) {
  auto verifier = DevVerifier();
  ASSERT_NE(verifier, nullptr);
  struct Row {
    const char* file;
    const char* sub;
    const char* role;
  };
  for (const Row& row : std::vector<Row>{{"agent.jwt", "amy", "agent"},
                                         {"supervisor.jwt", "sue", "supervisor"},
                                         {"manager.jwt", "max", "manager"},  // ES256
                                         {"admin.jwt", "ada", "admin"},
                                         {"legal.jwt", "firm-shanghai-clerk", "legal"}}) {
    absl::StatusOr<Principal> p = verifier->Verify(Token(row.file));
    ASSERT_TRUE(p.ok()) << row.file << ": " << p.status();
    EXPECT_EQ(p->name, row.sub);
    EXPECT_EQ(p->roles, std::set<std::string>{row.role});
  }
  EXPECT_EQ(verifier->Verify(Token("legal.jwt"))->firm_id, "firm-shanghai");
  // Minted in-process, with roles the table does not know dropped.
  absl::StatusOr<Principal> minted =
      verifier->Verify(::collections::testing::MintToken("zoe", {"agent", "root", "supervisor"}));
  ASSERT_TRUE(minted.ok()) << minted.status();
  EXPECT_EQ(minted->roles, (std::set<std::string>{"agent", "supervisor"}));
}

TEST(TokenVerifier, RefusesWhatAnIdentityProviderDidNotVouchFor) {
  auto verifier = DevVerifier();
  ASSERT_NE(verifier, nullptr);
  struct Row {
    std::string token;
    const char* reason;
  };
  const std::string agent = Token("agent.jwt");
  const std::string payload = agent.substr(agent.find('.') + 1);
  for (const Row& row : std::vector<Row>{
           {Token("expired.jwt"), "the token has expired"},
           {Token("wrong-audience.jwt"), "the token is for another audience"},
           {Token("wrong-issuer.jwt"), "the token is from another issuer"},
           {Token("forged.jwt"), "the token's signature does not verify"},
           {::collections::testing::MintToken("amy", {"agent"}, "", absl::Hours(-2)),
            "the token has expired"},
           // alg "none", and an HMAC algorithm keyed with the public key.
           {"eyJhbGciOiJub25lIiwia2lkIjoiZGV2LXJzMjU2In0." + payload,
            "the token's algorithm does not match its key"},
           {"eyJhbGciOiJIUzI1NiIsImtpZCI6ImRldi1yczI1NiJ9." + payload,
            "the token's algorithm does not match its key"},
           {"eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ." + payload, "the token's key id is not known"},
           {"not a token", "the bearer token is not a JWT"},
           {"", "the bearer token is empty"},
       }) {
    absl::StatusOr<Principal> p = verifier->Verify(row.token);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << row.reason;
    EXPECT_EQ(p.status().message(), row.reason);
  }
}

// A signing key is rotated by replacing its file: within a second tokens
// of the new key verify and those of the withdrawn one stop, remembered or
// not; a file that no longer loads keeps the keys that did.
TEST(TokenVerifier, ARotatedKeyFileTakesOverWithoutARestart) {
  auto dir = ::collections::testing::TempDir::Create("collections-rotation");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string key_file = (*dir)->path() + "/signing.pem";
  auto write = [&](const std::string& text, int64_t mtime) {
    std::ofstream(key_file, std::ios::trunc) << text;
    struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, key_file.c_str(), times, 0), 0);
  };
  write(Credential("jwt-rs256.pub"), 1000);
  v1::JwtIssuer config;
  config.set_issuer("https://idp.collections.dev");
  config.set_audience("collectionsd");
  v1::JwtKey* key = config.add_keys();
  key->set_kid("dev-rs256");
  key->set_pem_file("signing.pem");
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto verifier = TokenVerifier::Create(config, (*dir)->path(), [&] { return now; });
  ASSERT_TRUE(verifier.ok()) << verifier.status();

  const std::string old_token = Token("agent.jwt");
  ASSERT_TRUE((*verifier)->Verify(old_token).ok());

  // The identity provider moves to a new key under the same kid (the other
  // CA's key stands in for it).
  const std::string new_private = Credential("other-ca.key");
  jwt::jwt_object minted{jwt::params::algorithm("RS256"), jwt::params::secret(new_private),
                         jwt::params::headers({{"kid", "dev-rs256"}})};
  minted.add_claim("iss", "https://idp.collections.dev")
      .add_claim("aud", "collectionsd")
      .add_claim("sub", "amy")
      .add_claim("exp", absl::ToUnixSeconds(absl::Now()) + 3600);
  const std::string new_token = minted.signature();
  EXPECT_EQ((*verifier)->Verify(new_token).status().code(), absl::StatusCode::kUnauthenticated);

  std::string new_public;
  {
    BIO* in = BIO_new_mem_buf(new_private.data(), static_cast<int>(new_private.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO* out = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PUBKEY(out, pkey), 1);
    char* data = nullptr;
    const long size = BIO_get_mem_data(out, &data);
    new_public.assign(data, static_cast<size_t>(size));
    BIO_free(out);
    EVP_PKEY_free(pkey);
    BIO_free(in);
  }
  write(new_public, 2000);
  // Within the second the files are not looked at again.
  EXPECT_TRUE((*verifier)->Verify(old_token).ok());
  now += absl::Seconds(2);
  EXPECT_TRUE((*verifier)->Verify(new_token).ok());
  absl::StatusOr<Principal> withdrawn = (*verifier)->Verify(old_token);
  EXPECT_EQ(withdrawn.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(withdrawn.status().message(), "the token's signature does not verify");

  // A broken file keeps the keys that loaded.
  write("not a key", 3000);
  now += absl::Seconds(2);
  EXPECT_TRUE((*verifier)->Verify(new_token).ok());
}

TEST(TokenVerifier, KeysFromTheJwksAreTheKeysOfThePemFiles) {
  absl::StatusOr<std::map<std::string, TokenVerifier::Key>> keys =
      KeysFromJwks(Credential("jwks.json"));
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  absl::StatusOr<TokenVerifier::Key> rsa = KeyFromPem(Credential("jwt-rs256.pub"));
  absl::StatusOr<TokenVerifier::Key> ec = KeyFromPem(Credential("jwt-es256.pub"));
  ASSERT_TRUE(rsa.ok() && ec.ok());
  EXPECT_EQ(keys->at("dev-rs256").pem, rsa->pem);
  EXPECT_EQ(keys->at("dev-es256").pem, ec->pem);
  EXPECT_EQ(keys->at("dev-rs256").algorithms, std::set<std::string>{"RS256"});
  EXPECT_EQ(ec->algorithms, std::set<std::string>{"ES256"});
  EXPECT_EQ(
      KeysFromJwks(R"({"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]})").status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KeysFromJwks("[]").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Transport, PlaintextOnlyOnLoopbackUnlessTheOperatorInsists) {
  for (const char* loopback : {"127.0.0.1:50051", "localhost:0", "[::1]:9", "127.1.2.3:1"}) {
    EXPECT_TRUE(IsLoopbackListen(loopback)) << loopback;
  }
  for (const char* open : {"0.0.0.0:50051", "10.0.0.7:1", "[::]:1", "example.com:443"}) {
    EXPECT_FALSE(IsLoopbackListen(open)) << open;
  }
  TransportOptions options;
  options.listen = "0.0.0.0:50051";
  auto refused = CredentialsFor(options, nullptr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  options.insecure_listen = true;
  auto insisted = CredentialsFor(options, nullptr);
  ASSERT_TRUE(insisted.ok()) << insisted.status();
  EXPECT_FALSE(insisted->warning.empty());
  EXPECT_FALSE(insisted->processor_attached);

  options = TransportOptions();
  options.listen = "0.0.0.0:50051";
  options.tls_cert = CredentialsDir() + "/server.pem";
  EXPECT_EQ(CredentialsFor(options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);  // a certificate without its key
  options.tls_key = CredentialsDir() + "/missing.key";
  EXPECT_EQ(CredentialsFor(options, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace collections::security
