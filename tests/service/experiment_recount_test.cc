// ReportService.ExperimentReport against a brute-force recount, on SQLite
// and PostgreSQL: a randomized experiment book (three arms) driven through
// the real write path for 30 business days (imports, payments in part and
// in full, tasks worked with their costs, disputes, aging, legal handoffs).
// The recount is the report's query as it was before migration 14: per
// assigned case, its cure, recoveries, completed tasks' costs, handoff and
// dispute looked up in the sources (report_events, tasks, handoffs,
// case_events) and its roll from the cases row. The report, which sums the
// figures the writer keeps in case_arms, must say the same for every cure
// window; and again after migration 14 is undone and run anew on the
// finished book (the figures back-filled from the sources).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collections/v1/experiment_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "soci/soci.h"
#include "storage/report_sql.h"
#include "storage/sql.h"
#include "tests/service/report_service_fixture.h"
#include "workflow/dates.h"
#include "workflow/experiment.h"
#include "workflow/policy.h"

namespace collections::report_test {
namespace {

constexpr int kCasesBefore = 40;  // opened before the experiment: in no arm
constexpr int kCases = 400;
constexpr int kDays = 30;

// One arm's figures as the recount finds them, with its per-case amounts.
struct Recount {
  int64_t cases = 0, cured = 0, rolled = 0, recovered = 0, cost = 0, handoffs = 0, disputes = 0;
  workflow::Moments recovered_moments, cost_moments;
};

class ExperimentRecountTest : public ReportServiceTest {
 protected:
  void SetUp() override {
    ReportServiceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    storage::RegisterBackends();
    raw_ = std::make_unique<soci::session>(db_);
    Connect();
  }
  void TearDown() override {
    raw_.reset();
    ReportServiceTest::TearDown();
  }

  void Connect() {
    cases_ = v1::CaseService::NewStub(channel_);
    tasks_ = v1::TaskService::NewStub(channel_);
    reports_ = v1::ReportService::NewStub(channel_);
    policies_ = v1::PolicyService::NewStub(channel_);
    experiments_ = v1::ExperimentService::NewStub(channel_);
  }

  int64_t Put(v1::Policy policy) {
    v1::PutPolicyRequest request;
    *request.mutable_policy() = policy;
    v1::PutPolicyResponse out;
    grpc::Status s = policies_->PutPolicy(Context().get(), request, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.policy().version();
  }

  // Champion (version 1) 50 %, two stricter challengers 25 % each.
  void CreateExperiment() {
    v1::Policy early = workflow::DefaultPolicy();
    early.set_name("early counselling");
    early.mutable_day_bands()->set_mild_max_days(15);
    v1::Policy fewer = workflow::DefaultPolicy();
    fewer.set_name("fewer calls");
    fewer.mutable_contact()->set_max_call_attempts_per_day(1);
    const int64_t v2 = Put(early), v3 = Put(fewer);
    v1::CreateExperimentRequest request;
    request.set_request_id(testing::FreshRequestId());
    v1::Experiment& e = *request.mutable_experiment();
    e.set_name("recount");
    const std::pair<int64_t, int> arms[] = {{1, 5000}, {v2, 2500}, {v3, 2500}};
    for (const auto& [version, share] : arms) {
      v1::ExperimentArm* arm = e.add_arms();
      arm->set_policy_version(version);
      arm->set_share_bp(share);
    }
    v1::ExperimentAnswer out;
    grpc::Status s = experiments_->CreateExperiment(ContextAs("ops", "admin").get(), request, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    experiment_id_ = out.experiment().experiment_id();
  }

  v1::DelinquencyRecord RandomRow(int i) {
    const int dpd = std::uniform_int_distribution<int>(1, 220)(rng_);
    const int64_t overdue = std::uniform_int_distribution<int64_t>(500, 40'000)(rng_) * CNY;
    return Row(absl::StrCat("X", i), dpd, overdue);
  }

  // A plausible outcome of a task of `type`: calls and visits reach the
  // borrower half of the time, letters go out, assessments split.
  v1::TaskOutcome RandomOutcome(v1::TaskType type) {
    std::uniform_int_distribution<int> pct(0, 99);
    v1::TaskOutcome o;
    switch (type) {
      case v1::TASK_TYPE_SMS_REMINDER:
        o = Sms();
        break;
      case v1::TASK_TYPE_REMINDER_CALL:
      case v1::TASK_TYPE_COUNSELLING_CALL:
      case v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL:
        if (pct(rng_) < 50) {
          o.mutable_call()->set_result(v1::CALL_RESULT_REACHED);
          o.mutable_call()->set_right_party_contact(true);
          o.mutable_call()->set_overdue_reason(v1::OVERDUE_REASON_UNEMPLOYMENT);
        } else {
          o.mutable_call()->set_result(v1::CALL_RESULT_NO_ANSWER);
        }
        break;
      case v1::TASK_TYPE_HOME_VISIT:
        o.mutable_visit()->set_result(pct(rng_) < 50 ? v1::VISIT_RESULT_MET
                                                     : v1::VISIT_RESULT_NOT_HOME);
        o.mutable_visit()->set_overdue_reason(v1::OVERDUE_REASON_UNEMPLOYMENT);
        break;
      case v1::TASK_TYPE_LEGAL_LETTER:
        o.mutable_letter()->set_sent(true);
        o.mutable_letter()->set_reference("EMS");
        break;
      case v1::TASK_TYPE_HARDSHIP_ASSESSMENT:
        o.mutable_hardship_assessment()->set_genuine(pct(rng_) < 50);
        o.mutable_hardship_assessment()->set_assessment("checked");
        break;
      default:
        o.mutable_review()->set_decision("carry on");
        break;
    }
    return o;
  }

  // Claims up to `n` tasks of `queue` and completes most of them (an
  // outcome a rule refuses is simply not recorded).
  void WorkQueue(const std::string& queue, int n) {
    v1::ClaimTasksRequest request;
    request.set_worker_id("agent-li");
    request.add_queues(queue);
    request.set_max_tasks(n);
    v1::ClaimTasksResponse claimed;
    if (!tasks_->ClaimTasks(ContextAs("agent-li", "agent").get(), request, &claimed).ok()) return;
    for (const v1::Task& t : claimed.tasks()) {
      if (std::uniform_int_distribution<int>(0, 9)(rng_) == 0) continue;  // left leased
      v1::CompleteTaskResponse out;
      (void)testing::CompleteTask(*tasks_, t, RandomOutcome(t.type()), testing::FreshRequestId(),
                                  &out);
    }
  }

  std::string AnyLoan() {
    return absl::StrCat("X", std::uniform_int_distribution<int>(0, next_loan_ - 1)(rng_));
  }

  // A day: work in every queue, payments (a third in full), disputes, a
  // few new cases.
  void RandomDay(int day_index) {
    std::vector<std::string> queues;
    soci::rowset<std::string> rs =
        (raw_->prepare << "SELECT DISTINCT queue FROM tasks WHERE state = 1 ORDER BY queue");
    for (const std::string& q : rs) queues.push_back(q);
    for (const std::string& q : queues) {
      WorkQueue(q, std::uniform_int_distribution<int>(5, 15)(rng_));
    }
    for (int i = 0; i < 15; ++i) {
      const std::string loan = AnyLoan();
      long long overdue = 0;
      *raw_ << "SELECT overdue_total_fen FROM cases WHERE loan_id = :l", soci::use(loan),
          soci::into(overdue);
      if (overdue <= 0) overdue = 1'000 * CNY;
      const int64_t amount = i % 3 == 0 ? overdue : std::max<int64_t>(CNY, overdue / (2 + i % 4));
      v1::RecordPaymentResponse paid;
      (void)testing::RecordPayment(*cases_, loan, absl::StrCat("P", day_index, "-", i), amount,
                                   &paid);
    }
    for (int i = 0; i < 3; ++i) {
      long long case_id = 0;
      const std::string loan = AnyLoan();
      *raw_ << "SELECT case_id FROM cases WHERE loan_id = :l", soci::use(loan), soci::into(case_id);
      v1::Signal dispute;
      dispute.mutable_dispute_opened()->set_reason("amount contested");
      v1::SignalCaseResponse out;
      (void)testing::SignalCase(*cases_, case_id, dispute, &out);
    }
    std::vector<v1::DelinquencyRecord> fresh;
    for (int i = 0; i < 8; ++i) fresh.push_back(RandomRow(next_loan_++));
    ASSERT_NO_FATAL_FAILURE(Import(fresh));
  }

  void BuildBook() {
    std::vector<v1::DelinquencyRecord> rows;
    for (; next_loan_ < kCasesBefore; ++next_loan_) rows.push_back(RandomRow(next_loan_));
    ASSERT_NO_FATAL_FAILURE(Import(rows));
    ASSERT_NO_FATAL_FAILURE(CreateExperiment());
    rows.clear();
    for (; next_loan_ < kCases; ++next_loan_) rows.push_back(RandomRow(next_loan_));
    ASSERT_NO_FATAL_FAILURE(Import(rows));
    for (int i = 0; i < kDays; ++i) {
      if (i > 0) ASSERT_NO_FATAL_FAILURE(AdvanceTo(kDay0 + i));
      ASSERT_NO_FATAL_FAILURE(RandomDay(i));
    }
  }

  // The report's query before migration 14, per case, summed here.
  std::map<int, Recount> RecountArms(int window) {
    const long long d = workflow::DayNumber(date_);
    const std::string query = absl::StrCat(
        "SELECT a.arm,"
        " CASE WHEN EXISTS (SELECT 1 FROM report_events e WHERE e.case_id = a.case_id"
        " AND e.stage_after = 5 AND e.day <= a.assigned_day + ",
        window,
        ") THEN 1 ELSE 0 END,"
        " CASE WHEN c.stage IN (1, 2, 3, 4) AND ",
        storage::BucketSql(d, "c.oldest_due_day"),
        " > a.start_bucket THEN 1 ELSE 0 END,"
        " CAST(COALESCE((SELECT SUM(e.recovered_fen) FROM report_events e WHERE e.case_id = "
        "a.case_id AND e.day >= a.assigned_day), 0) AS BIGINT),"
        " CAST(COALESCE((SELECT SUM(t.cost_fen) FROM tasks t WHERE t.case_id = a.case_id AND "
        "t.state = 3), 0) AS BIGINT),"
        " CASE WHEN EXISTS (SELECT 1 FROM handoffs h WHERE h.case_id = a.case_id)"
        " THEN 1 ELSE 0 END,"
        " CASE WHEN EXISTS (SELECT 1 FROM case_events v WHERE v.case_id = a.case_id"
        " AND v.event_type = 'signal.dispute_opened') THEN 1 ELSE 0 END"
        " FROM case_arms a JOIN cases c ON c.case_id = a.case_id WHERE a.experiment_id = ",
        experiment_id_);
    std::map<int, Recount> out;
    int arm = 0, cured = 0, rolled = 0, handoff = 0, dispute = 0;
    long long recovered = 0, cost = 0;
    soci::statement st =
        (raw_->prepare << query, soci::into(arm), soci::into(cured), soci::into(rolled),
         soci::into(recovered), soci::into(cost), soci::into(handoff), soci::into(dispute));
    st.execute();
    while (st.fetch()) {
      Recount& r = out[arm];
      ++r.cases;
      r.cured += cured;
      r.rolled += rolled;
      r.recovered += recovered;
      r.cost += cost;
      r.handoffs += handoff;
      r.disputes += dispute;
      const std::pair<workflow::Moments*, long long> amounts[] = {{&r.recovered_moments, recovered},
                                                                  {&r.cost_moments, cost}};
      for (const auto& [m, x] : amounts) {
        ++m->n;
        m->sum += static_cast<double>(x);
        m->sum_squares += static_cast<double>(x) * static_cast<double>(x);
      }
    }
    return out;
  }

  v1::ExperimentReportAnswer Report(int window) {
    v1::ExperimentReportRequest request;
    request.set_experiment_id(experiment_id_);
    request.set_cure_window_days(window);
    v1::ExperimentReportAnswer out;
    grpc::Status s = reports_->ExperimentReport(ContextAs("mia", "manager").get(), request, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // The report against the recount for several cure windows; returns the
  // recount's totals over the arms for the 30-day window.
  Recount ExpectReportMatchesRecount(const std::string& when) {
    Recount all;
    for (int window : {1, 7, 30, 365}) {
      SCOPED_TRACE(absl::StrCat(when, ", cure window ", window));
      const v1::ExperimentReportAnswer report = Report(window);
      std::map<int, Recount> recount = RecountArms(window);
      EXPECT_EQ(report.arms_size(), 3);
      for (int i = 0; i < report.arms_size(); ++i) {
        const v1::ExperimentArmFigures& got = report.arms(i);
        const Recount& want = recount[i];
        SCOPED_TRACE(got.arm());
        EXPECT_EQ(got.cases(), want.cases);
        EXPECT_EQ(got.cured(), want.cured);
        EXPECT_EQ(got.rolled(), want.rolled);
        EXPECT_EQ(got.recovered_fen(), want.recovered);
        EXPECT_EQ(got.cost_fen(), want.cost);
        EXPECT_EQ(got.legal_handoffs(), want.handoffs);
        EXPECT_EQ(got.disputes(), want.disputes);
        if (window == 30) {
          all.cases += want.cases;
          all.cured += want.cured;
          all.rolled += want.rolled;
          all.recovered += want.recovered;
          all.cost += want.cost;
          all.handoffs += want.handoffs;
          all.disputes += want.disputes;
        }
      }
      // The amounts' intervals need each arm's sum of squares.
      for (const v1::ExperimentComparison& c : report.comparisons()) {
        const int arm = c.challenger() == "challenger-1" ? 1 : 2;
        const bool recovered = c.metric() == "recovered_per_case_fen";
        if (!recovered && c.metric() != "cost_per_case_fen") continue;
        const workflow::WelchResult want = workflow::WelchDifference(
            recovered ? recount[0].recovered_moments : recount[0].cost_moments,
            recovered ? recount[arm].recovered_moments : recount[arm].cost_moments);
        const double tolerance = 1e-9 * (1 + std::abs(want.interval.high - want.interval.low));
        EXPECT_NEAR(c.ci_low(), want.interval.low, tolerance) << c.metric() << " " << arm;
        EXPECT_NEAR(c.ci_high(), want.interval.high, tolerance) << c.metric() << " " << arm;
      }
    }
    return all;
  }

  // Takes migration 14 back out, as a database written before it would be.
  void UndoMigration14() {
    *raw_ << "DROP INDEX case_arms_report";
    for (const char* column :
         {"rolls_on_day", "cured_day", "recovered_fen", "cost_fen", "handoff", "dispute"}) {
      *raw_ << "ALTER TABLE case_arms DROP COLUMN " << column;
    }
    *raw_ << "DELETE FROM schema_migrations WHERE version = 14";
  }

  std::unique_ptr<soci::session> raw_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
  std::unique_ptr<v1::ExperimentService::Stub> experiments_;
  std::mt19937 rng_{20261201};
  int next_loan_ = 0;
  int64_t experiment_id_ = 0;
};

TEST_P(ExperimentRecountTest, ReportEqualsTheRecountLiveAndAfterBackFill) {
  ASSERT_NO_FATAL_FAILURE(BuildBook());
  const Recount live = ExpectReportMatchesRecount("kept by the writer");
  // The book exercised every figure.
  EXPECT_EQ(live.cases, kCases - kCasesBefore + 8 * kDays);
  EXPECT_GT(live.cured, 0);
  EXPECT_GT(live.rolled, 0);
  EXPECT_GT(live.recovered, 0);
  EXPECT_GT(live.cost, 0);
  EXPECT_GT(live.handoffs, 0);
  EXPECT_GT(live.disputes, 0);

  // The same book as a database written before migration 14: the server
  // migrates it at start, back-filling each row from the sources.
  server_.reset();
  ASSERT_NO_FATAL_FAILURE(UndoMigration14());
  StartServer();
  Connect();
  const Recount filled = ExpectReportMatchesRecount("back-filled");
  EXPECT_EQ(filled.cases, live.cases);
  EXPECT_EQ(filled.cost, live.cost);
}

COLLECTIONS_INSTANTIATE_BACKENDS(ExperimentRecountTest);

}  // namespace
}  // namespace collections::report_test
