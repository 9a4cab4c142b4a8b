// ExperimentService and ReportService.ExperimentReport through real gRPC on
// SQLite and PostgreSQL: new cases in an experiment open under their arm's
// policy version with an `experiment_assigned` event, keep their arm across
// restarts and policy changes; a challenger that loosens contact rules is
// refused; pause, resume, end (the winner's policy becomes current) and
// roll-back (challenger cases moved to the champion, as events); the
// report's figures per arm.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/experiment_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/experiment.h"
#include "workflow/policy.h"

namespace collections {
namespace {

using testing::CNY;
using testing::FeedRecord;
using ::testing::HasSubstr;

class ExperimentServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Connect();
  }

  void Connect() {
    cases_ = v1::CaseService::NewStub(channel_);
    policies_ = v1::PolicyService::NewStub(channel_);
    experiments_ = v1::ExperimentService::NewStub(channel_);
    reports_ = v1::ReportService::NewStub(channel_);
  }

  // Stores `policy` as a new version; returns it.
  int64_t Put(v1::Policy policy) {
    policy.clear_version();
    auto context = Context();
    v1::PutPolicyRequest request;
    *request.mutable_policy() = policy;
    v1::PutPolicyResponse out;
    grpc::Status s = policies_->PutPolicy(context.get(), request, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.policy().version();
  }

  // A challenger: stricter call caps and an earlier move to counselling.
  static v1::Policy Stricter() {
    v1::Policy p = workflow::DefaultPolicy();
    p.set_name("challenger: early counselling");
    p.mutable_contact()->set_max_call_attempts_per_day(2);
    p.mutable_day_bands()->set_mild_max_days(15);
    return p;
  }

  static v1::CreateExperimentRequest Request(int64_t champion, int64_t challenger,
                                             int challenger_bp = 5000) {
    v1::CreateExperimentRequest r;
    r.set_request_id(testing::FreshRequestId());
    v1::Experiment& e = *r.mutable_experiment();
    e.set_name("early counselling");
    v1::ExperimentArm* a = e.add_arms();
    a->set_policy_version(champion);
    a->set_share_bp(10000 - challenger_bp);
    a = e.add_arms();
    a->set_policy_version(challenger);
    a->set_share_bp(challenger_bp);
    return r;
  }

  grpc::Status Create(const v1::CreateExperimentRequest& request, v1::ExperimentAnswer* out) {
    auto context = ContextAs("ops", "admin");
    return experiments_->CreateExperiment(context.get(), request, out);
  }

  v1::Experiment CreateOk(const v1::CreateExperimentRequest& request) {
    v1::ExperimentAnswer out;
    grpc::Status s = Create(request, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.experiment();
  }

  grpc::Status Action(const std::string& what, int64_t id, v1::ExperimentAnswer* out) {
    auto context = ContextAs("ops", "admin");
    v1::ExperimentActionRequest r;
    r.set_experiment_id(id);
    r.set_request_id(testing::FreshRequestId());
    if (what == "pause") return experiments_->PauseExperiment(context.get(), r, out);
    return experiments_->ResumeExperiment(context.get(), r, out);
  }

  void Import(const std::vector<std::string>& loans, int dpd = 10) {
    std::vector<v1::DelinquencyRecord> rows;
    for (const std::string& loan : loans) rows.push_back(FeedRecord(loan, dpd, 2'000 * CNY));
    v1::ImportDelinquenciesResponse response;
    ASSERT_TRUE(testing::ImportRecords(*cases_, rows, &response).ok());
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }

  v1::GetCaseResponse File(const std::string& loan) {
    v1::GetCaseResponse out;
    EXPECT_TRUE(testing::GetCaseFile(*cases_, loan, &out).ok()) << loan;
    return out;
  }

  static std::vector<std::string> Loans(const std::string& prefix, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(absl::StrCat(prefix, i));
    return out;
  }

  // The arm the documented hash gives `loan`.
  static const v1::ExperimentArm& ArmOf(const v1::Experiment& e, const std::string& loan) {
    return e.arms(workflow::ArmForBucket(e, workflow::AssignmentBucket(e.experiment_id(), loan)));
  }

  // Checks that `loan`'s case is in `arm` under its version, and that its
  // file records the assignment.
  void ExpectInArm(const v1::Experiment& e, const std::string& loan, const v1::ExperimentArm& arm) {
    const v1::GetCaseResponse file = File(loan);
    EXPECT_EQ(file.case_().experiment_id(), e.experiment_id()) << loan;
    EXPECT_EQ(file.case_().experiment_arm(), arm.name()) << loan;
    EXPECT_EQ(file.case_().policy_version(), arm.policy_version()) << loan;
    int assignments = 0;
    for (const v1::CaseEvent& event : file.events()) {
      if (event.has_experiment_assigned()) {
        ++assignments;
        EXPECT_EQ(event.actor(), "system:experiment");
        EXPECT_EQ(event.experiment_assigned().bucket(),
                  workflow::AssignmentBucket(e.experiment_id(), loan));
      }
    }
    EXPECT_EQ(assignments, 1) << loan;
  }

  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
  std::unique_ptr<v1::ExperimentService::Stub> experiments_;
  std::unique_ptr<v1::ReportService::Stub> reports_;
};

TEST_P(ExperimentServiceTest, ArmsFollowTheHashAndPersistAcrossRestartAndPolicyChange) {
  const int64_t challenger = Put(Stricter());  // version 2, now current
  const v1::CreateExperimentRequest request = Request(1, challenger);
  const v1::Experiment e = CreateOk(request);
  ASSERT_GT(e.experiment_id(), 0);
  EXPECT_EQ(e.state(), v1::EXPERIMENT_STATE_RUNNING);
  EXPECT_EQ(e.arms(0).name(), "champion");
  EXPECT_EQ(e.arms(1).name(), "challenger-1");
  EXPECT_EQ(e.created_by(), "ops");

  // The same request again: the same answer, nothing new.
  v1::ExperimentAnswer again;
  ASSERT_TRUE(Create(request, &again).ok());
  EXPECT_EQ(again.experiment().experiment_id(), e.experiment_id());
  // Another experiment while this one runs: refused.
  v1::ExperimentAnswer refused;
  grpc::Status s = Create(Request(1, challenger), &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("is running"));

  const std::vector<std::string> first = Loans("EA-", 24);
  Import(first);
  std::map<std::string, int> per_arm;
  for (const std::string& loan : first) {
    ExpectInArm(e, loan, ArmOf(e, loan));
    ++per_arm[ArmOf(e, loan).name()];
  }
  EXPECT_EQ(per_arm.size(), 2u);  // both arms drew cases

  // A restart and a new current policy: assigned cases keep their arm and
  // version; new ones are still assigned by the hash.
  StartServer();
  Connect();
  v1::Policy other = workflow::DefaultPolicy();
  other.set_name("a third version");
  other.mutable_promises()->set_max_days_ahead(10);
  const int64_t third = Put(other);
  EXPECT_GT(third, challenger);
  const std::vector<std::string> second = Loans("EB-", 12);
  Import(second);
  for (const std::string& loan : first) ExpectInArm(e, loan, ArmOf(e, loan));
  for (const std::string& loan : second) ExpectInArm(e, loan, ArmOf(e, loan));
}

TEST_P(ExperimentServiceTest, RefusesBadRequestsAndALooseningChallengerChangingNothing) {
  v1::Policy looser = workflow::DefaultPolicy();
  looser.set_name("more calls");
  looser.mutable_contact()->set_max_call_attempts_per_day(
      workflow::DefaultPolicy().contact().max_call_attempts_per_day() + 2);
  const int64_t loose = Put(looser);
  v1::ExperimentAnswer out;
  grpc::Status s = Create(Request(1, loose), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("loosens contact.max_call_attempts_per_day"));

  v1::CreateExperimentRequest bad = Request(1, loose);
  bad.mutable_experiment()->mutable_arms(1)->set_share_bp(4000);
  s = Create(bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("sum to 9000"));
  bad = Request(1, loose);
  bad.clear_request_id();
  EXPECT_EQ(Create(bad, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Create(Request(1, 77), &out).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    auto context = ContextAs("mia", "manager");
    EXPECT_EQ(experiments_->CreateExperiment(context.get(), Request(1, 1), &out).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }

  // Nothing was stored, and new cases open as before.
  auto context = ContextAs("mia", "manager");
  v1::ListExperimentsResponse list;
  ASSERT_TRUE(experiments_->ListExperiments(context.get(), {}, &list).ok());
  EXPECT_EQ(list.experiments_size(), 0);
  Import({"EC-1"});
  EXPECT_EQ(File("EC-1").case_().experiment_id(), 0);
  EXPECT_EQ(File("EC-1").case_().policy_version(), loose);
  v1::ExperimentAnswer got;
  auto get_context = ContextAs("mia", "manager");
  v1::GetExperimentRequest get;
  get.set_experiment_id(5);
  EXPECT_EQ(experiments_->GetExperiment(get_context.get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_P(ExperimentServiceTest, PauseResumeRollBackAndEnd) {
  const int64_t challenger = Put(Stricter());
  const v1::Experiment e = CreateOk(Request(1, challenger));
  const std::vector<std::string> loans = Loans("ER-", 20);
  Import(loans);

  v1::ExperimentAnswer paused;
  ASSERT_TRUE(Action("pause", e.experiment_id(), &paused).ok());
  EXPECT_EQ(paused.experiment().state(), v1::EXPERIMENT_STATE_PAUSED);
  EXPECT_EQ(Action("pause", e.experiment_id(), &paused).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  Import({"ER-paused"});
  EXPECT_EQ(File("ER-paused").case_().experiment_id(), 0);
  ASSERT_TRUE(Action("resume", e.experiment_id(), &paused).ok());
  EXPECT_EQ(paused.experiment().state(), v1::EXPERIMENT_STATE_RUNNING);

  // Roll-back: every challenger case moves to the champion, as an event.
  int challengers = 0;
  for (const std::string& loan : loans) challengers += ArmOf(e, loan).name() != "champion";
  ASSERT_GT(challengers, 0);
  v1::ExperimentActionRequest back;
  back.set_experiment_id(e.experiment_id());
  back.set_request_id("rollback-1");
  v1::RollBackExperimentResponse rolled;
  {
    auto context = ContextAs("ops", "admin");
    ASSERT_TRUE(experiments_->RollBackExperiment(context.get(), back, &rolled).ok());
  }
  EXPECT_EQ(rolled.moved(), challengers);
  EXPECT_EQ(rolled.failed(), 0);
  EXPECT_EQ(rolled.experiment().state(), v1::EXPERIMENT_STATE_ROLLED_BACK);
  for (const std::string& loan : loans) {
    const v1::GetCaseResponse file = File(loan);
    EXPECT_EQ(file.case_().experiment_arm(), "champion") << loan;
    EXPECT_EQ(file.case_().policy_version(), 1) << loan;
    const v1::CaseEvent& last = file.events(file.events_size() - 1);
    if (ArmOf(e, loan).name() != "champion") {
      ASSERT_TRUE(last.has_experiment_assigned()) << loan;
      EXPECT_EQ(last.actor(), "ops");
      EXPECT_EQ(last.experiment_assigned().from_version(), challenger);
      EXPECT_EQ(last.experiment_assigned().to_version(), 1);
    }
  }
  {
    // A repeat returns the first answer.
    auto context = ContextAs("ops", "admin");
    v1::RollBackExperimentResponse repeat;
    ASSERT_TRUE(experiments_->RollBackExperiment(context.get(), back, &repeat).ok());
    EXPECT_EQ(repeat.moved(), challengers);
  }
  Import({"ER-after"});
  EXPECT_EQ(File("ER-after").case_().experiment_id(), 0);

  // A second experiment, ended with the champion as the winner: its policy
  // (version 1, while the challenger's version 2 is current) becomes the
  // one new cases get, stored again as the newest version.
  const v1::Experiment second = CreateOk(Request(1, challenger));
  v1::EndExperimentRequest end;
  end.set_experiment_id(second.experiment_id());
  end.set_request_id(testing::FreshRequestId());
  end.set_winner("nobody");
  v1::ExperimentAnswer ended;
  {
    auto context = ContextAs("ops", "admin");
    EXPECT_EQ(experiments_->EndExperiment(context.get(), end, &ended).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  end.set_winner("champion");
  {
    auto context = ContextAs("ops", "admin");
    ASSERT_TRUE(experiments_->EndExperiment(context.get(), end, &ended).ok());
  }
  EXPECT_EQ(ended.experiment().state(), v1::EXPERIMENT_STATE_ENDED);
  EXPECT_EQ(ended.experiment().winner(), "champion");
  const int64_t winner_version = ended.experiment().winner_policy_version();
  EXPECT_EQ(winner_version, challenger + 1);
  Import({"ER-won"});
  const v1::GetCaseResponse won = File("ER-won");
  EXPECT_EQ(won.case_().experiment_id(), 0);
  EXPECT_EQ(won.case_().policy_version(), winner_version);
  {
    auto context = Context();
    v1::GetPolicyRequest get;
    v1::GetPolicyResponse current;
    ASSERT_TRUE(policies_->GetPolicy(context.get(), get, &current).ok());
    EXPECT_EQ(current.policy().version(), winner_version);
    EXPECT_EQ(current.policy().name(), workflow::DefaultPolicy().name());
  }
  EXPECT_EQ(Action("resume", second.experiment_id(), &ended).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_P(ExperimentServiceTest, ReportCountsEachArmsCasesCuresAndRecoveries) {
  const int64_t challenger = Put(Stricter());
  const v1::Experiment e = CreateOk(Request(1, challenger));
  const std::vector<std::string> loans = Loans("EP-", 30);
  Import(loans);
  // Every third loan pays in full: cured.
  std::map<std::string, int64_t> cured, recovered;
  for (size_t i = 0; i < loans.size(); i += 3) {
    v1::RecordPaymentResponse paid;
    ASSERT_TRUE(
        testing::RecordPayment(*cases_, loans[i], "P-" + loans[i], 2'000 * CNY, &paid).ok());
    ++cured[ArmOf(e, loans[i]).name()];
    recovered[ArmOf(e, loans[i]).name()] += 2'000 * CNY;
  }
  std::map<std::string, int64_t> count;
  for (const std::string& loan : loans) ++count[ArmOf(e, loan).name()];

  v1::ExperimentReportRequest request;
  request.set_experiment_id(e.experiment_id());
  v1::ExperimentReportAnswer report;
  {
    auto context = ContextAs("mia", "manager");
    grpc::Status s = reports_->ExperimentReport(context.get(), request, &report);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(report.cure_window_days(), 30);
  ASSERT_EQ(report.arms_size(), 2);
  for (const v1::ExperimentArmFigures& arm : report.arms()) {
    EXPECT_EQ(arm.cases(), count[arm.arm()]) << arm.arm();
    EXPECT_EQ(arm.cured(), cured[arm.arm()]) << arm.arm();
    EXPECT_EQ(arm.recovered_fen(), recovered[arm.arm()]) << arm.arm();
    EXPECT_EQ(arm.rolled(), 0);
  }
  ASSERT_EQ(report.comparisons_size(), 6);
  EXPECT_EQ(report.comparisons(0).metric(), "cure_rate");
  EXPECT_EQ(report.comparisons(0).challenger(), "challenger-1");
  for (const v1::ExperimentComparison& c : report.comparisons()) {
    EXPECT_LE(c.ci_low(), c.difference()) << c.metric();
    EXPECT_GE(c.ci_high(), c.difference()) << c.metric();
    EXPECT_THAT(
        std::vector<std::string>({"not yet significant", "challenger better", "challenger worse"}),
        ::testing::Contains(c.verdict()));
  }

  // Bad input: a clear status.
  request.set_cure_window_days(400);
  auto context = ContextAs("mia", "manager");
  EXPECT_EQ(reports_->ExperimentReport(context.get(), request, &report).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

COLLECTIONS_INSTANTIATE_BACKENDS(ExperimentServiceTest);

}  // namespace
}  // namespace collections
