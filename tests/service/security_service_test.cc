// Who may call what, through real gRPC on SQLite and PostgreSQL: every RPC
// of the services called as every role and as nobody; the tokens and
// certificates the server must refuse; and the checks that depend on the
// data (a firm's own handoffs, a lease's own holder, maker-checker by
// principal). Then the listener rules: plaintext only on loopback.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "collections/v1/plan_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "security/access_table.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"

namespace collections {
namespace {

using ::testing::HasSubstr;
using testing::kToday;

// Calls `method` ("/pkg.Service/Method") with one empty request message,
// whatever its kind (unary or streaming), and returns its status. The
// empty request is never valid, so an allowed caller hears why the request
// is bad (or an answer), and a refused one hears that it is refused.
grpc::Status CallEmpty(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                       grpc::ClientContext& context) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&context, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t want) {
    if (!cq.Next(&tag, &ok)) return false;
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  grpc::ByteBuffer empty;
  {
    grpc::Slice nothing("", 0);
    empty = grpc::ByteBuffer(&nothing, 1);
  }
  call->Write(empty, reinterpret_cast<void*>(2));
  step(2);
  call->WritesDone(reinterpret_cast<void*>(3));
  step(3);
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// Every RPC of the services, as "/collections.v1.Service/Method".
std::vector<std::string> EveryRpc() {
  std::vector<std::string> out;
  for (const std::string& method : security::AccessTable::Defaults().Methods()) {
    out.push_back("/" + method);
  }
  return out;
}

class SecurityServiceTest : public testing::ServerFixture {};

TEST_P(SecurityServiceTest, EveryRpcAsEveryRoleIsAllowedOrDeniedByTheTable) {
  const security::AccessTable table = security::AccessTable::Defaults();
  ASSERT_EQ(EveryRpc().size(), 45u);
  for (const std::string& method : EveryRpc()) {
    for (const char* role : security::kRoles) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      // A legal caller speaks for a firm; the others for none.
      testing::SetCaller(context, absl::StrCat(role, "-1"), role,
                         std::string(role) == "legal" ? "firm-shanghai" : "");
      const grpc::Status status = CallEmpty(channel_, method, context);
      const bool allowed = table.RolesOf(method).count(role) > 0;
      SCOPED_TRACE(absl::StrCat(method, " as ", role, ": ", status.error_code(), " ",
                                status.error_message()));
      EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
      if (allowed) {
        EXPECT_FALSE(absl::StrContains(status.error_message(), "needs the role"));
      } else {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
        EXPECT_THAT(status.error_message(), HasSubstr("needs the role"));
        EXPECT_THAT(status.error_message(), HasSubstr(absl::StrCat(role, "-1 (", role, ")")));
      }
    }
    // Nobody: no token, no certificate.
    auto anonymous = testing::AnonymousContext(absl::Seconds(20));
    const grpc::Status status = CallEmpty(channel_, method, *anonymous);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_THAT(status.error_message(), HasSubstr("no credentials")) << method;
  }
}

TEST_P(SecurityServiceTest, TokensAndCertificatesTheServerMustRefuse) {
  struct Row {
    const char* token;  // tokens/NAME under the credentials
    const char* reason;
  };
  for (const Row& row : std::vector<Row>{
           {"expired.jwt", "the token has expired"},
           {"wrong-audience.jwt", "the token is for another audience"},
           {"wrong-issuer.jwt", "the token is from another issuer"},
           {"forged.jwt", "the token's signature does not verify"},
       }) {
    std::string token = testing::Credential(std::string("tokens/") + row.token);
    while (!token.empty() && token.back() == '\n') token.pop_back();
    auto context = testing::AnonymousContext();
    context->AddMetadata("authorization", "Bearer " + token);
    const grpc::Status status =
        CallEmpty(channel_, "/collections.v1.PolicyService/PutPolicy", *context);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << row.token;
    EXPECT_EQ(status.error_message(), row.reason) << row.token;
    // The refusal names no secret.
    EXPECT_FALSE(absl::StrContains(status.error_message(), token.substr(0, 20)));
  }
  {
    auto context = testing::AnonymousContext();
    context->AddMetadata("authorization", "Basic YWRhOmFkYQ==");
    EXPECT_EQ(CallEmpty(channel_, "/collections.v1.PolicyService/PutPolicy", *context).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }

  // A system's certificate from the test CA is the system it is mapped to.
  {
    auto ingest = testing::TestChannel(server_->address(), "ingest");
    auto context = testing::AnonymousContext();
    const grpc::Status status =
        CallEmpty(ingest, "/collections.v1.CaseService/AdvanceBusinessDate", *context);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(), HasSubstr("core-banking (ingest)"));
  }
  // One from another CA does not even complete the handshake.
  {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = testing::Credential("ca.pem");
    options.pem_cert_chain = testing::Credential("stranger.pem");
    options.pem_private_key = testing::Credential("stranger.key");
    auto stranger = grpc::CreateCustomChannel(server_->address(), grpc::SslCredentials(options),
                                              testing::TestChannelArguments());
    auto context = testing::AnonymousContext(absl::Seconds(5));
    const grpc::Status status =
        CallEmpty(stranger, "/collections.v1.CaseService/GetCase", *context);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
}

// The probes an anonymous or self-asserted caller once got through with.
TEST_P(SecurityServiceTest, TheProbesOfAnUnauthenticatedNetworkChangeNothing) {
  auto policies = v1::PolicyService::NewStub(channel_);
  auto cases = v1::CaseService::NewStub(channel_);
  auto tasks = v1::TaskService::NewStub(channel_);
  v1::ListPolicyVersionsResponse before;
  ASSERT_TRUE(policies->ListPolicyVersions(Context().get(), {}, &before).ok());

  // PutPolicy with no credentials, and with the old self-asserted metadata.
  v1::PutPolicyRequest put;
  *put.mutable_policy() = server_->policy();
  put.mutable_policy()->set_version(0);
  put.mutable_policy()->set_name("anyone's");
  v1::PutPolicyResponse stored;
  auto anonymous = testing::AnonymousContext();
  anonymous->AddMetadata("collections-actor", "ada");
  anonymous->AddMetadata("collections-role", "admin");
  EXPECT_EQ(policies->PutPolicy(anonymous.get(), put, &stored).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // A year of aging by an agent.
  v1::AdvanceBusinessDateRequest advance;
  *advance.mutable_to() = workflow::DayToProto(kToday + 365);
  v1::AdvanceBusinessDateResponse advanced;
  EXPECT_EQ(
      cases->AdvanceBusinessDate(ContextAs("amy", "agent").get(), advance, &advanced).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // Anonymous claims.
  v1::ClaimTasksRequest claim;
  claim.set_worker_id("w");
  claim.add_queues("sms");
  claim.set_max_tasks(10);
  v1::ClaimTasksResponse claimed;
  EXPECT_EQ(tasks->ClaimTasks(testing::AnonymousContext().get(), claim, &claimed).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  v1::ListPolicyVersionsResponse after;
  ASSERT_TRUE(policies->ListPolicyVersions(Context().get(), {}, &after).ok());
  EXPECT_EQ(after.current(), before.current());
  v1::ReportRequest request;
  v1::PortfolioReport book;
  auto reports = v1::ReportService::NewStub(channel_);
  ASSERT_TRUE(reports->Portfolio(Context().get(), request, &book).ok());
  EXPECT_EQ(workflow::DayFromProto(book.as_of(), "as_of").value(), kToday);
}

TEST_P(SecurityServiceTest, AnAgentCannotFinishAnotherAgentsTask) {
  auto cases = v1::CaseService::NewStub(channel_);
  auto tasks = v1::TaskService::NewStub(channel_);
  v1::ImportDelinquenciesResponse imported;
  ASSERT_TRUE(testing::ImportRecords(
                  *cases, {testing::FeedRecord("SEC-1", 10, 3'000 * testing::CNY)}, &imported)
                  .ok());
  v1::GetCaseResponse file;
  ASSERT_TRUE(testing::GetCaseFile(*cases, "SEC-1", &file).ok());
  const v1::Task amys = testing::ClaimTaskOfCase(*tasks, "amy", "sms", file.case_().case_id());
  ASSERT_EQ(amys.lease_owner(), "amy");

  // Bob has the task id, the lease token and even its key, and an agent's
  // token of his own.
  v1::CompleteTaskRequest complete;
  complete.set_task_id(amys.task_id());
  complete.set_lease_token(amys.lease_token());
  complete.set_lease_key(amys.lease_key());
  complete.set_request_id("bob-1");
  complete.mutable_outcome()->mutable_sms()->set_delivered(true);
  v1::CompleteTaskResponse done;
  grpc::Status s = tasks->CompleteTask(ContextAs("bob", "agent").get(), complete, &done);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("leased to amy"));
  v1::ReleaseTaskRequest release;
  release.set_task_id(amys.task_id());
  release.set_lease_token(amys.lease_token());
  release.set_lease_key(amys.lease_key());
  v1::ReleaseTaskResponse released;
  EXPECT_EQ(tasks->ReleaseTask(ContextAs("bob", "agent").get(), release, &released).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Amy completes it.
  s = tasks->CompleteTask(ContextAs("amy", "agent").get(), complete, &done);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_P(SecurityServiceTest, AProposerCannotApproveTheirOwnPlanUnderAnotherName) {
  auto cases = v1::CaseService::NewStub(channel_);
  auto plans = v1::PlanService::NewStub(channel_);
  v1::ImportDelinquenciesResponse imported;
  ASSERT_TRUE(testing::ImportRecords(
                  *cases, {testing::FeedRecord("SEC-P", 45, 6'000 * testing::CNY)}, &imported)
                  .ok());
  v1::GetCaseResponse file;
  ASSERT_TRUE(testing::GetCaseFile(*cases, "SEC-P", &file).ok());
  v1::ProposePlanRequest propose;
  propose.set_case_id(file.case_().case_id());
  propose.set_kind(v1::PLAN_KIND_CATCH_UP);
  propose.set_periods(3);
  propose.set_request_id("p-1");
  *propose.mutable_first_due_date() = workflow::DayToProto(kToday + 10);
  v1::ProposePlanResponse proposed;
  grpc::Status s = plans->ProposePlan(ContextAs("amy", "agent").get(), propose, &proposed);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // Amy's own token, with the names and role she once could claim.
  auto context = ContextAs("amy", "agent");
  context->AddMetadata("collections-actor", "amy2");
  context->AddMetadata("collections-role", "supervisor");
  v1::ApprovePlanRequest approve;
  approve.set_plan_id(proposed.plan().plan_id());
  v1::ApprovePlanResponse approved;
  s = plans->ApprovePlan(context.get(), approve, &approved);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), HasSubstr("amy"));
  v1::GetPlanRequest get;
  get.set_plan_id(proposed.plan().plan_id());
  v1::GetPlanResponse plan;
  ASSERT_TRUE(plans->GetPlan(Context().get(), get, &plan).ok());
  EXPECT_EQ(plan.plan().state(), v1::PLAN_STATE_PROPOSED);
  // Another person may.
  s = plans->ApprovePlan(ContextAs("sue", "supervisor").get(), approve, &approved);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_P(SecurityServiceTest, AFirmCannotReachAnotherFirmsHandoffs) {
  auto legal = v1::LegalService::NewStub(channel_);
  // By stream, naming the other firm.
  {
    auto context = testing::FirmContext("firm-national");
    v1::StreamHandoffsRequest request;
    request.set_firm_id("firm-shanghai");
    auto reader = legal->StreamHandoffs(context.get(), request);
    v1::Handoff h;
    EXPECT_FALSE(reader->Read(&h));
    const grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(s.error_message(), HasSubstr("speaks for firm firm-national"));
  }
  // By acknowledging or reporting under the other firm's id.
  v1::AcknowledgeHandoffRequest ack;
  ack.set_firm_id("firm-shanghai");
  ack.set_sequence(1);
  ack.set_accepted(true);
  v1::AcknowledgeHandoffResponse acked;
  EXPECT_EQ(legal->AcknowledgeHandoff(testing::FirmContext("firm-national").get(), ack, &acked)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ReportLegalMilestoneRequest milestone;
  milestone.set_case_id(1);
  milestone.mutable_milestone()->set_firm_id("firm-shanghai");
  milestone.mutable_milestone()->set_kind(v1::LEGAL_MILESTONE_KIND_REFUSED);
  v1::ReportLegalMilestoneResponse reported;
  EXPECT_EQ(
      legal->ReportLegalMilestone(testing::FirmContext("firm-national").get(), milestone, &reported)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // A legal token without a firm reaches nobody's.
  {
    auto context = ContextAs("clerk", "legal");
    v1::StreamHandoffsRequest request;
    request.set_firm_id("firm-shanghai");
    auto reader = legal->StreamHandoffs(context.get(), request);
    v1::Handoff h;
    EXPECT_FALSE(reader->Read(&h));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // The firm's own certificate speaks for that firm (mutual TLS).
  {
    auto firm_channel = testing::TestChannel(server_->address(), "firm-national");
    auto by_certificate = v1::LegalService::NewStub(firm_channel);
    auto context = testing::AnonymousContext(absl::Seconds(2));
    v1::StreamHandoffsRequest request;
    request.set_firm_id("firm-shanghai");
    auto reader = by_certificate->StreamHandoffs(context.get(), request);
    v1::Handoff h;
    EXPECT_FALSE(reader->Read(&h));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
}

COLLECTIONS_INSTANTIATE_BACKENDS(SecurityServiceTest);

// --- The listener -----------------------------------------------------------

class ListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-listener");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
  }
  server::ServerConfig Plain(const std::string& listen) const {
    server::ServerConfig config;
    config.listen = listen;
    config.db = absl::StrCat("sqlite3://db=", dir_->path(), "/c.db timeout=5");
    config.access_config = testing::CredentialsDir() + "/access.textproto";
    config.daily_aging_minute = -1;
    config.shutdown_grace = absl::Seconds(1);
    return config;
  }
  std::unique_ptr<testing::TempDir> dir_;
};

// Development: plaintext on loopback, where gRPC's local credentials let a
// token travel; identity is still required.
TEST_F(ListenerTest, LoopbackPlaintextStillNeedsATokenForEveryCall) {
  auto started = server::Server::Start(Plain("127.0.0.1:0"));
  ASSERT_TRUE(started.ok()) << started.status();
  auto channel =
      grpc::CreateChannel((*started)->address(), grpc::experimental::LocalCredentials(LOCAL_TCP));
  auto reports = v1::ReportService::NewStub(channel);
  v1::PortfolioReport book;
  EXPECT_TRUE(reports->Portfolio(testing::CallerContext("max", "manager").get(), {}, &book).ok());
  EXPECT_EQ(reports->Portfolio(testing::AnonymousContext().get(), {}, &book).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      reports->Portfolio(testing::CallerContext("amy", "agent").get(), {}, &book).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // A plain insecure client reaches it too (the wire is the same); its
  // token goes as ordinary metadata.
  auto insecure = grpc::CreateChannel((*started)->address(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(v1::ReportService::NewStub(insecure)
                  ->Portfolio(testing::CallerContext("max", "manager").get(), {}, &book)
                  .ok());
}

TEST_F(ListenerTest, PlaintextOnAnOpenAddressOnlyWhenTheOperatorInsists) {
  auto refused = server::Server::Start(Plain("0.0.0.0:0"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--insecure_listen"));

  server::ServerConfig config = Plain("0.0.0.0:0");
  config.insecure_listen = true;
  auto started = server::Server::Start(config);
  ASSERT_TRUE(started.ok()) << started.status();
  // No processor on gRPC's insecure credentials: the handlers' own check
  // still refuses a caller without credentials.
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*started)->port()),
                                     grpc::InsecureChannelCredentials());
  v1::PortfolioReport book;
  EXPECT_EQ(v1::ReportService::NewStub(channel)
                ->Portfolio(testing::AnonymousContext().get(), {}, &book)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(v1::ReportService::NewStub(channel)
                  ->Portfolio(testing::CallerContext("max", "manager").get(), {}, &book)
                  .ok());
}

// Where gRPC runs no processor (plaintext on an open address), each
// handler's own admission is all there is: every RPC refuses nobody and a
// role the table does not list.
TEST_F(ListenerTest, EveryHandlerAdmitsItsCallerItself) {
  server::ServerConfig config = Plain("0.0.0.0:0");
  config.insecure_listen = true;
  auto started = server::Server::Start(config);
  ASSERT_TRUE(started.ok()) << started.status();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*started)->port()),
                                     grpc::InsecureChannelCredentials());
  const security::AccessTable table = security::AccessTable::Defaults();
  for (const std::string& method : EveryRpc()) {
    auto anonymous = testing::AnonymousContext(absl::Seconds(20));
    EXPECT_EQ(CallEmpty(channel, method, *anonymous).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << method;
    for (const char* role : security::kRoles) {
      if (table.RolesOf(method).count(role) > 0) continue;
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      testing::SetCaller(context, "someone", role);
      const grpc::Status status = CallEmpty(channel, method, context);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << method << " as " << role << ": " << status.error_message();
    }
  }
}

TEST_F(ListenerTest, NoAccessConfigurationNoServer) {
  server::ServerConfig config = Plain("127.0.0.1:0");
  config.access_config.clear();
  auto refused = server::Server::Start(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--access_config"));
}

}  // namespace
}  // namespace collections
