// The storage suite: schema, migrations, backends and connection failures.
// See store_fixture.h for the backends and the fixture.
#include "storage/schema.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "soci/soci.h"
#include "storage/store_internal.h"
#include "tests/storage/store_fixture.h"

namespace collections::storage {
namespace {

TEST_P(StoreTest, MigrationsAreRecordedAndIdempotentOnReopen) {
  EXPECT_EQ(store_->backend(), GetParam());
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  auto read_migrations = [&] {
    std::vector<std::string> rows;
    auto sql = Raw();
    long long version = 0, applied = 0;
    std::string name;
    soci::statement st = (sql->prepare << "SELECT version, name, applied_at_us "
                                          "FROM schema_migrations ORDER BY version",
                          soci::into(version), soci::into(name), soci::into(applied));
    st.execute();
    while (st.fetch()) rows.push_back(absl::StrCat(version, " ", name, " ", applied));
    return rows;
  };
  std::vector<std::string> before = read_migrations();
  // One row per migration, the last one the latest (versions may skip a
  // number while branches are merged).
  ASSERT_FALSE(before.empty());
  EXPECT_EQ(before[0].substr(0, 2), "1 ");
  EXPECT_EQ(before.back().substr(0, before.back().find(' ')), absl::StrCat(LatestSchemaVersion()));

  Open("L-1");
  store_.reset();
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(read_migrations(), before);            // nothing re-applied
  EXPECT_TRUE(store_->GetCaseByLoan("L-1").ok());  // and the data is there

  auto sql = Raw();
  for (const char* table : {"id_sequences", "business_date", "policies", "cases", "case_events",
                            "tasks", "timers", "handoffs", "payments", "idempotency"}) {
    long long n = -1;
    *sql << "SELECT COUNT(*) FROM " << table, soci::into(n);
    EXPECT_GE(n, 0) << table;
  }
}

// Migration 6 (issue 10): report_events gets the unallocated part of a
// payment, apart from recovered_fen; rows written before it hold 0.
TEST_P(StoreTest, PaymentsRecordTheirUnallocatedPartForReportsAndOldRowsMigrate) {
  const v1::Case c = Open("L-U");
  workflow::Transition t = Following(c);
  t.event.mutable_payment()->set_payment_id("P-U");
  t.event.mutable_payment()->set_amount_fen(3'500 * CNY);
  t.event.mutable_payment()->mutable_allocated()->set_principal_fen(3'000 * CNY);
  t.event.mutable_payment()->set_unallocated_fen(500 * CNY);
  t.next.mutable_overdue()->set_principal_fen(0);
  ASSERT_TRUE(Apply(t, c.version()).ok());
  auto sql = Raw();
  long long recovered = -1, unallocated = -1;
  *sql << "SELECT recovered_fen, unallocated_fen FROM report_events WHERE case_id = " << c.case_id()
       << " AND seq = " << t.event.sequence(),
      soci::into(recovered), soci::into(unallocated);
  EXPECT_EQ(recovered, 3'000 * CNY);
  EXPECT_EQ(unallocated, 500 * CNY);

  // A database at schema 5 (the columns and tables of migrations 6 and 7
  // dropped, their records forgotten) with a report row of that time:
  // reopening migrates it, the row reads 0.
  store_.reset();
  UndoMigrationsSince9(*sql);
  *sql << "ALTER TABLE report_events DROP COLUMN unallocated_fen";
  *sql << "DROP TABLE contact_borrowers";
  *sql << "ALTER TABLE contacts DROP COLUMN ended";
  *sql << "DROP TABLE audit_log";
  *sql << "DELETE FROM schema_migrations WHERE version >= 6";
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  *sql << "SELECT recovered_fen, unallocated_fen FROM report_events WHERE case_id = " << c.case_id()
       << " AND seq = " << t.event.sequence(),
      soci::into(recovered), soci::into(unallocated);
  EXPECT_EQ(recovered, 3'000 * CNY);
  EXPECT_EQ(unallocated, 0);
}

TEST_P(StoreTest, SqliteJournalIsWal) {
  if (GetParam() != Backend::kSqlite) GTEST_SKIP() << "SQLite only";
  auto sql = Raw();
  std::string mode;
  *sql << "PRAGMA journal_mode", soci::into(mode);
  EXPECT_EQ(mode, "wal");
}

// PostgreSQL never compiles the server's statements with LLVM (JIT): the
// planner's estimates for a join over key ranges put the day's run's
// reads above jit_above_cost, and compiling them cost ten times their run.
TEST_P(StoreTest, PostgresSessionsRunWithoutJit) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "PostgreSQL only";
  std::string writer, reader;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) {
                    return StoreInternals::RunStep(uow, [&](soci::session& sql, Backend) {
                      sql << "SHOW jit", soci::into(writer);
                    });
                  })
                  .ok());
  ASSERT_TRUE(StoreInternals::Read(*store_, [&](soci::session& sql) {
                sql << "SHOW jit", soci::into(reader);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(writer, "off");
  EXPECT_EQ(reader, "off");
}

TEST_P(StoreTest, SqliteBusyIsAborted) {
  if (GetParam() != Backend::kSqlite) GTEST_SKIP() << "SQLite only";
  StoreOptions options = OneWriter();
  options.sqlite_busy_timeout_ms = 50;
  OpenStore(options);
  auto other = Raw();  // another process, say, holding the write lock
  *other << "BEGIN IMMEDIATE";
  absl::Status s = Apply(Opening(1, "L-1"), 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  *other << "ROLLBACK";
  EXPECT_TRUE(Apply(Opening(1, "L-1"), 0).ok());
  // Readers are never blocked by a writer (WAL).
  *other << "BEGIN IMMEDIATE";
  *other << "DELETE FROM timers";
  EXPECT_TRUE(store_->GetCase(1).ok());
  EXPECT_EQ(store_->ListTimers(1)->size(), 1u);
  *other << "ROLLBACK";
}

TEST_P(StoreTest, LostConnectionsAreUnavailableThenRecover) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "PostgreSQL only";
  ASSERT_TRUE(Apply(Opening(1, "L-1"), 0).ok());
  auto kill_sessions = [&] {
    auto sql = Raw();
    *sql << "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()";
  };
  kill_sessions();
  absl::Status s = Apply(Following(Opening(1, "L-1").next), 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(Apply(Following(Opening(1, "L-1").next), 1).ok());  // reconnected
  // Every pooled reader notices once, then reconnects.
  kill_sessions();
  StoreOptions defaults;
  int unavailable = 0;
  for (int i = 0; i < 2 * defaults.read_pool_size + 2; ++i) {
    absl::StatusOr<v1::Case> c = store_->GetCase(1);
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
      ++unavailable;
    }
  }
  EXPECT_LE(unavailable, defaults.read_pool_size);
  absl::StatusOr<v1::Case> c = store_->GetCase(1);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->version(), 2);
}

TEST_P(StoreTest, RejectsUnknownConnectionStrings) {
  StoreOptions options = OneWriter();
  options.connection = "mysql://db=x";
  EXPECT_EQ(Store::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, UnreachableDatabaseIsUnavailable) {
  StoreOptions options = OneWriter();
  options.connection = GetParam() == Backend::kSqlite
                           ? "sqlite3://db=/nonexistent-dir/x.db"
                           : "postgresql://host=127.0.0.1 port=1 dbname=x connect_timeout=2";
  EXPECT_EQ(Store::Open(options).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace collections::storage
