// The day's aging in batches (CaseEngine::AgeCases): a book aged in
// batches ends with the same case files as the same book aged one case per
// command (two stores, each with its own CaseEngine), and a case that
// cannot be aged does not stop the others of its batch (through real gRPC).
// SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "server/case_engine.h"
#include "server/clock.h"
#include "server/policy_bootstrap.h"
#include "server/policy_registry.h"
#include "soci/soci.h"
#include "storage/store.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "tests/service/test_env.h"
#include "workflow/policy.h"

namespace collections {
namespace {

using testing::CNY;
using testing::kToday;

// 60 cases across the day bands and amounts: over the next 40 days about
// half cross a band edge (a stage change, tasks cancelled and created, or
// a new class and priority), the others stay put. `at_edge`: every case 30
// days past due instead, all crossing into COUNSELLING the next day.
std::vector<v1::DelinquencyRecord> Book(bool at_edge = false) {
  std::vector<v1::DelinquencyRecord> rows;
  for (int i = 0; i < 60; ++i) {
    rows.push_back(testing::FeedRecord(absl::StrCat("L-", i), at_edge ? 30 : 1 + (i * 7) % 120,
                                       (500 + 1'500 * (i % 9)) * CNY));
  }
  return rows;
}

// A store with its own CaseEngine aging `aging_batch` cases per command,
// on a fake clock at the service fixture's start.
class AgedBook {
 public:
  AgedBook(const std::string& connection, int aging_batch)
      : clock_(absl::FromUnixSeconds(1'795'917'600)) {  // ServerFixture::StartTime()
    storage::StoreOptions options;
    options.connection = connection;
    options.now = [this] { return clock_.Now(); };
    auto store = storage::Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return;
    store_ = *std::move(store);
    v1::Policy policy = workflow::DefaultPolicy();
    auto stored = server::EnsurePolicyStored(*store_, policy);
    EXPECT_TRUE(stored.ok()) << stored.status();
    if (!stored.ok()) return;
    policy.set_version(stored->version);
    policies_ = std::make_unique<server::PolicyRegistry>(store_.get(), policy);
    engine_ = std::make_unique<server::CaseEngine>(store_.get(), &clock_, policies_.get(),
                                                   absl::Hours(7 * 24), nullptr, aging_batch);
    absl::Status started = engine_->Start("Asia/Shanghai");
    EXPECT_TRUE(started.ok()) << started;
  }

  server::CaseEngine* engine() { return engine_.get(); }

  void Import(std::vector<v1::DelinquencyRecord> rows) {
    absl::Mutex mu;
    size_t left = rows.size();
    engine_->ImportMany(std::move(rows), "feed",
                        [&](size_t i, absl::StatusOr<server::ImportKind> kind) {
                          EXPECT_TRUE(kind.ok()) << i << ": " << kind.status();
                          absl::MutexLock lock(&mu);
                          --left;
                        });
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](size_t* n) { return *n == 0; }, &left));
  }

  // Moves the date to `to` day by day; sums what each run did.
  void AdvanceTo(absl::CivilDay to, int64_t& aged, int64_t& moved) {
    storage::AuditEntry by;
    by.principal = "tester";
    by.action = "AdvanceBusinessDate";
    auto done = engine_->AdvanceTo(to, by);
    ASSERT_TRUE(done.ok()) << done.status();
    aged += done->cases_aged();
    moved += done->stage_changes();
  }

  // Every case file of Book(), by loan, as GetCase shows it (task ids
  // cleared: they come from id blocks whose order differs between writers
  // on PostgreSQL).
  std::map<std::string, v1::GetCaseResponse> CaseFiles() {
    std::map<std::string, v1::GetCaseResponse> files;
    for (const v1::DelinquencyRecord& r : Book()) {
      v1::GetCaseRequest request;
      request.set_loan_id(r.loan_id());
      auto file = engine_->GetCase(request);
      EXPECT_TRUE(file.ok()) << r.loan_id() << ": " << file.status();
      if (!file.ok()) continue;
      // In a stable order: by their contents without the id.
      for (v1::Task& t : *file->mutable_tasks()) t.clear_task_id();
      std::sort(file->mutable_tasks()->begin(), file->mutable_tasks()->end(),
                [](const v1::Task& a, const v1::Task& b) {
                  return a.SerializeAsString() < b.SerializeAsString();
                });
      files[r.loan_id()] = *std::move(file);
    }
    return files;
  }

 private:
  server::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<server::PolicyRegistry> policies_;
  std::unique_ptr<server::CaseEngine> engine_;
};

class AgingBatchesEquivalenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-aging-batches");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    if (GetParam() == "postgres" && testing::PostgresAdminConnection().empty()) {
      GTEST_SKIP() << "COLLECTIONS_TEST_PG is not set: PostgreSQL tests skipped";
    }
  }

  // A new empty database of the test's backend.
  std::string NewDatabase(const std::string& name) {
    if (GetParam() != "postgres") {
      return absl::StrCat("sqlite3://db=", dir_->path(), "/", name, ".db timeout=5");
    }
    auto db = testing::PostgresTestDatabase::Create(testing::PostgresAdminConnection());
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return "";
    pg_.push_back(*std::move(db));
    return pg_.back()->connection();
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::vector<std::unique_ptr<testing::PostgresTestDatabase>> pg_;
};

TEST_P(AgingBatchesEquivalenceTest, BatchedAgingWritesTheSameCaseFilesAsOneCasePerCommand) {
  // 7 a batch: several batches and a remainder among the 60 cases.
  AgedBook batched(NewDatabase("batched"), 7);
  AgedBook alone(NewDatabase("alone"), 1);
  ASSERT_NE(batched.engine(), nullptr);
  ASSERT_NE(alone.engine(), nullptr);
  batched.Import(Book());
  alone.Import(Book());
  int64_t batched_aged = 0, batched_moved = 0, alone_aged = 0, alone_moved = 0;
  for (int day = 1; day <= 40; day += 13) {
    batched.AdvanceTo(kToday + day, batched_aged, batched_moved);
    alone.AdvanceTo(kToday + day, alone_aged, alone_moved);
  }
  // Over 40 days about half the cases cross a band edge; some days age
  // several cases at once (batches of 7 and fewer).
  EXPECT_GT(batched_aged, 30);
  EXPECT_GT(batched_moved, 0);
  EXPECT_EQ(batched_aged, alone_aged);
  EXPECT_EQ(batched_moved, alone_moved);
  const std::map<std::string, v1::GetCaseResponse> a = batched.CaseFiles(), b = alone.CaseFiles();
  ASSERT_EQ(a.size(), 60u);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [loan, file] : b) {
    EXPECT_EQ(a.at(loan).SerializeAsString(), file.SerializeAsString())
        << loan << "\nbatched:\n"
        << a.at(loan).DebugString() << "\none case per command:\n"
        << file.DebugString();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, AgingBatchesEquivalenceTest,
                         ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

using AgingBatchesTest = testing::ServerFixture;

TEST_P(AgingBatchesTest, ACaseThatCannotBeAgedDoesNotStopTheOthersOfItsBatch) {
  // The whole book in one batch (CaseEngine::kAgingBatch cases).
  auto cases = v1::CaseService::NewStub(channel_);
  v1::ImportDelinquenciesResponse imported;
  grpc::Status done = testing::ImportRecords(*cases, Book(/*at_edge=*/true), &imported);
  ASSERT_TRUE(done.ok()) << done.error_message();
  ASSERT_EQ(imported.opened(), 60);
  // One case's stored body is damaged behind the server's back: reading it
  // fails, and with it the read of its whole batch.
  {
    soci::session raw(db_);
    raw << "UPDATE cases SET body = 'not a case' WHERE loan_id = 'L-3'";
  }
  v1::AdvanceBusinessDateResponse out;
  grpc::Status s = testing::AdvanceBusinessDate(*cases, kToday + 1, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL) << s.error_message();
  for (const v1::DelinquencyRecord& r : Book(/*at_edge=*/true)) {
    if (r.loan_id() == "L-3") continue;
    v1::GetCaseResponse file;
    grpc::Status got = testing::GetCaseFile(*cases, r.loan_id(), &file);
    ASSERT_TRUE(got.ok()) << r.loan_id() << ": " << got.error_message();
    EXPECT_TRUE(file.events(file.events_size() - 1).has_aged()) << r.loan_id();
    EXPECT_EQ(file.case_().stage(), v1::STAGE_COUNSELLING) << r.loan_id();
  }
}

COLLECTIONS_INSTANTIATE_BACKENDS(AgingBatchesTest);

}  // namespace
}  // namespace collections
