// AccessService through real gRPC on SQLite and PostgreSQL: the access
// file's certificates and methods become the database's first version; a
// put changes who may call what for the very next call on the same server,
// is audited, answered once per request id, kept across a restart (the
// database wins over the file); bad rules and a lock-out are refused and
// change nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collections/v1/access_service.grpc.pb.h"
#include "collections/v1/audit_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "storage/access_rules.h"
#include "storage/store.h"
#include "tests/service/server_fixture.h"

namespace collections {
namespace {

using ::testing::HasSubstr;

constexpr char kGetPolicy[] = "collections.v1.PolicyService/GetPolicy";

class AccessServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Connect();
  }

  void Connect() {
    access_ = v1::AccessService::NewStub(channel_);
    policies_ = v1::PolicyService::NewStub(channel_);
  }

  v1::AccessRules Current() {
    auto context = ContextAs("ada", "admin");
    v1::GetAccessRulesResponse out;
    grpc::Status s = access_->GetAccessRules(context.get(), {}, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.rules();
  }

  grpc::Status Put(const v1::AccessRules& rules, const std::string& request_id,
                   v1::PutAccessRulesResponse* out, const std::string& role = "admin") {
    auto context = ContextAs("ada", role);
    v1::PutAccessRulesRequest request;
    *request.mutable_rules() = rules;
    request.set_request_id(request_id);
    return access_->PutAccessRules(context.get(), request, out);
  }

  // GetPolicy as `role` on `channel` (the fixture's when null).
  grpc::Status GetPolicyAs(const std::string& role,
                           const std::shared_ptr<grpc::Channel>& channel = nullptr) {
    v1::GetPolicyResponse out;
    if (channel != nullptr) {
      auto context = testing::AnonymousContext();
      return v1::PolicyService::NewStub(channel)->GetPolicy(context.get(), {}, &out);
    }
    auto context = ContextAs(role + "-1", role);
    return policies_->GetPolicy(context.get(), {}, &out);
  }

  // The file's rules with GetPolicy closed to all but admins, and the
  // ingest certificate's system made an admin as well.
  v1::AccessRules Tightened() {
    v1::AccessRules rules = Current();
    rules.clear_version();
    rules.clear_created_at();
    rules.clear_created_by();
    v1::MethodRoles* get = rules.add_methods();
    get->set_method(kGetPolicy);
    get->add_roles("admin");
    for (v1::CertificatePrincipal& cert : *rules.mutable_certificates()) {
      if (cert.principal() == "core-banking") cert.add_roles("admin");
    }
    return rules;
  }

  std::unique_ptr<v1::AccessService::Stub> access_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
};

TEST_P(AccessServiceTest, TheFilesRulesAreVersionOne) {
  const v1::AccessRules rules = Current();
  EXPECT_EQ(rules.version(), 1);
  EXPECT_EQ(rules.created_by(), "system:startup");
  EXPECT_GT(rules.created_at().seconds(), 0);
  // scripts/dev_credentials.sh maps the ingest system and two firms.
  std::vector<std::string> principals;
  for (const v1::CertificatePrincipal& cert : rules.certificates()) {
    principals.push_back(cert.principal());
  }
  EXPECT_THAT(principals, ::testing::Contains("core-banking"));
  EXPECT_TRUE(rules.methods().empty());

  // Admins only, like the other changes to who may do what.
  auto context = ContextAs("max", "manager");
  v1::GetAccessRulesResponse out;
  EXPECT_EQ(access_->GetAccessRules(context.get(), {}, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_P(AccessServiceTest, APutChangesWhoMayCallForTheNextCallOnTheSameServer) {
  auto ingest = testing::TestChannel(server_->address(), "ingest");
  ASSERT_TRUE(GetPolicyAs("manager").ok());
  grpc::Status before = GetPolicyAs("", ingest);
  EXPECT_EQ(before.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(before.error_message(), HasSubstr("core-banking (ingest)"));

  v1::PutAccessRulesResponse put;
  grpc::Status s = Put(Tightened(), "tighten-1", &put);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(put.rules().version(), 2);
  EXPECT_FALSE(put.unchanged());
  EXPECT_EQ(put.rules().created_by(), "ada");

  // The very next calls, on the same server and channel: the method's roles
  // and the certificate's roles are the new version's.
  grpc::Status manager = GetPolicyAs("manager");
  EXPECT_EQ(manager.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(manager.error_message(), HasSubstr("needs the role admin"));
  EXPECT_TRUE(GetPolicyAs("admin").ok());
  EXPECT_TRUE(GetPolicyAs("", ingest).ok());
  EXPECT_EQ(Current().version(), 2);

  // The audit log has the change, by the caller.
  {
    auto context = ContextAs("carol", "manager");
    v1::ListAuditRecordsRequest request;
    request.set_principal("ada");
    v1::ListAuditRecordsResponse out;
    ASSERT_TRUE(
        v1::AuditService::NewStub(channel_)->ListAuditRecords(context.get(), request, &out).ok());
    ASSERT_EQ(out.records_size(), 1);
    EXPECT_EQ(out.records(0).action(), "PutAccessRules");
    EXPECT_THAT(out.records(0).detail(), HasSubstr("access rules version 2"));
  }

  // A restart on the same database keeps the stored rules, whatever the
  // access file says.
  StartServer();
  Connect();
  EXPECT_EQ(Current().version(), 2);
  EXPECT_EQ(GetPolicyAs("manager").error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_P(AccessServiceTest, ARequestIdIsAnsweredOnceAndEqualRulesAreNotStoredAgain) {
  const v1::AccessRules rules = Tightened();
  v1::PutAccessRulesResponse first, again, same, other;
  ASSERT_TRUE(Put(rules, "put-1", &first).ok());
  ASSERT_TRUE(Put(rules, "put-1", &again).ok());
  EXPECT_EQ(again.rules().version(), first.rules().version());
  EXPECT_FALSE(again.unchanged());

  ASSERT_TRUE(Put(rules, "put-2", &same).ok());
  EXPECT_TRUE(same.unchanged());
  EXPECT_EQ(same.rules().version(), first.rules().version());

  v1::AccessRules different = rules;
  different.clear_methods();
  grpc::Status reused = Put(different, "put-1", &other);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Current().version(), first.rules().version());
}

TEST_P(AccessServiceTest, BadRulesAndALockOutAreRefusedAndChangeNothing) {
  const v1::AccessRules good = Tightened();
  struct Case {
    const char* what;
    std::function<void(v1::AccessRules&)> spoil;
    grpc::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"unknown RPC",
       [](v1::AccessRules& r) { r.add_methods()->set_method("collections.v1.Nope/Nothing"); },
       grpc::StatusCode::INVALID_ARGUMENT, "unknown method \"collections.v1.Nope/Nothing\""},
      {"unknown role",
       [](v1::AccessRules& r) {
         v1::MethodRoles* m = r.add_methods();
         m->set_method(kGetPolicy);
         m->add_roles("janitor");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "unknown role \"janitor\""},
      {"unknown certificate role",
       [](v1::AccessRules& r) { r.mutable_certificates(0)->add_roles("root"); },
       grpc::StatusCode::INVALID_ARGUMENT, "unknown role \"root\""},
      {"empty principal", [](v1::AccessRules& r) { r.mutable_certificates(0)->clear_principal(); },
       grpc::StatusCode::INVALID_ARGUMENT, "every certificate needs a principal"},
      {"duplicate certificate",
       [](v1::AccessRules& r) {
         v1::CertificatePrincipal copy = r.certificates(0);
         copy.set_principal("impostor");
         *r.add_certificates() = copy;
       },
       grpc::StatusCode::INVALID_ARGUMENT, "is already matched by certificates"},
      {"duplicate DNS name in another case",
       [](v1::AccessRules& r) {
         v1::CertificatePrincipal* a = r.add_certificates();
         a->set_dns("gw.bank.example");
         a->set_principal("gateway");
         v1::CertificatePrincipal* b = r.add_certificates();
         b->set_dns("GW.bank.example");
         b->set_principal("gateway-2");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "dns gw.bank.example is already matched"},
      {"lock-out",
       [](v1::AccessRules& r) {
         r.add_methods()->set_method("collections.v1.AccessService/PutAccessRules");
       },
       grpc::StatusCode::FAILED_PRECONDITION, "nobody could change them again"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    v1::AccessRules bad = good;
    c.spoil(bad);
    v1::PutAccessRulesResponse out;
    grpc::Status s = Put(bad, std::string("bad-") + c.what, &out);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
  }
  v1::PutAccessRulesResponse out;
  EXPECT_EQ(Put(good, "", &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Put(good, "by-a-manager", &out, "manager").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Current().version(), 1);
  EXPECT_TRUE(GetPolicyAs("manager").ok());
  {
    auto context = ContextAs("ada", "admin");
    v1::GetAccessRulesRequest request;
    request.set_version(7);
    v1::GetAccessRulesResponse got;
    EXPECT_EQ(access_->GetAccessRules(context.get(), request, &got).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

TEST_P(AccessServiceTest, OnPostgresAVersionNobodyAnnouncedIsFoundWithinAFewSeconds) {
  if (GetParam() != "postgres") GTEST_SKIP() << "the periodic look is for replicas";
  // Stored by a store that sends no notification (no replica id): only the
  // server's look every second finds it.
  storage::StoreOptions options;
  options.connection = db_;
  options.writer_connections = 1;
  auto other = storage::Store::Open(options);
  ASSERT_TRUE(other.ok()) << other.status();
  v1::AccessRules rules = Tightened();
  rules.set_created_by("someone else");
  ASSERT_TRUE(
      (*other)
          ->Write([&](storage::UnitOfWork& uow) { return storage::InsertAccessRules(uow, rules); })
          .ok());
  grpc::Status status;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    status = GetPolicyAs("manager");
    if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
}

COLLECTIONS_INSTANTIATE_BACKENDS(AccessServiceTest);

}  // namespace
}  // namespace collections
