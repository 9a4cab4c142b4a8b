// PolicyService through real gRPC on SQLite and PostgreSQL: reading the
// current and older versions, storing a validated new version that new cases
// get while running cases keep theirs, listing versions with their open
// cases, and migrating cases (each move an event; repeats skip what moved).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"
#include "workflow/policy.h"

namespace collections {
namespace {

using testing::CNY;
using ::testing::HasSubstr;
using testing::kToday;
using workflow::DayToProto;

v1::DelinquencyRecord Row(const std::string& loan, int dpd, int64_t overdue) {
  v1::DelinquencyRecord r;
  r.set_loan_id(loan);
  *r.mutable_as_of() = DayToProto(kToday);
  *r.mutable_oldest_unpaid_due_date() = DayToProto(kToday - dpd);
  r.mutable_borrower()->set_borrower_id("B-" + loan);
  r.mutable_borrower()->set_name("Wang Fang");
  r.set_product("mortgage-30y");
  r.set_principal_outstanding_fen(500'000 * CNY);
  r.mutable_overdue()->set_principal_fen(overdue);
  return r;
}

class PolicyServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cases_ = v1::CaseService::NewStub(channel_);
    policies_ = v1::PolicyService::NewStub(channel_);
  }

  void Import(const v1::DelinquencyRecord& row) {
    v1::ImportDelinquenciesResponse response;
    ASSERT_TRUE(testing::ImportRecords(*cases_, {row}, &response).ok());
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }

  v1::GetCaseResponse File(const std::string& loan) {
    v1::GetCaseResponse out;
    EXPECT_TRUE(testing::GetCaseFile(*cases_, loan, &out).ok()) << loan;
    return out;
  }

  grpc::Status Put(const v1::Policy& policy, v1::PutPolicyResponse* out) {
    auto context = Context();
    v1::PutPolicyRequest request;
    *request.mutable_policy() = policy;
    return policies_->PutPolicy(context.get(), request, out);
  }

  grpc::Status Get(int64_t version, v1::GetPolicyResponse* out) {
    auto context = Context();
    v1::GetPolicyRequest request;
    request.set_version(version);
    return policies_->GetPolicy(context.get(), request, out);
  }

  grpc::Status Migrate(const v1::MigrateCasesRequest& request, v1::MigrateCasesResponse* out) {
    auto context = ContextAs("ops", "admin");
    return policies_->MigrateCases(context.get(), request, out);
  }

  // The default policy with 3,000 CNY (not 5,000) as the moderate amount.
  static v1::Policy Tighter() {
    v1::Policy p = workflow::DefaultPolicy();
    p.clear_version();
    p.set_name("tighter amounts");
    p.mutable_amount_bands()->set_moderate_from_fen(3'000 * CNY);
    return p;
  }

  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
};

TEST_P(PolicyServiceTest, GetAndPutValidateAndVersion) {
  v1::GetPolicyResponse current;
  ASSERT_TRUE(Get(0, &current).ok());
  EXPECT_EQ(current.policy().version(), 1);
  EXPECT_EQ(current.policy().name(), workflow::DefaultPolicy().name());

  v1::PutPolicyResponse put;
  v1::Policy versioned = Tighter();
  versioned.set_version(5);
  grpc::Status s = Put(versioned, &put);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("policy.version must be 0"));

  v1::Policy invalid = Tighter();
  invalid.mutable_day_bands()->set_moderate_max_days(10);  // below mild_max_days
  s = Put(invalid, &put);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("policy: "));

  // The current policy again: nothing is stored.
  v1::Policy same = current.policy();
  same.clear_version();
  ASSERT_TRUE(Put(same, &put).ok());
  EXPECT_TRUE(put.unchanged());
  EXPECT_EQ(put.policy().version(), 1);

  ASSERT_TRUE(Put(Tighter(), &put).ok());
  EXPECT_FALSE(put.unchanged());
  EXPECT_EQ(put.policy().version(), 2);
  ASSERT_TRUE(Get(0, &current).ok());
  EXPECT_EQ(current.policy().version(), 2);
  EXPECT_EQ(current.policy().name(), "tighter amounts");
  ASSERT_TRUE(Get(1, &current).ok());
  EXPECT_EQ(current.policy().name(), workflow::DefaultPolicy().name());
  EXPECT_EQ(Get(9, &current).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get(-1, &current).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_P(PolicyServiceTest, RunningCasesKeepTheirVersionUntilMigrated) {
  Import(Row("M", 10, 4'000 * CNY));  // mild under version 1
  Import(Row("R", 10, 1'000 * CNY));
  {
    auto context = Context();
    v1::RecordPaymentRequest pay;
    pay.set_loan_id("R");
    pay.mutable_payment()->set_payment_id("R-1");
    pay.mutable_payment()->set_amount_fen(1'000 * CNY);
    v1::RecordPaymentResponse paid;
    ASSERT_TRUE(cases_->RecordPayment(context.get(), pay, &paid).ok());
    ASSERT_EQ(paid.case_().stage(), v1::STAGE_RESOLVED);
  }

  v1::PutPolicyResponse put;
  ASSERT_TRUE(Put(Tighter(), &put).ok());
  Import(Row("N", 10, 4'000 * CNY));  // the same figures, under version 2
  EXPECT_EQ(File("M").case_().policy_version(), 1);
  EXPECT_EQ(File("M").case_().classification().case_class(), v1::CASE_CLASS_MILD);
  EXPECT_EQ(File("N").case_().policy_version(), 2);
  EXPECT_EQ(File("N").case_().classification().case_class(), v1::CASE_CLASS_MODERATE);

  {
    auto context = Context();
    v1::ListPolicyVersionsResponse list;
    ASSERT_TRUE(policies_->ListPolicyVersions(context.get(), {}, &list).ok());
    ASSERT_EQ(list.versions_size(), 2);
    EXPECT_EQ(list.current(), 2);
    EXPECT_EQ(list.versions(0).version(), 1);
    EXPECT_EQ(list.versions(0).open_cases(), 1);  // M; R is resolved
    EXPECT_EQ(list.versions(1).name(), "tighter amounts");
    EXPECT_EQ(list.versions(1).open_cases(), 1);  // N
    EXPECT_GT(list.versions(1).created_at().seconds(), 0);
  }

  // Every open case of version 1 moves; the move is an event and the case
  // is classified again under version 2.
  v1::MigrateCasesRequest all;
  all.set_from_version(1);
  all.set_to_version(2);
  v1::MigrateCasesResponse moved;
  grpc::Status s = Migrate(all, &moved);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(moved.migrated(), 1);
  EXPECT_EQ(moved.failed(), 0);
  EXPECT_EQ(moved.to_version(), 2);
  v1::GetCaseResponse m = File("M");
  EXPECT_EQ(m.case_().policy_version(), 2);
  EXPECT_EQ(m.case_().classification().case_class(), v1::CASE_CLASS_MODERATE);
  EXPECT_EQ(m.case_().stage(), v1::STAGE_COUNSELLING);
  const v1::CaseEvent& last = m.events(m.events_size() - 1);
  ASSERT_TRUE(last.has_policy_migrated());
  EXPECT_EQ(last.policy_migrated().from_version(), 1);
  EXPECT_EQ(last.policy_migrated().to_version(), 2);
  EXPECT_EQ(last.actor(), "ops");

  // Again, by id: M is skipped, R (resolved) and an unknown id fail alone.
  v1::MigrateCasesRequest ids;
  ids.add_case_ids(m.case_().case_id());
  ids.add_case_ids(File("R").case_().case_id());
  ids.add_case_ids(999'999);
  ASSERT_TRUE(Migrate(ids, &moved).ok());
  EXPECT_EQ(moved.migrated(), 0);
  EXPECT_EQ(moved.skipped(), 1);
  EXPECT_EQ(moved.failed(), 2);
  ASSERT_EQ(moved.errors_size(), 2);
  EXPECT_THAT(moved.errors(0).message(), HasSubstr("only open cases"));
  EXPECT_THAT(moved.errors(1).message(), HasSubstr("not found"));
  EXPECT_EQ(moved.to_version(), 2);  // 0 meant the current version

  // Not newer, unknown, both selections at once.
  v1::MigrateCasesRequest back;
  back.set_from_version(2);
  back.set_to_version(1);
  EXPECT_EQ(Migrate(back, &moved).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::MigrateCasesRequest unknown;
  unknown.set_from_version(1);
  unknown.set_to_version(7);
  EXPECT_EQ(Migrate(unknown, &moved).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::MigrateCasesRequest both = ids;
  both.set_from_version(1);
  EXPECT_EQ(Migrate(both, &moved).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Every malformed request is answered INVALID_ARGUMENT, saying what is
// wrong, and changes nothing: no version stored, no case moved.
TEST_P(PolicyServiceTest, MalformedRequestsAreRefusedAndChangeNothing) {
  Import(Row("M", 12, 4'000 * CNY));
  v1::PutPolicyResponse put;
  ASSERT_TRUE(Put(Tighter(), &put).ok());
  ASSERT_EQ(put.policy().version(), 2);
  const int64_t m = File("M").case_().case_id();

  {
    auto context = Context();
    v1::PutPolicyResponse out;
    grpc::Status s = policies_->PutPolicy(context.get(), {}, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("policy is required"));
  }

  struct Case {
    const char* what;
    v1::MigrateCasesRequest request;
    const char* message;
  };
  std::vector<Case> cases;
  {
    Case c{"negative to_version", {}, "must not be negative"};
    c.request.set_to_version(-1);
    c.request.set_from_version(1);
    cases.push_back(c);
  }
  {
    Case c{"negative from_version", {}, "must not be negative"};
    c.request.set_from_version(-1);
    cases.push_back(c);
  }
  cases.push_back({"neither selection", {}, "either case_ids or from_version"});
  {
    Case c{"both selections", {}, "either case_ids or from_version"};
    c.request.add_case_ids(m);
    c.request.set_from_version(1);
    cases.push_back(c);
  }
  {
    Case c{"too many ids", {}, "at most 10000 per call"};
    for (int i = 0; i < 10'001; ++i) c.request.add_case_ids(m);
    cases.push_back(c);
  }
  {
    Case c{"a non-positive id", {}, "case_ids must be positive"};
    c.request.add_case_ids(m);
    c.request.add_case_ids(0);
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    v1::MigrateCasesResponse out;
    grpc::Status s = Migrate(c.request, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.what;
  }

  v1::GetPolicyResponse current;
  ASSERT_TRUE(Get(0, &current).ok());
  EXPECT_EQ(current.policy().version(), 2);
  EXPECT_EQ(File("M").case_().policy_version(), 1);
  EXPECT_EQ(File("M").case_().version(), 1);
}

COLLECTIONS_INSTANTIATE_BACKENDS(PolicyServiceTest);

}  // namespace
}  // namespace collections
