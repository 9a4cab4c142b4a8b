// AuditService through real gRPC on SQLite and PostgreSQL: the audit log
// records policy changes, business-date moves and reads of personal data
// with the authenticated principal and its peer; ListAuditRecords filters
// by principal and case; VerifyAuditChain finds the chain intact; and a
// read's row names the case, never the borrower's name, phone or address.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collections/v1/audit_service.grpc.pb.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"
#include "workflow/policy.h"

namespace collections {
namespace {

using testing::CNY;
using ::testing::HasSubstr;
using testing::kToday;
using ::testing::Not;
using ::testing::StartsWith;

class AuditServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cases_ = v1::CaseService::NewStub(channel_);
    policies_ = v1::PolicyService::NewStub(channel_);
    tasks_ = v1::TaskService::NewStub(channel_);
    audit_ = v1::AuditService::NewStub(channel_);
  }

  int64_t Import(const std::string& loan) {
    v1::ImportDelinquenciesResponse response;
    EXPECT_TRUE(
        testing::ImportRecords(*cases_, {testing::FeedRecord(loan, 10, 4'000 * CNY)}, &response)
            .ok());
    v1::GetCaseResponse file;
    EXPECT_TRUE(testing::GetCaseFile(*cases_, loan, &file).ok());
    return file.case_().case_id();
  }

  std::vector<v1::AuditRecord> List(const v1::ListAuditRecordsRequest& request) {
    auto context = ContextAs("carol", "manager");
    v1::ListAuditRecordsResponse out;
    grpc::Status s = audit_->ListAuditRecords(context.get(), request, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {out.records().begin(), out.records().end()};
  }

  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
};

TEST_P(AuditServiceTest, ChangesAndReadsAreRecordedWithThePrincipalAndPeer) {
  const int64_t case_id = Import("L-AUD");
  ASSERT_GT(case_id, 0);
  {
    auto context = ContextAs("ada", "admin");
    v1::PutPolicyRequest request;
    *request.mutable_policy() = workflow::DefaultPolicy();
    request.mutable_policy()->clear_version();
    request.mutable_policy()->set_name("audited");
    v1::PutPolicyResponse out;
    grpc::Status s = policies_->PutPolicy(context.get(), request, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    auto context = ContextAs("ada", "admin");
    v1::AdvanceBusinessDateRequest request;
    *request.mutable_to() = workflow::DayToProto(kToday + 1);
    v1::AdvanceBusinessDateResponse out;
    grpc::Status s = cases_->AdvanceBusinessDate(context.get(), request, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    auto context = ContextAs("bob", "manager");
    v1::GetCaseRequest request;
    request.set_case_id(case_id);
    v1::GetCaseResponse out;
    grpc::Status s = cases_->GetCase(context.get(), request, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(out.case_().borrower().name(), "Li Lei");  // what the row must not hold
  }

  v1::ListAuditRecordsRequest by_ada;
  by_ada.set_principal("ada");
  std::vector<v1::AuditRecord> ada = List(by_ada);
  ASSERT_EQ(ada.size(), 2u);
  EXPECT_EQ(ada[0].action(), "PutPolicy");
  EXPECT_EQ(ada[0].detail(), "policy version 2 (was 1)");
  EXPECT_EQ(ada[1].action(), "AdvanceBusinessDate");
  EXPECT_EQ(ada[1].detail(), absl::StrCat("business date ", workflow::FormatDay(kToday), " -> ",
                                          workflow::FormatDay(kToday + 1)));
  for (const v1::AuditRecord& r : ada) {
    EXPECT_EQ(r.principal(), "ada");
    EXPECT_THAT(r.peer(), HasSubstr("127.0.0.1")) << r.DebugString();
    EXPECT_EQ(r.certificate(), "");                              // a token caller
    EXPECT_EQ(testing::TimeOf(r.recorded_at()), clock_->Now());  // the server's clock
    EXPECT_EQ(r.hash().size(), 64u);
  }

  v1::ListAuditRecordsRequest by_case;
  by_case.set_case_id(case_id);
  std::vector<v1::AuditRecord> of_case = List(by_case);
  // The import's own GetCaseFile (as the tester) and bob's read.
  ASSERT_EQ(of_case.size(), 2u);
  const v1::AuditRecord& read = of_case[1];
  EXPECT_EQ(read.principal(), "bob");
  EXPECT_EQ(read.action(), "GetCase");
  EXPECT_EQ(read.case_id(), case_id);
  EXPECT_THAT(read.peer(), HasSubstr("127.0.0.1"));
  for (const v1::AuditRecord& r : of_case) EXPECT_EQ(r.case_id(), case_id);

  // Both filters at once.
  v1::ListAuditRecordsRequest bob_on_case = by_case;
  bob_on_case.set_principal("bob");
  ASSERT_EQ(List(bob_on_case).size(), 1u);

  auto context = ContextAs("carol", "manager");
  v1::VerifyAuditChainResponse verified;
  grpc::Status s = audit_->VerifyAuditChain(context.get(), {}, &verified);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(verified.intact()) << verified.reason();
  EXPECT_GE(verified.rows_checked(), 5);
}

TEST_P(AuditServiceTest, AReadsDetailHoldsNoNamePhoneOrAddress) {
  const int64_t case_id = Import("L-PII");
  for (bool by_loan : {false, true}) {
    auto context = ContextAs("bob", "manager");
    v1::GetCaseRequest request;
    if (by_loan) {
      request.set_loan_id("L-PII");
    } else {
      request.set_case_id(case_id);
    }
    v1::GetCaseResponse out;
    ASSERT_TRUE(cases_->GetCase(context.get(), request, &out).ok());
  }
  v1::ListAuditRecordsRequest by_bob;
  by_bob.set_principal("bob");
  std::vector<v1::AuditRecord> reads = List(by_bob);
  ASSERT_EQ(reads.size(), 2u);
  for (const v1::AuditRecord& r : reads) {
    EXPECT_EQ(r.case_id(), case_id);
    // What the row says, without the fields that are random or a port
    // (hashes and the peer could hold "139" by chance).
    v1::AuditRecord said = r;
    said.clear_hash();
    said.clear_previous_hash();
    said.clear_peer();
    said.clear_recorded_at();
    const std::string row = said.DebugString();
    EXPECT_THAT(row, Not(HasSubstr("Li Lei")));
    EXPECT_THAT(row, Not(HasSubstr("139")));
    EXPECT_THAT(row, Not(HasSubstr("0000 0000")));
    EXPECT_THAT(row, Not(HasSubstr("Nanjing")));
    EXPECT_THAT(row, Not(HasSubstr("L-PII")));  // the loan id neither
  }
}

TEST_P(AuditServiceTest, ClaimedTasksAreRecordedPerBatchWithTheirCases) {
  const int64_t case_id = Import("L-CLM");
  auto context = ContextAs("amy", "agent");
  v1::ClaimTasksRequest request;
  request.set_worker_id("amy");
  request.add_queues("sms");
  request.set_max_tasks(10);
  v1::ClaimTasksResponse out;
  grpc::Status s = tasks_->ClaimTasks(context.get(), request, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GE(out.tasks_size(), 1);
  v1::ListAuditRecordsRequest by_amy;
  by_amy.set_principal("amy");
  std::vector<v1::AuditRecord> claims = List(by_amy);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].action(), "ClaimTasks");
  EXPECT_EQ(claims[0].case_id(), case_id);
  EXPECT_THAT(claims[0].detail(), StartsWith(absl::StrCat("task ", out.tasks(0).task_id())));
  EXPECT_THAT(claims[0].detail(), HasSubstr(absl::StrCat("of case ", case_id)));
}

TEST_P(AuditServiceTest, OnlyManagersAndAdminsReadTheLogAndBadFiltersAreRefused) {
  {
    auto context = ContextAs("amy", "agent");
    v1::ListAuditRecordsResponse out;
    grpc::Status s = audit_->ListAuditRecords(context.get(), {}, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  {
    auto context = ContextAs("ada", "admin");
    v1::VerifyAuditChainResponse out;
    EXPECT_TRUE(audit_->VerifyAuditChain(context.get(), {}, &out).ok());
  }
  for (int i = 0; i < 4; ++i) {
    v1::ListAuditRecordsRequest bad;
    switch (i) {
      case 0:
        bad.set_page_token("x");
        break;
      case 1:
        bad.set_case_id(-1);
        break;
      case 2:
        bad.set_page_size(1001);
        break;
      case 3:
        bad.mutable_from()->set_seconds(100);
        bad.mutable_to()->set_seconds(50);
        break;
    }
    auto context = ContextAs("carol", "manager");
    v1::ListAuditRecordsResponse out;
    grpc::Status s = audit_->ListAuditRecords(context.get(), bad, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.DebugString();
  }
}

TEST_P(AuditServiceTest, ListPagesThroughTheLog) {
  for (int i = 0; i < 3; ++i) Import(absl::StrCat("L-P", i));  // 3 GetCase rows
  v1::ListAuditRecordsRequest request;
  request.set_page_size(2);
  std::vector<int64_t> ids;
  for (int page = 0; page < 10; ++page) {
    auto context = ContextAs("carol", "manager");
    v1::ListAuditRecordsResponse out;
    ASSERT_TRUE(audit_->ListAuditRecords(context.get(), request, &out).ok());
    for (const v1::AuditRecord& r : out.records()) ids.push_back(r.id());
    if (out.next_page_token().empty()) break;
    request.set_page_token(out.next_page_token());
  }
  // The start-up policy, the start-up access rules and the three reads, in
  // order without gaps.
  ASSERT_EQ(ids.size(), 5u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], static_cast<int64_t>(i) + 1);
}

COLLECTIONS_INSTANTIATE_BACKENDS(AuditServiceTest);

}  // namespace
}  // namespace collections
