// End to end: three collectionsd replicas on one PostgreSQL database, as a
// bank runs them behind a load balancer. Workers spread over all three
// claim and complete every task once; a business date moved and a policy
// stored through one replica are what the others use next; killing the
// leader hands the singleton jobs to another replica. Skipped without the
// test command's PostgreSQL (COLLECTIONS_TEST_PG).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
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
#include "collections/v1/case_service.grpc.pb.h"
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

  void Start(int i) {
    auto port = testing::PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    address_[i] = absl::StrCat("127.0.0.1:", *port);
    process_[i].reset();
    process_[i] = std::make_unique<Collectionsd>(
        std::vector<std::string>{"--listen=" + address_[i], "--db=" + db_->connection(),
                                 "--daily_aging_time=off", "--db_writers=4"},
        absl::StrCat(dir_->path(), "/replica-", i, "-", ++starts_, ".log"));
    ASSERT_TRUE(process_[i]->started()) << process_[i]->spawn_error();
    ASSERT_TRUE(testing::WaitUntilServing(*process_[i], address_[i], absl::Seconds(60)))
        << process_[i]->Log();
    channel_[i] = testing::SecureChannel(address_[i]);
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

  // Imports `loans` through replica `i`; borrowers live where it is midday
  // now, so that contact hours allow their tasks.
  void Import(int i, const std::vector<std::string>& loans, absl::CivilDay as_of) {
    auto stub = v1::CaseService::NewStub(channel_[i]);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    v1::ImportDelinquenciesResponse response;
    auto writer = stub->ImportDelinquencies(&context, &response);
    for (const std::string& loan : loans) {
      v1::ImportDelinquenciesRequest request;
      v1::DelinquencyRecord& r = *request.mutable_record();
      r.set_loan_id(loan);
      SetDay(as_of, r.mutable_as_of());
      SetDay(as_of - 5, r.mutable_oldest_unpaid_due_date());
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
    auto stub = v1::CaseService::NewStub(channel_[i]);
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
  std::shared_ptr<grpc::Channel> channel_[kReplicas];
  int starts_ = 0;
};

TEST_F(ReplicasEndToEnd, WorkersOnAllReplicasGetEachTaskOnceAndNoneIsLost) {
  constexpr int kCasesPerReplica = 300;
  std::vector<std::string> all;
  for (int i = 0; i < kReplicas; ++i) {
    std::vector<std::string> loans;
    for (int k = 0; k < kCasesPerReplica; ++k) loans.push_back(absl::StrCat("R", i, "-", k));
    Import(i, loans, ShanghaiToday());
    all.insert(all.end(), loans.begin(), loans.end());
  }

  // Four workers per replica, each claiming one SMS task at a time and
  // completing it, until the queue is empty for them.
  std::mutex mu;
  std::map<int64_t, int> claims_per_case;
  std::set<int64_t> tasks;
  std::atomic<int> duplicates{0}, failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4 * kReplicas; ++w) {
    workers.emplace_back([&, w] {
      auto stub = v1::TaskService::NewStub(channel_[w % kReplicas]);
      for (int n = 0;; ++n) {
        grpc::ClientContext claim_context;
        claim_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        v1::ClaimTasksRequest claim;
        claim.set_worker_id(testing::kTester);
        claim.add_queues("sms");
        claim.set_max_tasks(1);
        v1::ClaimTasksResponse claimed;
        grpc::Status s = stub->ClaimTasks(&claim_context, claim, &claimed);
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
        grpc::ClientContext complete_context;
        complete_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        v1::CompleteTaskRequest complete;
        complete.set_task_id(task.task_id());
        complete.set_lease_token(task.lease_token());
        complete.set_lease_key(task.lease_key());
        complete.set_request_id(absl::StrCat("w", w, "-", n));
        complete.mutable_outcome()->mutable_sms()->set_delivered(true);
        v1::CompleteTaskResponse completed;
        s = stub->CompleteTask(&complete_context, complete, &completed);
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
  // And every completion's transition was applied once: the case moved
  // one version past its opening, whichever replica is asked.
  for (size_t k = 0; k < all.size(); k += 97) {
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
    auto stub = v1::CaseService::NewStub(channel_[0]);
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
    auto stub = v1::PolicyService::NewStub(channel_[1]);
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

}  // namespace
}  // namespace collections
