// The storage suite's shared fixture, parameterized over backends like
// SOCI's own tests. Every test runs on SQLite (a temporary file, never
// :memory:: each pooled connection to :memory: would be a separate database)
// and on PostgreSQL when COLLECTIONS_TEST_PG holds a connection string for a
// server where the user may create databases, e.g.
//   COLLECTIONS_TEST_PG="postgresql://host=127.0.0.1 port=55432 user=postgres
//   dbname=postgres"
// Each PostgreSQL test gets a fresh database ct_<random>, dropped after it.
//
// The suite is one binary; its tests are split by topic over *_test.cc files
// (schema, cases, tasks, idempotency/policies/dates, replay), all of them
// TEST_P(StoreTest, ...), instantiated once as Backends/StoreTest.* in
// store_fixture.cc.
//
// Thread-safety: a fixture belongs to the test that runs it; Store itself is
// thread-safe, so tests may share store_ across the threads they start.
#ifndef COLLECTIONS_TESTS_STORAGE_STORE_FIXTURE_H_
#define COLLECTIONS_TESTS_STORAGE_STORE_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "soci/soci.h"
#include "storage/store.h"
#include "workflow/state_machine.h"

namespace collections::storage {

inline constexpr int64_t CNY = 100;
inline constexpr int64_t k2To31 = int64_t{1} << 31;
inline const absl::Time kNow = absl::FromUnixSeconds(1'795'000'000);

v1::Date D(int y, int m, int d);
google::protobuf::Timestamp Ts(absl::Time t);

// --- Test databases ---------------------------------------------------------

// A database of its own for one test: created by the constructor, removed by
// the destructor.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  virtual std::string connection() const = 0;
};

// --- Transitions built by hand, so that storage is tested on its own -------

workflow::TaskSpec MakeTask(v1::TaskType type, const std::string& queue, int64_t priority,
                            absl::Time not_before);

// Opens case `case_id` for `loan`: a mild REMINDER case with an SMS task,
// a reminder call due a day later, and a promise timer.
workflow::Transition Opening(int64_t case_id, const std::string& loan,
                             int64_t overdue_fen = 3'000 * CNY);

// The next version of `current`: an agent's note, no effects.
workflow::Transition Following(const v1::Case& current, absl::Time at = kNow + absl::Minutes(1));

// Drops what migrations 9 and later added (request digests and their index,
// lease keys; the leadership table; the report links and indexes; the book's
// intervals; the experiments' tables and the figures kept per assigned
// case; the access rules) and forgets their records: for tests that take a
// database back to an older schema and reopen it.
void UndoMigrationsSince9(soci::session& sql);

// Takes the report book of migration 13 back to migration 5's
// report_snapshots (empty), the triggers and their tables dropped (and
// first what migration 17 added to the book and the report links).
void UndoMigration13(soci::session& sql);

// Drops migration 17's report indexes and report_events.next_stage.
void UndoMigration17(soci::session& sql);

// Drops migration 18's open-task counts, their triggers and functions.
void UndoMigration18(soci::session& sql);
// Migration 21's tables and index gone (IF EXISTS: the other undos call it),
// and what later migrations built on them.
void UndoMigration21(soci::session& sql);
// The stage changes as migrations 21 and 22 kept them: counted through
// `through_day` (report_stage_changes_folded), the later days only in
// report_events.
void UndoMigration23(soci::session& sql, long long through_day);

// --- The fixture ------------------------------------------------------------

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens the store with one writer unless `options` says otherwise: most
  // tests assert dense ids and what one group commit does, which hold with
  // one writer; the tests of the parallel write path ask for more.
  void OpenStore(StoreOptions options = OneWriter());
  // Closes the store and opens it again with one writer whose clock
  // stands at `now`.
  void ReopenAt(absl::Time now);
  static StoreOptions OneWriter() {
    StoreOptions options;
    options.writer_connections = 1;
    return options;
  }

  // A session of our own, to look at tables directly.
  std::unique_ptr<soci::session> Raw();

  // Every event of a case in sequence order, through the paged read (a
  // test's cases stay well under one page).
  absl::StatusOr<std::vector<v1::CaseEvent>> Events(int64_t case_id);

  absl::Status Apply(const workflow::Transition& t, int64_t expected);

  // Opens a case for `loan` with an id from the "case" sequence.
  v1::Case Open(const std::string& loan, int64_t overdue_fen = 3'000 * CNY);

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_TESTS_STORAGE_STORE_FIXTURE_H_
