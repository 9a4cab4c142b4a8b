// End to end: three collectionsd replicas on one PostgreSQL database, as a
// bank runs them behind a load balancer. Workers spread over all three
// claim and complete every task once; a business date moved and a policy
// stored through one replica are what the others use next; killing the
// leader hands the singleton jobs to another replica; access rules put
// through one replica change what the others admit. Skipped without the
// test command's PostgreSQL (COLLECTIONS_TEST_PG).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "collections/v1/access_service.grpc.pb.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "tests/e2e/collectionsd_process.h"
#include "tests/service/test_env.h"

namespace collections {
namespace {

using testing::Collectionsd;

constexpr int kReplicas = 3;
constexpr char kLeads[] = "leads the singleton jobs";

void SetDay(absl::CivilDay day, v1::Date* out) {
  out->set_year(static_cast<int32_t>(day.year()));
  out->set_month(day.month());
  out->set_day(day.day());
}

// One claim of at most one task from `queues`, as an agent's tool makes it.
grpc::Status ClaimOne(v1::TaskService::Stub& stub, const std::vector<std::string>& queues,
                      v1::ClaimTasksResponse* claimed) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::ClaimTasksRequest claim;
  claim.set_worker_id(testing::kTester);
  for (const std::string& q : queues) claim.add_queues(q);
  claim.set_max_tasks(1);
  return stub.ClaimTasks(&context, claim, claimed);
}

// Completes `task` under the lease it was claimed with.
grpc::Status Complete(v1::TaskService::Stub& stub, const v1::Task& task,
                      const std::string& request_id, const v1::TaskOutcome& outcome) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::CompleteTaskRequest complete;
  complete.set_task_id(task.task_id());
  complete.set_lease_token(task.lease_token());
  complete.set_lease_key(task.lease_key());
  complete.set_request_id(request_id);
  *complete.mutable_outcome() = outcome;
  v1::CompleteTaskResponse completed;
  return stub.CompleteTask(&context, complete, &completed);
}

absl::CivilDay ShanghaiToday() {
  absl::TimeZone zone;
  absl::LoadTimeZone("Asia/Shanghai", &zone);
  return absl::ToCivilDay(absl::Now(), zone);
}

class ReplicasEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string admin = testing::PostgresAdminConnection();
    if (admin.empty()) GTEST_SKIP() << "COLLECTIONS_TEST_PG is not set: replicas need PostgreSQL";
    auto db = testing::PostgresTestDatabase::Create(admin);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    auto dir = testing::TempDir::Create("collections-replicas-e2e");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    // One after another: the first creates the schema.
    for (int i = 0; i < kReplicas; ++i) Start(i);
  }

  // Starts replica `i`; on a new port unless `same_address` (a restart that
  // its clients find where they left it).
  void Start(int i, bool same_address = false) {
    if (!same_address || address_[i].empty()) {
      auto port = testing::PickFreePort();
      ASSERT_TRUE(port.ok()) << port.status();
      address_[i] = absl::StrCat("127.0.0.1:", *port);
    }
    process_[i].reset();
    process_[i] = std::make_unique<Collectionsd>(
        std::vector<std::string>{"--listen=" + address_[i], "--db=" + db_->connection(),
                                 "--daily_aging_time=" + daily_aging_time_, "--db_writers=4"},
        absl::StrCat(dir_->path(), "/replica-", i, "-", ++starts_, ".log"));
    ASSERT_TRUE(process_[i]->started()) << process_[i]->spawn_error();
    ASSERT_TRUE(testing::WaitUntilServing(*process_[i], address_[i], absl::Seconds(60)))
        << process_[i]->Log();
    std::lock_guard<std::mutex> lock(channel_mu_);
    channel_[i] = testing::SecureChannel(address_[i]);
  }

  // Replica `i`'s channel, safe to ask while another thread restarts it.
  std::shared_ptr<grpc::Channel> Channel(int i) {
    std::lock_guard<std::mutex> lock(channel_mu_);
    return channel_[i];
  }

  // What the database says, counted behind the replicas' backs.
  int64_t Count(const std::string& sql) {
    absl::StatusOr<int64_t> n = db_->QueryInt(sql);
    EXPECT_TRUE(n.ok()) << n.status();
    return n.value_or(-1);
  }

  // Which replica's log says it leads (the latest start of each), polled
  // until `limit` (readiness, not time passing); -1 when none does.
  int WaitForLeader(absl::Duration limit, int except = -1) {
    const absl::Time give_up = absl::Now() + limit;
    while (absl::Now() < give_up) {
      for (int i = 0; i < kReplicas; ++i) {
        if (i == except || process_[i]->Exited()) continue;
        if (process_[i]->Log().find(kLeads) != std::string::npos) return i;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return -1;
  }

  // Imports `loans`, `days_overdue` days past due, through replica `i`;
  // borrowers live where it is midday now, so that contact hours allow
  // their tasks.
  void Import(int i, const std::vector<std::string>& loans, absl::CivilDay as_of,
              int days_overdue = 5) {
    auto stub = v1::CaseService::NewStub(Channel(i));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    v1::ImportDelinquenciesResponse response;
    auto writer = stub->ImportDelinquencies(&context, &response);
    for (const std::string& loan : loans) {
      v1::ImportDelinquenciesRequest request;
      v1::DelinquencyRecord& r = *request.mutable_record();
      r.set_loan_id(loan);
      SetDay(as_of, r.mutable_as_of());
      SetDay(as_of - days_overdue, r.mutable_oldest_unpaid_due_date());
      r.mutable_borrower()->set_borrower_id("B-" + loan);
      r.mutable_borrower()->set_name("Zhang Wei");
      r.mutable_borrower()->add_phones("+86 138 0000 0000");
      r.mutable_borrower()->set_time_zone(testing::NoonZone());
      r.set_principal_outstanding_fen(60'000'000);
      r.mutable_overdue()->set_principal_fen(300'000);
      ASSERT_TRUE(writer->Write(request));
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }

  v1::Case GetCase(int i, const std::string& loan) {
    auto stub = v1::CaseService::NewStub(Channel(i));
    grpc::ClientContext context;
    v1::GetCaseRequest request;
    request.set_loan_id(loan);
    v1::GetCaseResponse response;
    grpc::Status status = stub->GetCase(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.case_();
  }

  std::unique_ptr<testing::PostgresTestDatabase> db_;
  std::unique_ptr<testing::TempDir> dir_;
  std::string address_[kReplicas];
  std::unique_ptr<Collectionsd> process_[kReplicas];
  std::mutex channel_mu_;
  std::shared_ptr<grpc::Channel> channel_[kReplicas];
  int starts_ = 0;
  std::string daily_aging_time_ = "off";
};

TEST_F(ReplicasEndToEnd, WorkersOnAllReplicasGetEachTaskOnceAndNoneIsLost) {
  // 20,001 tasks, imported through the three replicas at once.
  constexpr int kCasesPerReplica = 6'667;
  std::vector<std::string> all;
  std::vector<std::thread> imports;
  for (int i = 0; i < kReplicas; ++i) {
    std::vector<std::string> loans;
    for (int k = 0; k < kCasesPerReplica; ++k) loans.push_back(absl::StrCat("R", i, "-", k));
    imports.emplace_back([this, i, loans] { Import(i, loans, ShanghaiToday()); });
    all.insert(all.end(), loans.begin(), loans.end());
  }
  for (std::thread& t : imports) t.join();
  ASSERT_EQ(Count("SELECT COUNT(*) FROM cases"), static_cast<int64_t>(all.size()));

  // Four workers per replica, each claiming one SMS task at a time and
  // completing it, until the queue is empty for them.
  std::mutex mu;
  std::map<int64_t, int> claims_per_case;
  std::set<int64_t> tasks;
  std::atomic<int> duplicates{0}, failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4 * kReplicas; ++w) {
    workers.emplace_back([&, w] {
      auto stub = v1::TaskService::NewStub(Channel(w % kReplicas));
      for (int n = 0;; ++n) {
        v1::ClaimTasksResponse claimed;
        grpc::Status s = ClaimOne(*stub, {"sms"}, &claimed);
        if (!s.ok()) {
          ADD_FAILURE() << "claim: " << s.error_message();
          ++failures;
          return;
        }
        if (claimed.tasks().empty()) return;
        const v1::Task& task = claimed.tasks(0);
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!tasks.insert(task.task_id()).second) ++duplicates;
          ++claims_per_case[task.case_id()];
        }
        v1::TaskOutcome delivered;
        delivered.mutable_sms()->set_delivered(true);
        s = Complete(*stub, task, absl::StrCat("w", w, "-", n), delivered);
        if (!s.ok()) {
          ADD_FAILURE() << "complete task " << task.task_id() << ": " << s.error_message();
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(duplicates, 0) << "a task was handed to two workers";
  EXPECT_EQ(failures, 0);
  // Each case had one SMS task ready: every one was claimed, once.
  EXPECT_EQ(claims_per_case.size(), all.size());
  for (const auto& [case_id, n] : claims_per_case) EXPECT_EQ(n, 1) << "case " << case_id;
  // And every completion's transition was applied once, counted in the
  // database; the case moved one version past its opening, whichever
  // replica is asked.
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT case_id) FROM case_events "
                  "WHERE event_type = 'task_completed'"),
            static_cast<int64_t>(all.size()));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM case_events WHERE event_type = 'task_completed'"),
            static_cast<int64_t>(all.size()));
  for (size_t k = 0; k < all.size(); k += 997) {
    v1::Case c = GetCase(static_cast<int>(k % kReplicas), all[k]);
    EXPECT_EQ(c.version(), GetCase((k + 1) % kReplicas, all[k]).version());
    EXPECT_GE(c.version(), 2) << all[k];
  }
}

TEST_F(ReplicasEndToEnd, ADateMovedAndAPolicyStoredThroughOneAreUsedByTheOthers) {
  const absl::CivilDay today = ShanghaiToday();
  Import(2, {"before"}, today);
  const int64_t first_version = GetCase(2, "before").policy_version();

  // Replica 0 moves the business date two days on.
  {
    auto stub = v1::CaseService::NewStub(Channel(0));
    grpc::ClientContext context;
    v1::AdvanceBusinessDateRequest request;
    SetDay(today + 2, request.mutable_to());
    v1::AdvanceBusinessDateResponse response;
    grpc::Status status = stub->AdvanceBusinessDate(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // Replica 1 stores a policy (the current one, renamed).
  int64_t new_version = 0;
  {
    auto stub = v1::PolicyService::NewStub(Channel(1));
    grpc::ClientContext get_context;
    v1::GetPolicyRequest get;
    v1::GetPolicyResponse current;
    ASSERT_TRUE(stub->GetPolicy(&get_context, get, &current).ok());
    v1::PutPolicyRequest put;
    *put.mutable_policy() = current.policy();
    put.mutable_policy()->set_version(0);
    put.mutable_policy()->set_name(current.policy().name() + " (replicas test)");
    grpc::ClientContext put_context;
    v1::PutPolicyResponse stored;
    grpc::Status status = stub->PutPolicy(&put_context, put, &stored);
    ASSERT_TRUE(status.ok()) << status.error_message();
    new_version = stored.policy().version();
    ASSERT_GT(new_version, first_version);
  }
  // Replica 2 hears both (a notification, well within a second here): a
  // record as of today lands on the new business date, under the new
  // policy. Polled: the notice travels asynchronously.
  v1::Case opened;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  for (int attempt = 0; absl::Now() < give_up; ++attempt) {
    const std::string loan = absl::StrCat("after-", attempt);
    Import(2, {loan}, today);
    opened = GetCase(2, loan);
    if (opened.policy_version() == new_version &&
        opened.business_date().day() == (today + 2).day()) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(opened.policy_version(), new_version);
  EXPECT_EQ(opened.business_date().day(), (today + 2).day());
}

TEST_F(ReplicasEndToEnd, AccessRulesPutThroughOneChangeWhatTheOthersAdmit) {
  auto get_policy_as_manager = [this](int i) {
    auto context = testing::ContextAs("max", "manager");
    v1::GetPolicyResponse out;
    return v1::PolicyService::NewStub(Channel(i))->GetPolicy(context.get(), {}, &out);
  };
  for (int i = 0; i < kReplicas; ++i) ASSERT_TRUE(get_policy_as_manager(i).ok()) << i;

  // Replica 0 closes GetPolicy to all but admins.
  {
    auto stub = v1::AccessService::NewStub(Channel(0));
    auto get_context = testing::ContextAs("ada", "admin");
    v1::GetAccessRulesResponse current;
    ASSERT_TRUE(stub->GetAccessRules(get_context.get(), {}, &current).ok());
    EXPECT_EQ(current.rules().version(), 1);  // the first replica's file
    v1::PutAccessRulesRequest put;
    *put.mutable_rules()->mutable_certificates() = current.rules().certificates();
    v1::MethodRoles* get = put.mutable_rules()->add_methods();
    get->set_method("collections.v1.PolicyService/GetPolicy");
    get->add_roles("admin");
    put.set_request_id("close-get-policy");
    auto put_context = testing::ContextAs("ada", "admin");
    v1::PutAccessRulesResponse stored;
    grpc::Status status = stub->PutAccessRules(put_context.get(), put, &stored);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(stored.rules().version(), 2);
  }
  const absl::Time put_at = absl::Now();
  EXPECT_EQ(get_policy_as_manager(0).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // The others refuse the manager once they have heard (a notification,
  // with a re-read every second behind it). Polled: the notice travels
  // asynchronously.
  for (int i = 1; i < kReplicas; ++i) {
    grpc::Status status;
    const absl::Time give_up = absl::Now() + absl::Seconds(5);
    while (absl::Now() < give_up) {
      status = get_policy_as_manager(i);
      if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << "replica " << i << " still admits by the old rules: " << process_[i]->Log();
    const absl::Duration took = absl::Now() - put_at;
    EXPECT_LT(took, absl::Seconds(2)) << "replica " << i;
    std::cout << "replica " << i << " refused the manager "
              << absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(1)))
              << " after the put returned\n";
    EXPECT_NE(process_[i]->Log().find("access rules: admitting by version 2"), std::string::npos);
  }

  // A replica started now keeps the database's rules and says that its
  // file differs from them.
  Start(2);
  EXPECT_EQ(get_policy_as_manager(2).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(process_[2]->Log().find("differ from the database's version 2"), std::string::npos)
      << process_[2]->Log();
}

TEST_F(ReplicasEndToEnd, WhenTheLeaderIsKilledAnotherTakesOver) {
  const int leader = WaitForLeader(absl::Seconds(15));
  ASSERT_GE(leader, 0) << "no replica took the lead";
  for (int i = 0; i < kReplicas; ++i) {
    if (i != leader) EXPECT_EQ(process_[i]->Log().find(kLeads), std::string::npos) << i;
  }
  process_[leader]->Signal(SIGKILL);
  process_[leader]->Wait();
  const int next = WaitForLeader(absl::Seconds(15), leader);
  ASSERT_GE(next, 0) << "nobody took over";
  EXPECT_NE(next, leader);
  // It took the lead with the next epoch, which fences the killed one's
  // late writes.
  EXPECT_THAT(process_[next]->Log(), ::testing::HasSubstr("epoch 2"));
  // The killed replica comes back as a follower.
  Start(leader);
  EXPECT_EQ(process_[leader]->Log().find(kLeads), std::string::npos);
}

// The replicas run daily aging (due at midnight, so nothing is due until a
// date move): the leader's takeover step finishes a day another left.
class ReplicasWithDailyAging : public ReplicasEndToEnd {
 protected:
  ReplicasWithDailyAging() { daily_aging_time_ = "00:00"; }
};

TEST_F(ReplicasWithDailyAging, LeaderKilledDuringADaysAgingAnotherFinishesItOnce) {
  constexpr int kCases = 4000;
  const absl::CivilDay today = ShanghaiToday();
  for (int i = 0; i < kReplicas; ++i) {
    std::vector<std::string> loans;
    for (int k = i; k < kCases; k += kReplicas) loans.push_back(absl::StrCat("A-", k));
    // 30 days past due: tomorrow each crosses into the moderate band, so
    // the day's aging has every case to move.
    Import(i, loans, today, /*days_overdue=*/30);
  }
  const int leader = WaitForLeader(absl::Seconds(15));
  ASSERT_GE(leader, 0) << "no replica took the lead";
  const std::string aged = "SELECT COUNT(*) FROM case_events WHERE event_type = 'aged'";
  ASSERT_EQ(Count(aged), 0);

  // The leader moves the date one day on and starts aging every case; it is
  // killed once some, not all, are aged.
  grpc::Status advanced;
  std::thread advance([&] {
    auto stub = v1::CaseService::NewStub(Channel(leader));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    v1::AdvanceBusinessDateRequest request;
    SetDay(today + 1, request.mutable_to());
    v1::AdvanceBusinessDateResponse response;
    advanced = stub->AdvanceBusinessDate(&context, request, &response);  // it dies midway
  });
  int64_t at_kill = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (at_kill == 0 && absl::Now() < give_up) at_kill = Count(aged);
  process_[leader]->Signal(SIGKILL);
  process_[leader]->Wait();
  advance.join();
  at_kill = Count(aged);
  ASSERT_GT(at_kill, 0) << "the leader never started aging: " << advanced.error_message()
                        << process_[leader]->Log();
  ASSERT_LT(at_kill, kCases)
      << "the leader finished before it was killed: nothing left to take over";

  // Another replica takes the lead and finishes the day's run.
  const int next = WaitForLeader(absl::Seconds(15), leader);
  ASSERT_GE(next, 0) << "nobody took over";
  const absl::Time done_by = absl::Now() + absl::Seconds(120);
  while (Count(aged) < kCases && absl::Now() < done_by) absl::SleepFor(absl::Milliseconds(50));
  while (process_[next]->Log().find("in finishing its run") == std::string::npos &&
         absl::Now() < done_by) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  // Every case aged exactly once for the day, none twice, none skipped.
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT case_id) FROM case_events WHERE event_type = 'aged'"),
            kCases);
  EXPECT_EQ(Count(aged), kCases);
  // The day's snapshot counts each open case once, and the business date
  // moved once.
  EXPECT_EQ(Count("SELECT COALESCE(SUM(cases), 0) FROM report_portfolio WHERE day = "
                  "(SELECT MAX(day) FROM report_portfolio)"),
            kCases);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE action = 'AdvanceBusinessDate'"), 1);
  EXPECT_EQ(GetCase(next, "A-0").business_date().day(), (today + 1).day());
}

// A firm's system on one replica's stream: it stores and acknowledges each
// handoff, and when its replica goes away it reconnects to the next one
// after the last handoff it acknowledged.
class FirmReader {
 public:
  struct Delivery {
    int64_t sequence;
    v1::HandoffKind kind;
    int64_t case_id;
    int connection;  // how many reconnections before it came
  };

  explicit FirmReader(std::function<std::string(int)> address) : address_(std::move(address)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~FirmReader() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }

  // The distinct sequences acknowledged so far.
  size_t Acknowledged() {
    std::lock_guard<std::mutex> lock(mu_);
    return acknowledged_.size();
  }
  std::vector<Delivery> Deliveries() {
    std::lock_guard<std::mutex> lock(mu_);
    return deliveries_;
  }
  std::set<int64_t> AcknowledgedSequences() {
    std::lock_guard<std::mutex> lock(mu_);
    return acknowledged_;
  }

 private:
  void Run() {
    int64_t after = 0;
    for (int connection = 0;; ++connection) {
      auto channel = grpc::CreateCustomChannel(address_(connection % kReplicas),
                                               testing::TestChannelCredentials("firm-national"),
                                               testing::TestChannelArguments());
      auto stub = v1::LegalService::NewStub(channel);
      auto context = std::make_unique<grpc::ClientContext>();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
        context_ = context.get();
      }
      v1::StreamHandoffsRequest request;
      request.set_firm_id("firm-national");
      request.set_after_sequence(after);
      auto stream = stub->StreamHandoffs(context.get(), request);
      v1::Handoff handoff;
      while (stream->Read(&handoff)) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          deliveries_.push_back(
              {handoff.sequence(), handoff.kind(), handoff.case_id(), connection});
        }
        grpc::ClientContext ack_context;
        ack_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
        v1::AcknowledgeHandoffRequest ack;
        ack.set_firm_id("firm-national");
        ack.set_sequence(handoff.sequence());
        ack.set_accepted(true);
        v1::AcknowledgeHandoffResponse acked;
        if (!stub->AcknowledgeHandoff(&ack_context, ack, &acked).ok()) break;
        after = handoff.sequence();
        std::lock_guard<std::mutex> lock(mu_);
        acknowledged_.insert(after);
      }
      (void)stream->Finish();
      {
        std::lock_guard<std::mutex> lock(mu_);
        context_ = nullptr;
        if (stopping_) return;
      }
      absl::SleepFor(absl::Milliseconds(100));  // a receiver's reconnect back-off
    }
  }

  const std::function<std::string(int)> address_;
  std::mutex mu_;
  bool stopping_ = false;
  grpc::ClientContext* context_ = nullptr;
  std::vector<Delivery> deliveries_;
  std::set<int64_t> acknowledged_;
  std::thread thread_;
};

TEST_F(ReplicasEndToEnd, HandoffsFromAllReplicasReachTheFirmInOrderWhileReplicasAreKilled) {
  constexpr int kCases = 120;
  const absl::CivilDay today = ShanghaiToday();
  // Severe cases, imported through every replica: each asks for a home visit
  // and a legal letter before counsel.
  std::vector<std::string> loans;
  for (int i = 0; i < kReplicas; ++i) {
    std::vector<std::string> part;
    for (int k = i; k < kCases; k += kReplicas) part.push_back(absl::StrCat("H-", k));
    Import(i, part, today, /*days_overdue=*/122);
    loans.insert(loans.end(), part.begin(), part.end());
  }
  // The visits and letters done by workers on every replica.
  std::vector<std::thread> workers;
  std::atomic<int> done{0};
  for (int w = 0; w < kReplicas; ++w) {
    workers.emplace_back([&, w] {
      auto stub = v1::TaskService::NewStub(Channel(w));
      for (int n = 0;; ++n) {
        v1::ClaimTasksResponse claimed;
        grpc::Status s = ClaimOne(*stub, {"field", "letters"}, &claimed);
        ASSERT_TRUE(s.ok()) << s.error_message();
        if (claimed.tasks().empty()) return;
        const v1::Task& task = claimed.tasks(0);
        v1::TaskOutcome outcome;
        if (task.queue() == "field") {
          outcome.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
        } else {
          outcome.mutable_letter()->set_sent(true);
          outcome.mutable_letter()->set_reference(absl::StrCat("EMS-", task.task_id()));
        }
        s = Complete(*stub, task, absl::StrCat("legal-w", w, "-", n), outcome);
        ASSERT_TRUE(s.ok()) << s.error_message();
        ++done;
      }
    });
  }
  for (std::thread& t : workers) t.join();
  ASSERT_EQ(done.load(), 2 * kCases) << "a visit and a letter per case";

  FirmReader reader([this](int i) {
    std::lock_guard<std::mutex> lock(channel_mu_);
    return address_[i];
  });
  // The letters' waiting period passes (through replica 1): every case goes
  // to counsel, one NEW_CASE handoff each.
  {
    auto stub = v1::CaseService::NewStub(Channel(1));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    v1::AdvanceBusinessDateRequest request;
    SetDay(today + 15, request.mutable_to());
    v1::AdvanceBusinessDateResponse response;
    grpc::Status status = stub->AdvanceBusinessDate(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_EQ(Count("SELECT COUNT(*) FROM handoffs WHERE firm_id = 'firm-national'"), kCases);

  // Borrowers dispute through every replica (one DISPUTED handoff each)
  // while replicas 1 and 2 are killed and restarted; a call that fails is
  // sent again, with its request id, to the next replica.
  std::atomic<int> sent{0};
  std::vector<std::thread> senders;
  for (int r = 0; r < kReplicas; ++r) {
    senders.emplace_back([&, r] {
      for (size_t k = r; k < loans.size(); k += kReplicas) {
        const int64_t case_id = GetCase(0, loans[k]).case_id();
        bool ok = false;
        for (int attempt = 0; !ok && attempt < 50; ++attempt) {
          auto stub = v1::CaseService::NewStub(Channel((r + attempt) % kReplicas));
          grpc::ClientContext context;
          context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
          v1::SignalCaseRequest request;
          request.set_case_id(case_id);
          request.set_request_id(absl::StrCat("dispute-", loans[k]));
          request.mutable_signal()->mutable_dispute_opened()->set_reason("amount disputed");
          v1::SignalCaseResponse response;
          ok = stub->SignalCase(&context, request, &response).ok();
          if (!ok) absl::SleepFor(absl::Milliseconds(100));
        }
        EXPECT_TRUE(ok) << loans[k];
        ++sent;
      }
    });
  }
  auto wait_sent = [&](int n) {
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (sent.load() < n && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  };
  for (int victim : {1, 2}) {
    wait_sent(victim * kCases / 3);
    process_[victim]->Signal(SIGKILL);
    process_[victim]->Wait();
    Start(victim, /*same_address=*/true);
  }
  for (std::thread& t : senders) t.join();
  ASSERT_EQ(Count("SELECT COUNT(*) FROM handoffs WHERE firm_id = 'firm-national'"), 2 * kCases);

  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (reader.Acknowledged() < 2 * kCases && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  reader.Stop();
  const std::vector<FirmReader::Delivery> deliveries = reader.Deliveries();
  const std::set<int64_t> acknowledged = reader.AcknowledgedSequences();
  // Nothing skipped: the firm acknowledged every handoff the database holds
  // for it.
  EXPECT_EQ(acknowledged.size(), 2u * kCases);
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM handoffs WHERE firm_id = 'firm-national' "
                               "AND sequence <= ",
                               acknowledged.empty() ? 0 : *acknowledged.rbegin())),
            2 * kCases);
  // In order: each handoff came after every one first delivered before it;
  // a sequence came again only when its acknowledgement had not been
  // recorded (at-least-once across a replica's death).
  std::set<int64_t> seen;
  std::map<int64_t, std::set<v1::HandoffKind>> kinds;
  int64_t highest = 0;
  int reconnections = 0;
  for (const FirmReader::Delivery& d : deliveries) {
    reconnections = std::max(reconnections, d.connection);
    if (seen.insert(d.sequence).second) {
      EXPECT_GT(d.sequence, highest) << "handoff " << d.sequence << " came after " << highest;
      highest = std::max(highest, d.sequence);
      kinds[d.case_id].insert(d.kind);
    }
  }
  EXPECT_LE(deliveries.size() - seen.size(), static_cast<size_t>(reconnections))
      << "at most one re-delivery per reconnection";
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kCases));
  for (const auto& [case_id, k] : kinds) {
    EXPECT_THAT(k, ::testing::ElementsAre(v1::HANDOFF_KIND_NEW_CASE, v1::HANDOFF_KIND_DISPUTED))
        << "case " << case_id;
  }
}

}  // namespace
}  // namespace collections
