// PolicyService.SimulatePolicy through real gRPC on SQLite and PostgreSQL:
// the same seed gives the same answer, the simulation writes nothing, bad
// requests change nothing, and a back-test: a scripted book run for 30 real
// business days through the server, against the simulation of those days
// from the book as it stood before them, with the current policy and the
// rates the book's own history shows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "server/case_engine.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/simulation.h"

namespace collections {
namespace {

using testing::CNY;
using ::testing::HasSubstr;
using testing::kToday;

// The queues the default policy fills.
const std::vector<std::string> kQueues = {"sms",     "call.early", "call.counselling", "field",
                                          "letters", "supervisor", "hardship",         "call.plan"};

// How the scripted borrowers behave in the live month, in per mille.
struct Script {
  int reached = 500;      // a call or visit reaches them
  int promise = 400;      // a reached borrower promises everything overdue in 7 days
  int kept = 600;         // and pays it on the day
  int cure_per_day = 10;  // pays everything unprompted on a given day
};

class SimulationServiceTest : public testing::ServerFixture {
 protected:
  // One writer: case ids then follow the import's order on PostgreSQL too
  // (several writers draw ids from blocks of their own), and each case's
  // draws are seeded from its id, so a seed gives the same simulation on
  // every run, as on SQLite.
  server::ServerConfig Config() const override {
    server::ServerConfig config = ServerFixture::Config();
    config.db_writers = 1;
    return config;
  }

  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cases_ = v1::CaseService::NewStub(channel_);
    policies_ = v1::PolicyService::NewStub(channel_);
    tasks_ = v1::TaskService::NewStub(channel_);
  }

  // A book of `n` loans across the day bands, most crossing a band edge
  // within a month; amounts mostly mild, some moderate or severe.
  void ImportBook(int n) {
    std::vector<v1::DelinquencyRecord> rows;
    for (int i = 0; i < n; ++i) {
      const std::string loan = absl::StrCat("L", i);
      const int dpd = 5 + (i * 13) % 100;
      const int64_t overdue = (800 + (i * 397) % 4000) * CNY * (i % 10 == 0 ? 6 : 1);
      rows.push_back(testing::FeedRecord(loan, dpd, overdue));
      overdue_[loan] = overdue;
    }
    v1::ImportDelinquenciesResponse response;
    ASSERT_TRUE(testing::ImportRecords(*cases_, rows, &response).ok());
    ASSERT_EQ(response.rejected(), 0);
    for (int i = 0; i < n; ++i) {
      v1::GetCaseResponse file;
      ASSERT_TRUE(testing::GetCaseFile(*cases_, absl::StrCat("L", i), &file).ok());
      loan_of_[file.case_().case_id()] = absl::StrCat("L", i);
    }
  }

  grpc::Status Simulate(const v1::SimulatePolicyRequest& request, v1::SimulatePolicyResponse* out,
                        const std::string& role = "manager") {
    auto context = ContextAs("mgr", role, absl::Seconds(120));
    return policies_->SimulatePolicy(context.get(), request, out);
  }

  // One live business day: the date and the clock move on a day; the
  // borrowers pay what they promised for today and, some, everything
  // unprompted; then every task due is claimed and completed with what the
  // scripted borrower answers.
  void LiveDay(std::mt19937_64& rng, const Script& s) {
    auto chance = [&](int per_mille) { return static_cast<int>(rng() % 1000) < per_mille; };
    clock_->Advance(absl::Hours(24));
    const absl::CivilDay day = server_->cases()->BusinessDate() + 1;
    v1::AdvanceBusinessDateResponse advanced;
    ASSERT_TRUE(testing::AdvanceBusinessDate(*cases_, day, &advanced).ok());
    for (auto& [loan, overdue] : overdue_) {
      if (overdue == 0) continue;
      auto promised = promised_.find(loan);
      const bool pays_promise = promised != promised_.end() && promised->second == day;
      if (pays_promise) promised_.erase(promised);
      if (pays_promise || chance(s.cure_per_day)) {
        v1::RecordPaymentResponse paid;
        ASSERT_TRUE(testing::RecordPayment(*cases_, loan,
                                           absl::StrCat(loan, "-", workflow::FormatDay(day)),
                                           overdue, &paid)
                        .ok());
        overdue = 0;
      }
    }
    for (;;) {
      v1::ClaimTasksRequest claim;
      claim.set_worker_id("agent-1");
      for (const std::string& q : kQueues) claim.add_queues(q);
      claim.set_max_tasks(100);
      v1::ClaimTasksResponse claimed;
      auto context = ContextAs("agent-1", "agent");
      ASSERT_TRUE(tasks_->ClaimTasks(context.get(), claim, &claimed).ok());
      if (claimed.tasks().empty()) return;
      for (const v1::Task& task : claimed.tasks()) {
        const std::string& loan = loan_of_[task.case_id()];
        v1::TaskOutcome outcome;
        auto promise = [&](v1::PromiseToPay* p) {
          if (!chance(s.promise)) return;
          p->set_amount_fen(task.payload().overdue_total_fen());
          *p->mutable_due_date() = workflow::DayToProto(day + 7);
          if (chance(s.kept)) promised_[loan] = day + 7;
        };
        switch (task.type()) {
          case v1::TASK_TYPE_SMS_REMINDER:
            outcome.mutable_sms()->set_delivered(true);
            break;
          case v1::TASK_TYPE_HOME_VISIT:
            if (chance(s.reached)) {
              outcome.mutable_visit()->set_result(v1::VISIT_RESULT_MET);
              promise(outcome.mutable_visit()->mutable_promise());
              if (outcome.visit().promise().amount_fen() == 0) {
                outcome.mutable_visit()->clear_promise();
              }
            } else {
              outcome.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
            }
            break;
          case v1::TASK_TYPE_LEGAL_LETTER:
            outcome.mutable_letter()->set_sent(true);
            outcome.mutable_letter()->set_reference(absl::StrCat("REF-", task.task_id()));
            break;
          case v1::TASK_TYPE_SUPERVISOR_REVIEW:
            outcome.mutable_review()->set_decision("continue");
            break;
          case v1::TASK_TYPE_HARDSHIP_ASSESSMENT:
            outcome.mutable_hardship_assessment()->set_genuine(false);
            break;
          default: {  // the calls
            v1::CallOutcome& call = *outcome.mutable_call();
            if (chance(s.reached)) {
              call.set_result(v1::CALL_RESULT_REACHED);
              call.set_right_party_contact(true);
              promise(call.mutable_promise());
              if (call.promise().amount_fen() == 0) call.clear_promise();
            } else {
              call.set_result(v1::CALL_RESULT_NO_ANSWER);
            }
          }
        }
        v1::CompleteTaskResponse done;
        grpc::Status completed =
            testing::CompleteTask(*tasks_, task, outcome, testing::FreshRequestId(), &done);
        ASSERT_TRUE(completed.ok()) << completed.error_message();
      }
    }
  }

  // Everything a simulation could have written to: every case, every task,
  // the business date, the policy versions and the audit log, as one string.
  std::string DatabaseState() {
    storage::Store& store = *server_->store();
    std::string out;
    storage::CaseFilter cases;
    cases.limit = 1000;
    for (;;) {
      auto page = store.ListCases(cases);
      EXPECT_TRUE(page.ok());
      if (!page.ok() || page->empty()) break;
      for (const v1::Case& c : *page) out += c.SerializeAsString();
      cases.after_case_id = page->back().case_id();
    }
    storage::TaskFilter tasks;
    tasks.limit = 1000;
    for (;;) {
      auto page = store.FindTasks(tasks);
      EXPECT_TRUE(page.ok());
      if (!page.ok() || page->empty()) break;
      for (const v1::Task& t : *page) out += t.SerializeAsString();
      tasks.after_task_id = page->back().task_id();
    }
    out += workflow::FormatDay(*store.BusinessDate());
    out += absl::StrCat(store.ListPolicyVersions()->size());
    out += absl::StrCat(store.VerifyAuditChain()->last_id);
    return out;
  }

  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
  std::map<std::string, int64_t> overdue_;          // by loan: what is owed (0: paid)
  std::map<std::string, absl::CivilDay> promised_;  // by loan: a promise that will be kept
  std::map<int64_t, std::string> loan_of_;          // by case id
};

TEST_P(SimulationServiceTest, TheSameSeedGivesTheSameAnswerAndNothingIsWritten) {
  ImportBook(60);
  v1::Policy candidate = workflow::DefaultPolicy();
  candidate.mutable_contact()->set_max_call_attempts_per_day(2);
  v1::SimulatePolicyRequest request;
  *request.mutable_policy() = candidate;
  request.set_days(30);
  request.set_seed(7);
  const std::string before = DatabaseState();
  v1::SimulatePolicyResponse first, again, other_seed;
  ASSERT_TRUE(Simulate(request, &first).ok());
  ASSERT_TRUE(Simulate(request, &again, "admin").ok());
  EXPECT_EQ(first.SerializeAsString(), again.SerializeAsString());
  EXPECT_EQ(DatabaseState(), before);  // nothing written, not even an audit row
  request.set_seed(8);
  ASSERT_TRUE(Simulate(request, &other_seed).ok());
  EXPECT_NE(first.SerializeAsString(), other_seed.SerializeAsString());

  EXPECT_EQ(first.cases(), 60);
  EXPECT_EQ(workflow::DayFromProto(first.start(), "start").value(), kToday);
  ASSERT_EQ(first.days_size(), 30);
  EXPECT_EQ(workflow::DayFromProto(first.days(0).day(), "day").value(), kToday + 1);
  EXPECT_EQ(first.candidate_version(), 0);
  EXPECT_EQ(first.candidate_max_call_attempts_per_day(), 2);
  EXPECT_EQ(first.current_max_call_attempts_per_day(), 6);
  int64_t calls = 0;
  for (const v1::SimulatedDay& d : first.days()) {
    for (const v1::SimulatedQueue& q : d.current().queues()) calls += q.tasks_created();
    EXPECT_LE(d.candidate().max_contacts_per_borrower(), 2 + 2);  // two calls and SMS/letters
  }
  EXPECT_GT(calls, 0);
  ASSERT_FALSE(first.rates().empty());  // the book-wide row at least
  EXPECT_EQ(first.rates(0).case_class(), v1::CASE_CLASS_UNSPECIFIED);
}

TEST_P(SimulationServiceTest, BadRequestsAreRefusedAndAgentsMayNotSimulate) {
  ImportBook(3);
  struct Bad {
    std::string name;
    v1::SimulatePolicyRequest request;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Bad> bad;
  auto with_policy = [](int days) {
    v1::SimulatePolicyRequest r;
    *r.mutable_policy() = workflow::DefaultPolicy();
    r.set_days(days);
    return r;
  };
  bad.push_back({"no candidate", v1::SimulatePolicyRequest(), grpc::StatusCode::INVALID_ARGUMENT,
                 "either policy or version"});
  bad.push_back({"no days", with_policy(0), grpc::StatusCode::INVALID_ARGUMENT, "days"});
  bad.push_back({"too many days", with_policy(367), grpc::StatusCode::INVALID_ARGUMENT, "days"});
  Bad both{"both", with_policy(10), grpc::StatusCode::INVALID_ARGUMENT, "not both"};
  both.request.set_version(1);
  bad.push_back(both);
  Bad invalid{"invalid policy", with_policy(10), grpc::StatusCode::INVALID_ARGUMENT,
              "handling_minutes"};
  invalid.request.mutable_policy()->mutable_classes(0)->mutable_actions(0)->set_handling_minutes(
      -1);
  bad.push_back(invalid);
  Bad history{"history", with_policy(10), grpc::StatusCode::INVALID_ARGUMENT, "history_days"};
  history.request.set_history_days(-1);
  bad.push_back(history);
  v1::SimulatePolicyRequest unknown;
  unknown.set_version(99);
  unknown.set_days(10);
  bad.push_back({"unknown version", unknown, grpc::StatusCode::NOT_FOUND, "99"});
  const std::string before = DatabaseState();
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    v1::SimulatePolicyResponse out;
    grpc::Status s = Simulate(b.request, &out);
    EXPECT_EQ(s.error_code(), b.code);
    EXPECT_THAT(s.error_message(), HasSubstr(b.message));
  }
  v1::SimulatePolicyResponse out;
  EXPECT_EQ(Simulate(with_policy(10), &out, "agent").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DatabaseState(), before);
  // A stored version as the candidate: the current one.
  v1::SimulatePolicyRequest stored;
  stored.set_version(1);
  stored.set_days(5);
  ASSERT_TRUE(Simulate(stored, &out).ok());
  EXPECT_EQ(out.candidate_version(), 1);
  EXPECT_EQ(out.days(4).candidate().SerializeAsString(), out.days(4).current().SerializeAsString());
}

// The back-test. From the book as it stood on day D (read as the RPC reads
// it), the simulation of D+1..D+30 with the current policy and the rates
// those 30 days' history shows comes within the stated tolerance of what
// the live month did: tasks created per queue within 25 % (or 6 tasks, for
// the small queues) and cases entering legal action within 20 % (or 5) of
// the actual count (150 cases: a few cases' draws either way).
TEST_P(SimulationServiceTest, ABackTestOfThirtyDaysComesCloseToWhatHappened) {
  ImportBook(150);
  storage::Store& store = *server_->store();
  const absl::CivilDay start = server_->cases()->BusinessDate();
  std::vector<v1::Case> snapshot;
  std::vector<std::vector<workflow::OpenTask>> snapshot_tasks;
  ASSERT_TRUE(store
                  .ForEachOpenBookPage(
                      [&](const storage::OpenBookPage& page) {
                        snapshot.insert(snapshot.end(), page.cases.begin(), page.cases.end());
                        snapshot_tasks.insert(snapshot_tasks.end(), page.open_tasks.begin(),
                                              page.open_tasks.end());
                        return absl::OkStatus();
                      },
                      /*page_size=*/40)
                  .ok());
  ASSERT_EQ(snapshot.size(), 150u);
  for (const auto& tasks : snapshot_tasks) EXPECT_LE(tasks.size(), 3u);
  // Every task there is now (ids are not in creation order on PostgreSQL,
  // whose writers each draw ids from their own cached range).
  auto all_tasks = [&store] {
    std::vector<v1::Task> out;
    storage::TaskFilter all;
    all.limit = 1000;
    for (;;) {
      auto page = store.FindTasks(all);
      EXPECT_TRUE(page.ok());
      if (!page.ok() || page->empty()) return out;
      out.insert(out.end(), page->begin(), page->end());
      all.after_task_id = page->back().task_id();
    }
  };
  std::set<int64_t> tasks_before;
  for (const v1::Task& t : all_tasks()) tasks_before.insert(t.task_id());
  const absl::Time start_time = clock_->Now();

  // The live month.
  std::mt19937_64 rng(2026);
  const Script script;
  for (int i = 0; i < 30; ++i) {
    LiveDay(rng, script);
    if (HasFatalFailure()) return;
  }
  std::map<std::string, int64_t> actual;
  for (const v1::Task& t : all_tasks()) {
    if (!tasks_before.count(t.task_id())) ++actual[t.queue()];
  }
  // Cases that entered legal action in the month (some may have paid since).
  int64_t actual_legal = 0;
  for (const v1::Case& c : snapshot) {
    auto events = store.ListEventsPage(c.case_id(), 0, 0, 1000, false);
    ASSERT_TRUE(events.ok());
    for (const v1::CaseEvent& e : *events) {
      actual_legal += e.stage_before() != v1::STAGE_LEGAL_ACTION &&
                      e.stage_after() == v1::STAGE_LEGAL_ACTION &&
                      workflow::DayFromProto(e.business_date(), "day").value() > start;
    }
  }

  // The simulation of the same month from the snapshot.
  auto behaviour = store.ReadBookBehaviour(start + 1, start + 30);
  ASSERT_TRUE(behaviour.ok()) << behaviour.status();
  workflow::SimulationOptions options;
  options.start = start;
  options.days = 30;
  options.seed = 11;
  options.zone = testing::Zone("Asia/Shanghai");
  options.start_time = start_time;
  v1::GetPolicyResponse current;
  auto context = Context();
  ASSERT_TRUE(policies_->GetPolicy(context.get(), v1::GetPolicyRequest(), &current).ok());
  workflow::Simulation sim(current.policy(), behaviour->rates, options);
  for (size_t i = 0; i < snapshot.size(); ++i) {
    ASSERT_TRUE(sim.AddCase(snapshot[i], snapshot_tasks[i]).ok());
  }
  std::map<std::string, int64_t> simulated;
  int64_t simulated_legal = 0;
  for (const workflow::SimulatedDay& d : sim.days()) {
    for (const auto& [queue, q] : d.queues) simulated[queue] += q.tasks_created;
    simulated_legal += d.entered_legal;
  }
  std::string table;
  for (const auto& [queue, n] : actual) {
    absl::StrAppend(&table, queue, ": actual ", n, ", simulated ", simulated[queue], "\n");
  }
  absl::StrAppend(&table, "legal: actual ", actual_legal, ", simulated ", simulated_legal, "\n");
  for (const storage::BookBehaviour::Row& r : behaviour->rows) {
    absl::StrAppend(&table, "rates ", r.case_class, "/", r.stage, ": reached ", r.rates.reached_ppm,
                    " promise ", r.rates.promise_ppm, " kept ", r.rates.promise_kept_ppm, " cure ",
                    r.rates.cure_ppm, " (", r.observations, ")\n");
  }
  SCOPED_TRACE(table);
  EXPECT_GE(actual.size(), 4u);
  for (const auto& [queue, n] : actual) {
    const int64_t tolerance = std::max<int64_t>(6, n / 4);
    EXPECT_LE(std::llabs(simulated[queue] - n), tolerance) << queue;
  }
  for (const auto& [queue, n] : simulated) EXPECT_TRUE(actual.count(queue) || n <= 6) << queue;
  EXPECT_GT(actual_legal, 0);
  EXPECT_LE(std::llabs(simulated_legal - actual_legal), std::max<int64_t>(5, actual_legal / 5));
  // The history the rates came from is the script's.
  const workflow::BehaviourRates& wide = behaviour->rates.fallback();
  EXPECT_NEAR(wide.reached_ppm, script.reached * 1000, 80'000);
  EXPECT_NEAR(wide.promise_ppm, script.promise * 1000, 100'000);
}

COLLECTIONS_INSTANTIATE_BACKENDS(SimulationServiceTest);

}  // namespace
}  // namespace collections
