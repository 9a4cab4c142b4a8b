// The storage suite, parameterized over backends like SOCI's own tests.
// Every test runs on SQLite (a temporary file, never :memory:: each pooled
// connection to :memory: would be a separate database) and on PostgreSQL
// when COLLECTIONS_TEST_PG holds a connection string for a server where the
// user may create databases, e.g.
//   COLLECTIONS_TEST_PG="postgresql://host=127.0.0.1 port=55432 user=postgres
//   dbname=postgres"
// Each PostgreSQL test gets a fresh database ct_<random>, dropped after it.
#include "storage/store.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "soci/soci.h"
#include "storage/schema.h"
#include "storage/sql.h"
#include "workflow/dates.h"
#include "workflow/policy.h"
#include "workflow/state_machine.h"

namespace collections::storage {
namespace {

using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;

constexpr int64_t CNY = 100;
constexpr int64_t k2To31 = int64_t{1} << 31;
const absl::Time kNow = absl::FromUnixSeconds(1'795'000'000);

v1::Date D(int y, int m, int d) {
  return workflow::DayToProto(absl::CivilDay(y, m, d));
}

google::protobuf::Timestamp Ts(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

// --- Test databases ---------------------------------------------------------

class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  virtual std::string connection() const = 0;
};

class SqliteDatabase : public TestDatabase {
 public:
  SqliteDatabase() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "storage_test.XXXXXX")
            .string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
  }
  ~SqliteDatabase() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string connection() const override {
    return absl::StrCat("sqlite3://db=", dir_, "/collections.db");
  }

 private:
  std::string dir_;
};

class PostgresDatabase : public TestDatabase {
 public:
  explicit PostgresDatabase(std::string admin) : admin_(std::move(admin)) {
    std::random_device rd;
    name_ = absl::StrFormat("ct_%08x%08x", rd(), rd());
    soci::session sql(admin_);
    sql << "SET client_min_messages TO WARNING";
    sql << "CREATE DATABASE " << name_;
  }
  ~PostgresDatabase() override {
    try {
      soci::session sql(admin_);
      sql << "SET client_min_messages TO WARNING";
      sql << "DROP DATABASE IF EXISTS " << name_ << " WITH (FORCE)";
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop " << name_ << ": " << e.what();
    }
  }
  // The admin connection string with this database's dbname.
  std::string connection() const override {
    std::string c = admin_;
    size_t at = c.find("dbname=");
    if (at != std::string::npos) {
      size_t end = c.find(' ', at);
      c.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
    }
    while (!c.empty() && c.back() == ' ') c.pop_back();
    return absl::StrCat(c, " dbname=", name_);
  }

 private:
  std::string admin_;
  std::string name_;
};

// --- Transitions built by hand, so that storage is tested on its own -------

workflow::TaskSpec MakeTask(v1::TaskType type, const std::string& queue,
                            int64_t priority, absl::Time not_before) {
  workflow::TaskSpec t;
  t.type = type;
  t.queue = queue;
  t.priority = priority;
  t.not_before = not_before;
  t.deadline = not_before + absl::Hours(24);
  t.cost_fen = 10;
  t.payload.set_borrower_name("Li Lei");
  t.payload.set_phone("+86 138 0000 0000");
  t.payload.set_script_key("reminder.sms.friendly");
  return t;
}

// Opens case `case_id` for `loan`: a mild REMINDER case with an SMS task,
// a reminder call due a day later, and a promise timer.
workflow::Transition Opening(int64_t case_id, const std::string& loan,
                             int64_t overdue_fen = 3'000 * CNY) {
  workflow::Transition t;
  v1::Case& c = t.next;
  c.set_case_id(case_id);
  c.set_version(1);
  c.set_policy_version(1);
  c.set_loan_id(loan);
  c.set_product("mortgage");
  c.mutable_borrower()->set_borrower_id("B-" + loan);
  c.mutable_borrower()->set_name("Li Lei");
  c.mutable_borrower()->add_phones("+86 138 0000 0000");
  c.mutable_borrower()->set_region("ZJ");
  c.set_principal_outstanding_fen(1'000'000 * CNY);
  c.mutable_overdue()->set_principal_fen(overdue_fen);
  *c.mutable_oldest_unpaid_due_date() = D(2026, 10, 20);
  *c.mutable_as_of() = D(2026, 11, 1);
  *c.mutable_business_date() = D(2026, 11, 1);
  *c.mutable_opened_on() = D(2026, 11, 1);
  *c.mutable_stage_entered_on() = D(2026, 11, 1);
  c.set_days_past_due(12);
  c.mutable_classification()->set_case_class(v1::CASE_CLASS_MILD);
  c.set_stage(v1::STAGE_REMINDER);
  c.set_assigned_queue("sms");
  *c.mutable_updated_at() = Ts(kNow);

  v1::CaseEvent& e = t.event;
  e.set_case_id(case_id);
  e.set_sequence(1);
  *e.mutable_occurred_at() = Ts(kNow);
  *e.mutable_business_date() = D(2026, 11, 1);
  e.set_actor("ingest:test");
  e.set_policy_version(1);
  e.mutable_imported()->set_loan_id(loan);
  *e.mutable_imported()->mutable_as_of() = D(2026, 11, 1);
  e.mutable_imported()->mutable_overdue()->set_principal_fen(overdue_fen);
  e.set_stage_after(v1::STAGE_REMINDER);

  t.create_tasks = {MakeTask(v1::TASK_TYPE_SMS_REMINDER, "sms", 200, kNow),
                    MakeTask(v1::TASK_TYPE_REMINDER_CALL, "call.early", 100,
                             kNow + absl::Hours(24))};
  t.set_timers = {
      {{workflow::TimerKind::kPromiseDue, 7}, absl::CivilDay(2026, 11, 10)}};
  return t;
}

// The next version of `current`: an agent's note, no effects.
workflow::Transition Following(const v1::Case& current,
                               absl::Time at = kNow + absl::Minutes(1)) {
  workflow::Transition t;
  t.next = current;
  t.next.set_version(current.version() + 1);
  *t.next.mutable_updated_at() = Ts(at);
  v1::CaseEvent& e = t.event;
  e.set_case_id(current.case_id());
  e.set_sequence(t.next.version());
  *e.mutable_occurred_at() = Ts(at);
  *e.mutable_business_date() = current.business_date();
  e.set_actor("agent:a1");
  e.set_policy_version(current.policy_version());
  e.mutable_signal()->mutable_note()->set_text("called, no answer");
  return t;
}

// --- The fixture
// --------------------------------------------------------------

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    RegisterBackends();
    if (GetParam() == Backend::kPostgres) {
      const char* admin = std::getenv("COLLECTIONS_TEST_PG");
      if (admin == nullptr || *admin == '\0') {
        GTEST_SKIP() << "PostgreSQL not tested: set COLLECTIONS_TEST_PG to a "
                        "connection string, e.g. \"postgresql://host=127.0.0.1 "
                        "port=55432 user=postgres dbname=postgres\"";
      }
      try {
        db_ = std::make_unique<PostgresDatabase>(admin);
      } catch (const std::exception& e) {
        FAIL() << "cannot create a test database with COLLECTIONS_TEST_PG=\""
               << admin << "\": " << e.what();
      }
    } else {
      db_ = std::make_unique<SqliteDatabase>();
    }
    OpenStore();
  }

  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  void OpenStore(StoreOptions options = StoreOptions()) {
    options.connection = db_->connection();
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // A session of our own, to look at tables directly.
  std::unique_ptr<soci::session> Raw() {
    auto sql = std::make_unique<soci::session>(db_->connection());
    if (GetParam() == Backend::kPostgres) {
      *sql << "SET client_min_messages TO WARNING";
    }
    return sql;
  }

  absl::Status Apply(const workflow::Transition& t, int64_t expected) {
    return store_->Write(
        [&](UnitOfWork& uow) { return uow.Apply(t, expected); });
  }

  // Opens a case for `loan` with an id from the "case" sequence.
  v1::Case Open(const std::string& loan, int64_t overdue_fen = 3'000 * CNY) {
    workflow::Transition t;
    absl::Status s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
      absl::StatusOr<int64_t> id = uow.AllocateIds("case", 1);
      if (!id.ok()) return id.status();
      t = Opening(*id, loan, overdue_fen);
      return uow.Apply(t, 0);
    });
    EXPECT_TRUE(s.ok()) << s;
    return t.next;
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         BackendName);

// --- Schema
// ---------------------------------------------------------------------

TEST_P(StoreTest, MigrationsAreRecordedAndIdempotentOnReopen) {
  EXPECT_EQ(store_->backend(), GetParam());
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  auto read_migrations = [&] {
    std::vector<std::string> rows;
    auto sql = Raw();
    long long version = 0, applied = 0;
    std::string name;
    soci::statement st =
        (sql->prepare << "SELECT version, name, applied_at_us "
                         "FROM schema_migrations ORDER BY version",
         soci::into(version), soci::into(name), soci::into(applied));
    st.execute();
    while (st.fetch())
      rows.push_back(absl::StrCat(version, " ", name, " ", applied));
    return rows;
  };
  std::vector<std::string> before = read_migrations();
  // One row per migration, the last one the latest (versions may skip a
  // number while branches are merged).
  ASSERT_FALSE(before.empty());
  EXPECT_EQ(before[0].substr(0, 2), "1 ");
  EXPECT_EQ(before.back().substr(0, before.back().find(' ')),
            absl::StrCat(LatestSchemaVersion()));

  Open("L-1");
  store_.reset();
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(read_migrations(), before);            // nothing re-applied
  EXPECT_TRUE(store_->GetCaseByLoan("L-1").ok());  // and the data is there

  auto sql = Raw();
  for (const char* table :
       {"id_sequences", "business_date", "policies", "cases", "case_events",
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
  *sql << "SELECT recovered_fen, unallocated_fen FROM report_events WHERE case_id = "
       << c.case_id() << " AND seq = " << t.event.sequence(),
      soci::into(recovered), soci::into(unallocated);
  EXPECT_EQ(recovered, 3'000 * CNY);
  EXPECT_EQ(unallocated, 500 * CNY);

  // A database at schema 5 (the columns and tables of migrations 6 and 7
  // dropped, their records forgotten) with a report row of that time:
  // reopening migrates it, the row reads 0.
  store_.reset();
  *sql << "ALTER TABLE report_events DROP COLUMN unallocated_fen";
  *sql << "DROP TABLE contact_borrowers";
  *sql << "ALTER TABLE contacts DROP COLUMN ended";
  *sql << "DELETE FROM schema_migrations WHERE version >= 6";
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  *sql << "SELECT recovered_fen, unallocated_fen FROM report_events WHERE case_id = "
       << c.case_id() << " AND seq = " << t.event.sequence(),
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

TEST_P(StoreTest, SqliteBusyIsAborted) {
  if (GetParam() != Backend::kSqlite) GTEST_SKIP() << "SQLite only";
  StoreOptions options;
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
      EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable)
          << c.status();
      ++unavailable;
    }
  }
  EXPECT_LE(unavailable, defaults.read_pool_size);
  absl::StatusOr<v1::Case> c = store_->GetCase(1);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->version(), 2);
}

TEST_P(StoreTest, RejectsUnknownConnectionStrings) {
  StoreOptions options;
  options.connection = "mysql://db=x";
  EXPECT_EQ(Store::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, UnreachableDatabaseIsUnavailable) {
  StoreOptions options;
  options.connection =
      GetParam() == Backend::kSqlite
          ? "sqlite3://db=/nonexistent-dir/x.db"
          : "postgresql://host=127.0.0.1 port=1 dbname=x connect_timeout=2";
  EXPECT_EQ(Store::Open(options).status().code(),
            absl::StatusCode::kUnavailable);
}

// --- Cases, events, tasks, timers
// -------------------------------------------------

TEST_P(StoreTest, OpeningTransitionReadsBack) {
  workflow::Transition t;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    absl::StatusOr<int64_t> id = uow.AllocateIds("case", 1);
                    if (!id.ok()) return id.status();
                    EXPECT_EQ(*id, 1);  // a new sequence starts at 1
                    t = Opening(*id, "L-1");
                    return uow.Apply(t, 0);
                  })
                  .ok());

  absl::StatusOr<v1::Case> c = store_->GetCase(1);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*c, t.next)) << c->DebugString();
  absl::StatusOr<v1::Case> by_loan = store_->GetCaseByLoan("L-1");
  ASSERT_TRUE(by_loan.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*by_loan, t.next));
  EXPECT_EQ(store_->GetCase(2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetCaseByLoan("L-2").status().code(),
            absl::StatusCode::kNotFound);

  absl::StatusOr<std::vector<v1::CaseEvent>> events = store_->ListEvents(1);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals((*events)[0], t.event));
  EXPECT_TRUE(store_->ListEvents(2)->empty());

  absl::StatusOr<std::vector<v1::Task>> tasks = store_->ListTasks(1);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const v1::Task& task = (*tasks)[i];
    const workflow::TaskSpec& spec = t.create_tasks[i];
    EXPECT_EQ(task.task_id(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(task.case_id(), 1);
    EXPECT_EQ(task.type(), spec.type);
    EXPECT_EQ(task.queue(), spec.queue);
    EXPECT_EQ(task.state(), v1::TASK_STATE_READY);
    EXPECT_EQ(task.priority(), spec.priority);
    EXPECT_EQ(task.not_before().seconds(),
              absl::ToUnixSeconds(spec.not_before));
    EXPECT_EQ(task.deadline().seconds(), absl::ToUnixSeconds(spec.deadline));
    EXPECT_EQ(task.attempts(), 0);
    EXPECT_EQ(task.lease_token(), 0);
    EXPECT_FALSE(task.has_lease_expires_at());
    EXPECT_TRUE(MessageDifferencer::Equals(task.payload(), spec.payload));
  }
  absl::StatusOr<v1::Task> one = store_->GetTask(2);
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*one, (*tasks)[1]));
  EXPECT_EQ(store_->GetTask(3).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<std::vector<workflow::TimerSpec>> timers =
      store_->ListTimers(1);
  ASSERT_TRUE(timers.ok());
  ASSERT_EQ(timers->size(), 1u);
  EXPECT_EQ((*timers)[0].timer, t.set_timers[0].timer);
  EXPECT_EQ((*timers)[0].due, t.set_timers[0].due);

  // The columns beside the body.
  auto sql = Raw();
  std::string type, actor, queue;
  long long day = 0, total = 0;
  int stage = 0;
  *sql << "SELECT event_type, actor, business_day FROM case_events "
          "WHERE case_id = 1 AND seq = 1",
      soci::into(type), soci::into(actor), soci::into(day);
  EXPECT_EQ(type, "imported");
  EXPECT_EQ(actor, "ingest:test");
  EXPECT_EQ(day, workflow::DayNumber(absl::CivilDay(2026, 11, 1)));
  *sql << "SELECT stage, assigned_queue, overdue_total_fen FROM cases "
          "WHERE case_id = 1",
      soci::into(stage), soci::into(queue), soci::into(total);
  EXPECT_EQ(stage, v1::STAGE_REMINDER);
  EXPECT_EQ(queue, "sms");
  EXPECT_EQ(total, 3'000 * CNY);
}

TEST_P(StoreTest, IdsAndAmountsAbove2To31RoundTripExactly) {
  const int64_t case_id = k2To31 + 5;
  const int64_t task_id = (int64_t{1} << 32) + 7;
  const int64_t handoff = (int64_t{1} << 33) + 1;
  const int64_t overdue = 3'000'000'000'00;       // 3 billion CNY
  const int64_t principal = 900'000'000'000'000;  // 9 trillion CNY
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    if (auto s = uow.SetNextId("case", case_id); !s.ok())
                      return s;
                    if (auto s = uow.SetNextId("task", task_id); !s.ok())
                      return s;
                    return uow.SetNextId("handoff", handoff);
                  })
                  .ok());

  workflow::Transition t;
  int64_t next_case = 0;
  ASSERT_TRUE(
      store_
          ->Write([&](UnitOfWork& uow) -> absl::Status {
            absl::StatusOr<int64_t> id = uow.AllocateIds("case", 1);
            if (!id.ok()) return id.status();
            EXPECT_EQ(*id, case_id);
            t = Opening(*id, "L-big", overdue);
            t.next.set_principal_outstanding_fen(principal);
            t.next.mutable_classification()->set_overdue_total_fen(overdue);
            t.create_tasks[0].priority = 3'000'000'123'456;
            t.create_tasks[0].cost_fen = overdue;
            t.create_tasks[0].payload.set_overdue_total_fen(overdue);
            t.set_timers[0].timer.ref = k2To31 + 9;
            t.handoff =
                workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "severe"};
            if (auto s = uow.Apply(t, 0); !s.ok()) return s;
            absl::StatusOr<int64_t> after = uow.AllocateIds("case", 1);
            if (!after.ok()) return after.status();
            next_case = *after;
            return absl::OkStatus();
          })
          .ok());
  EXPECT_EQ(next_case, case_id + 1);

  absl::StatusOr<v1::Case> c = store_->GetCase(case_id);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->case_id(), case_id);
  EXPECT_EQ(c->overdue().principal_fen(), overdue);
  EXPECT_EQ(c->principal_outstanding_fen(), principal);
  EXPECT_TRUE(MessageDifferencer::Equals(*c, t.next));

  absl::StatusOr<std::vector<v1::Task>> tasks = store_->ListTasks(case_id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].task_id(), task_id);
  EXPECT_EQ((*tasks)[1].task_id(), task_id + 1);
  EXPECT_EQ((*tasks)[0].case_id(), case_id);
  EXPECT_EQ((*tasks)[0].priority(), 3'000'000'123'456);
  EXPECT_EQ((*tasks)[0].payload().overdue_total_fen(), overdue);
  EXPECT_TRUE(store_->GetTask(task_id + 1).ok());

  absl::StatusOr<std::vector<workflow::TimerSpec>> timers =
      store_->ListTimers(case_id);
  ASSERT_TRUE(timers.ok());
  ASSERT_EQ(timers->size(), 1u);
  EXPECT_EQ((*timers)[0].timer.ref, k2To31 + 9);

  absl::StatusOr<std::vector<v1::Handoff>> handoffs =
      store_->ListHandoffs("", 0, 10);
  ASSERT_TRUE(handoffs.ok()) << handoffs.status();
  ASSERT_EQ(handoffs->size(), 1u);
  EXPECT_EQ((*handoffs)[0].sequence(), handoff);
  EXPECT_EQ((*handoffs)[0].case_id(), case_id);
  EXPECT_EQ((*handoffs)[0].kind(), v1::HANDOFF_KIND_NEW_CASE);
  EXPECT_EQ((*handoffs)[0].reason(), "severe");
  EXPECT_TRUE(MessageDifferencer::Equals((*handoffs)[0].case_(), t.next));
  EXPECT_TRUE(store_->ListHandoffs("", handoff, 10)->empty());

  // The BIGINT columns themselves, read as long long.
  auto sql = Raw();
  long long id = 0, total = 0, outstanding = 0, cost = 0, task = 0;
  *sql << "SELECT case_id, overdue_total_fen, principal_outstanding_fen "
          "FROM cases WHERE loan_id = 'L-big'",
      soci::into(id), soci::into(total), soci::into(outstanding);
  EXPECT_EQ(id, case_id);
  EXPECT_EQ(total, overdue);
  EXPECT_EQ(outstanding, principal);
  *sql << "SELECT task_id, cost_fen FROM tasks WHERE priority = 3000000123456",
      soci::into(task), soci::into(cost);
  EXPECT_EQ(task, task_id);
  EXPECT_EQ(cost, overdue);

  CaseFilter f;
  f.after_case_id = k2To31;
  absl::StatusOr<std::vector<v1::Case>> listed = store_->ListCases(f);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].case_id(), case_id);
}

TEST_P(StoreTest, InsertingAnExistingCaseIsAlreadyExists) {
  ASSERT_TRUE(Apply(Opening(1, "L-1"), 0).ok());
  EXPECT_EQ(Apply(Opening(1, "L-2"), 0).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Apply(Opening(2, "L-1"), 0).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetCaseByLoan("L-2").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->ListEvents(2)->empty());
  EXPECT_EQ(store_->ListTasks(1)->size(), 2u);
}

TEST_P(StoreTest, VersionConflictIsAbortedAndWritesNothing) {
  v1::Case c1 = Open("L-1");
  // Version 2: the stage moves on; open tasks are cancelled, a new one made.
  workflow::Transition t2 = Following(c1);
  t2.next.set_stage(v1::STAGE_COUNSELLING);
  t2.cancel_open_tasks = true;
  t2.clear_all_timers = true;
  t2.create_tasks = {
      MakeTask(v1::TASK_TYPE_COUNSELLING_CALL, "call.counselling", 500, kNow)};
  ASSERT_TRUE(Apply(t2, 1).ok());

  // A writer that read version 1 loses, with all its effects.
  workflow::Transition stale = Following(c1);
  stale.create_tasks = {MakeTask(v1::TASK_TYPE_HOME_VISIT, "field", 900, kNow)};
  stale.set_timers = {
      {{workflow::TimerKind::kPromiseDue, 99}, absl::CivilDay(2026, 12, 1)}};
  stale.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "x"};
  absl::Status s = Apply(stale, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_NE(s.message().find("changed concurrently"), std::string::npos) << s;
  // So does one that expects a version the case never had.
  workflow::Transition ahead = Following(t2.next);
  ahead.next.set_version(6);
  ahead.event.set_sequence(6);
  EXPECT_EQ(Apply(ahead, 5).code(), absl::StatusCode::kAborted);

  absl::StatusOr<v1::Case> now = store_->GetCase(c1.case_id());
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*now, t2.next));
  EXPECT_EQ(store_->ListEvents(c1.case_id())->size(), 2u);
  std::vector<v1::Task> tasks = *store_->ListTasks(c1.case_id());
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].state(), v1::TASK_STATE_CANCELLED);
  EXPECT_EQ(tasks[1].state(), v1::TASK_STATE_CANCELLED);
  EXPECT_EQ(tasks[2].state(), v1::TASK_STATE_READY);
  EXPECT_EQ(tasks[2].type(), v1::TASK_TYPE_COUNSELLING_CALL);
  EXPECT_TRUE(store_->ListTimers(c1.case_id())->empty());
  EXPECT_TRUE(store_->ListHandoffs("", 0, 10)->empty());

  // A transition that does not follow its expected version is a bug.
  EXPECT_EQ(Apply(Following(t2.next), 1).code(), absl::StatusCode::kInternal);
}

TEST_P(StoreTest, FailedCommandLeavesNothingHalfWritten) {
  v1::Case c1 = Open("L-1");
  workflow::Transition paid = Following(c1);
  paid.event.mutable_payment()->set_payment_id("P-1");
  paid.event.mutable_payment()->set_amount_fen(500 * CNY);
  *paid.event.mutable_payment()->mutable_paid_on() = D(2026, 11, 2);
  ASSERT_TRUE(Apply(paid, 1).ok());
  absl::StatusOr<std::optional<StoredPayment>> p;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) {
                    p = uow.FindPayment("P-1");
                    return p.status();
                  })
                  .ok());
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->case_id, c1.case_id());
  EXPECT_EQ((*p)->payment.amount_fen(), 500 * CNY);

  // The same payment id again: the case row is written before the payment
  // row fails, so the command fails even though it ignores the error.
  workflow::Transition again = Following(paid.next);
  *again.event.mutable_payment() = paid.event.payment();
  again.create_tasks = {MakeTask(v1::TASK_TYPE_SMS_REMINDER, "sms", 1, kNow)};
  absl::Status s = store_->Write([&](UnitOfWork& uow) {
    uow.Apply(again, 2).IgnoreError();
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;

  // A command that applies and then fails rolls its writes back.
  workflow::Transition note = Following(paid.next);
  note.create_tasks = {MakeTask(v1::TASK_TYPE_SMS_REMINDER, "sms", 1, kNow)};
  s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
    if (auto a = uow.Apply(note, 2); !a.ok()) return a;
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  // And one that throws.
  s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
    if (auto a = uow.Apply(note, 2); !a.ok()) return a;
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("boom"), std::string::npos);

  absl::StatusOr<v1::Case> c = store_->GetCase(c1.case_id());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->version(), 2);
  EXPECT_EQ(store_->ListEvents(c1.case_id())->size(), 2u);
  EXPECT_EQ(store_->ListTasks(c1.case_id())->size(), 2u);
}

TEST_P(StoreTest, FailingCommandsInABatchDoNotAffectTheOthers) {
  // Case 1 holds handoff sequence 1, so that a command rewinding the
  // sequence hits a real database error (a primary key violation) in the
  // middle of its transition: PostgreSQL aborts the transaction there, and
  // only the command's savepoint saves the rest of the batch.
  {
    workflow::Transition t = Opening(1, "L-0");
    t.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "first"};
    ASSERT_TRUE(Apply(t, 0).ok());
  }

  // Hold the writer so that everything below queues up into one batch.
  std::promise<void> started, release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<absl::Status> blocker_done;
  store_->Submit(
      [&started, gate](UnitOfWork&) {
        started.set_value();
        gate.wait();
        return absl::OkStatus();
      },
      [&](absl::Status s) { blocker_done.set_value(s); });
  started.get_future().wait();

  enum Kind { kOk, kDuplicateLoan, kFailsAfterWriting, kThrows, kDbError };
  const std::vector<Kind> kinds = {
      kOk, kDuplicateLoan, kOk,      kFailsAfterWriting,
      kOk, kThrows,        kDbError, kOk};
  std::vector<std::promise<absl::Status>> done(kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) {
    const Kind kind = kinds[i];
    const int64_t case_id = 100 + i;
    store_->Submit(
        [kind, case_id](UnitOfWork& uow) -> absl::Status {
          workflow::Transition t = Opening(
              case_id, kind == kDuplicateLoan ? std::string("L-0")
                                              : absl::StrCat("L-", case_id));
          t.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "batch"};
          if (kind == kDbError) {
            if (auto s = uow.SetNextId("handoff", 1); !s.ok()) return s;
            uow.Apply(t, 0).IgnoreError();
            return absl::OkStatus();  // poisoned: fails anyway
          }
          if (auto s = uow.Apply(t, 0); !s.ok()) return s;
          if (kind == kFailsAfterWriting) return absl::CancelledError("no");
          if (kind == kThrows) throw std::runtime_error("thrown");
          return absl::OkStatus();
        },
        [&done, i](absl::Status s) { done[i].set_value(s); });
  }
  release.set_value();
  ASSERT_TRUE(blocker_done.get_future().get().ok());

  for (size_t i = 0; i < kinds.size(); ++i) {
    absl::Status s = done[i].get_future().get();
    const std::string loan = absl::StrCat("L-", 100 + i);
    switch (kinds[i]) {
      case kOk:
        EXPECT_TRUE(s.ok()) << i << ": " << s;
        EXPECT_TRUE(store_->GetCaseByLoan(loan).ok()) << loan;
        EXPECT_EQ(store_->ListTasks(100 + i)->size(), 2u);
        break;
      case kDuplicateLoan:
        EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
        break;
      case kFailsAfterWriting:
        EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
        break;
      case kThrows:
        EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
        break;
      case kDbError:
        EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
        break;
    }
    if (kinds[i] != kOk) {
      EXPECT_EQ(store_->GetCase(100 + i).status().code(),
                absl::StatusCode::kNotFound)
          << i;
      EXPECT_TRUE(store_->ListTasks(100 + i)->empty());
    }
  }
  // The successful commands' handoffs follow case 1's without a gap: the
  // rewinding command's SetNextId was rolled back with it.
  std::vector<v1::Handoff> handoffs = *store_->ListHandoffs("", 0, 100);
  ASSERT_EQ(handoffs.size(), 5u);
  for (size_t i = 0; i < handoffs.size(); ++i) {
    EXPECT_EQ(handoffs[i].sequence(), static_cast<int64_t>(i + 1));
  }
  WriterStats stats = store_->writer_stats();
  EXPECT_GE(stats.largest_batch, static_cast<int64_t>(kinds.size()));
  EXPECT_EQ(stats.failed_commands, 4);
}

TEST_P(StoreTest, ConcurrentWritersAllLand) {
  constexpr int kThreads = 8, kPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
          absl::StatusOr<int64_t> id = uow.AllocateIds("case", 1);
          if (!id.ok()) return id.status();
          return uow.Apply(Opening(*id, absl::StrCat("L-", t, "-", i)), 0);
        });
        if (!s.ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  CaseFilter f;
  f.limit = 1000;
  EXPECT_EQ(store_->ListCases(f)->size(), size_t{kThreads * kPerThread});
  WriterStats stats = store_->writer_stats();
  EXPECT_EQ(stats.commands, kThreads * kPerThread);
  EXPECT_LE(stats.commits, stats.commands);
}

TEST_P(StoreTest, ReadsSeeOnlyCommittedData) {
  std::promise<void> applied, release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<absl::Status> done;
  store_->Submit(
      [&applied, gate](UnitOfWork& uow) -> absl::Status {
        if (auto s = uow.Apply(Opening(1, "L-1"), 0); !s.ok()) return s;
        applied.set_value();
        gate.wait();
        return absl::OkStatus();
      },
      [&](absl::Status s) { done.set_value(s); });
  applied.get_future().wait();
  EXPECT_EQ(store_->GetCaseByLoan("L-1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->ListEvents(1)->empty());
  release.set_value();
  ASSERT_TRUE(done.get_future().get().ok());
  EXPECT_TRUE(store_->GetCaseByLoan("L-1").ok());
}

TEST_P(StoreTest, ListCasesFiltersAndPages) {
  std::vector<v1::Case> cases;
  for (int i = 0; i < 5; ++i) cases.push_back(Open(absl::StrCat("L-", i)));
  // Case 3 (id 4) becomes severe legal action at 95 days, aged to 2026-12-01.
  workflow::Transition t = Following(cases[3]);
  t.next.set_stage(v1::STAGE_LEGAL_ACTION);
  t.next.mutable_classification()->set_case_class(v1::CASE_CLASS_SEVERE);
  t.next.set_days_past_due(95);
  t.next.set_assigned_queue("field");
  *t.next.mutable_business_date() = D(2026, 12, 1);
  ASSERT_TRUE(Apply(t, 1).ok());

  auto ids = [&](const CaseFilter& f) {
    std::vector<int64_t> out;
    absl::StatusOr<std::vector<v1::Case>> r = store_->ListCases(f);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      for (const v1::Case& c : *r) out.push_back(c.case_id());
    }
    return out;
  };
  using V = std::vector<int64_t>;
  CaseFilter f;
  EXPECT_EQ(ids(f), (V{1, 2, 3, 4, 5}));
  f.stages = {v1::STAGE_LEGAL_ACTION};
  EXPECT_EQ(ids(f), (V{4}));
  f.stages = {v1::STAGE_REMINDER, v1::STAGE_LEGAL_ACTION};
  EXPECT_EQ(ids(f), (V{1, 2, 3, 4, 5}));
  f = CaseFilter();
  f.classes = {v1::CASE_CLASS_MILD};
  EXPECT_EQ(ids(f), (V{1, 2, 3, 5}));
  f = CaseFilter();
  f.min_days_past_due = 90;
  EXPECT_EQ(ids(f), (V{4}));
  f = CaseFilter();
  f.max_days_past_due = 30;
  EXPECT_EQ(ids(f), (V{1, 2, 3, 5}));
  f = CaseFilter();
  f.assigned_queue = "field";
  EXPECT_EQ(ids(f), (V{4}));
  f = CaseFilter();
  f.business_date_before = absl::CivilDay(2026, 12, 1);
  EXPECT_EQ(ids(f), (V{1, 2, 3, 5}));
  f = CaseFilter();
  f.policy_version = 2;
  EXPECT_EQ(ids(f), V{});
  f = CaseFilter();
  f.updated_since = kNow + absl::Seconds(30);
  EXPECT_EQ(ids(f), (V{4}));
  f = CaseFilter();
  f.limit = 2;
  EXPECT_EQ(ids(f), (V{1, 2}));
  f.after_case_id = 2;
  EXPECT_EQ(ids(f), (V{3, 4}));
  f.after_case_id = 4;
  EXPECT_EQ(ids(f), (V{5}));
}

// --- Tasks
// ---------------------------------------------------------------------------

TEST_P(StoreTest, TasksAreLeasedFencedAndExpire) {
  v1::Case a = Open("L-a");  // tasks 1 (sms, 200, now), 2 (call, 100, +24h)
  workflow::Transition tb = Opening(2, "L-b");
  tb.create_tasks = {MakeTask(v1::TASK_TYPE_SMS_REMINDER, "sms", 300, kNow)};
  ASSERT_TRUE(Apply(tb, 0).ok());  // task 3

  auto claim = [&](ClaimSpec spec) {
    std::vector<v1::Task> got;
    absl::Status s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
      absl::StatusOr<std::vector<v1::Task>> r = uow.ClaimTasks(spec);
      if (!r.ok()) return r.status();
      got = *r;
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return got;
  };
  ClaimSpec spec;
  spec.queues = {"sms"};
  spec.worker = "w1";
  spec.max_tasks = 10;
  spec.lease = absl::Minutes(5);
  spec.now = kNow;
  std::vector<v1::Task> leased = claim(spec);
  ASSERT_EQ(leased.size(), 2u);
  EXPECT_EQ(leased[0].task_id(), 3);  // the more urgent first
  EXPECT_EQ(leased[1].task_id(), 1);
  for (const v1::Task& t : leased) {
    EXPECT_EQ(t.state(), v1::TASK_STATE_LEASED);
    EXPECT_EQ(t.lease_owner(), "w1");
    EXPECT_EQ(t.lease_token(), 1);
    EXPECT_EQ(t.attempts(), 1);
    EXPECT_EQ(t.lease_expires_at().seconds(),
              absl::ToUnixSeconds(kNow + absl::Minutes(5)));
    absl::StatusOr<v1::Task> stored = store_->GetTask(t.task_id());
    ASSERT_TRUE(stored.ok());
    EXPECT_TRUE(MessageDifferencer::Equals(*stored, t))
        << stored->DebugString();
  }
  EXPECT_TRUE(claim(spec).empty());  // nothing is handed out twice

  // Not before its time.
  spec.queues = {"call.early"};
  EXPECT_TRUE(claim(spec).empty());
  spec.now = kNow + absl::Hours(25);
  spec.types = {v1::TASK_TYPE_HOME_VISIT};
  EXPECT_TRUE(claim(spec).empty());
  spec.types = {v1::TASK_TYPE_REMINDER_CALL};
  // Compliance holds keep it in the queue, with the reason recorded.
  spec.hold = [](const v1::Task&) {
    return std::string("outside contact window");
  };
  EXPECT_TRUE(claim(spec).empty());
  EXPECT_EQ(store_->GetTask(2)->hold_reason(), "outside contact window");
  EXPECT_EQ(store_->GetTask(2)->state(), v1::TASK_STATE_READY);
  spec.hold = nullptr;
  ASSERT_EQ(claim(spec).size(), 1u);
  EXPECT_EQ(store_->GetTask(2)->hold_reason(), "");

  auto write = [&](auto f) { return store_->Write(f); };
  v1::TaskOutcome outcome;
  outcome.mutable_sms()->set_delivered(true);
  const absl::Time t1 = kNow + absl::Minutes(1);
  // Stale token, unknown task, then the real completion, then again.
  EXPECT_EQ(write([&](UnitOfWork& u) {
              return u.CompleteTask(3, 2, outcome, t1).status();
            }).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(write([&](UnitOfWork& u) {
              return u.CompleteTask(99, 1, outcome, t1).status();
            }).code(),
            absl::StatusCode::kNotFound);
  v1::Task completed;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<v1::Task> r = u.CompleteTask(3, 1, outcome, t1);
                if (r.ok()) completed = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(completed.type(), v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_EQ(store_->GetTask(3)->state(), v1::TASK_STATE_COMPLETED);
  EXPECT_EQ(write([&](UnitOfWork& u) {
              return u.CompleteTask(3, 1, outcome, t1).status();
            }).code(),
            absl::StatusCode::kFailedPrecondition);

  // Task 1: extend, then return it for a retry in an hour.
  ASSERT_TRUE(
      write([&](UnitOfWork& u) {
        return u.ExtendLease(1, 1, kNow + absl::Minutes(30), t1).status();
      }).ok());
  EXPECT_EQ(store_->GetTask(1)->lease_expires_at().seconds(),
            absl::ToUnixSeconds(kNow + absl::Minutes(30)));
  ASSERT_TRUE(write([&](UnitOfWork& u) {
                return u
                    .ReturnTask(1, 1, kNow + absl::Hours(1), false,
                                "gateway down", t1)
                    .status();
              }).ok());
  absl::StatusOr<v1::Task> returned = store_->GetTask(1);
  EXPECT_EQ(returned->state(), v1::TASK_STATE_READY);
  EXPECT_EQ(returned->hold_reason(), "gateway down");
  EXPECT_EQ(returned->lease_owner(), "");
  spec = ClaimSpec();
  spec.queues = {"sms"};
  spec.worker = "w2";
  spec.now = kNow + absl::Minutes(2);
  EXPECT_TRUE(claim(spec).empty());
  spec.now = kNow + absl::Hours(2);
  leased = claim(spec);
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(leased[0].lease_token(), 2);  // a new token fences off w1
  EXPECT_EQ(leased[0].attempts(), 2);
  EXPECT_EQ(write([&](UnitOfWork& u) {
              return u.CheckLease(1, 1, kNow + absl::Hours(2)).status();
            }).code(),
            absl::StatusCode::kFailedPrecondition);

  // Its lease (5 minutes by default) runs out: back in the queue.
  std::vector<int64_t> expired;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<std::vector<int64_t>> r =
                    u.ExpireLeases(kNow + absl::Hours(3), 100);
                if (r.ok()) expired = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(expired, (std::vector<int64_t>{1}));
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_READY);
  EXPECT_EQ(
      write([&](UnitOfWork& u) {
        return u.CompleteTask(1, 2, outcome, kNow + absl::Hours(3)).status();
      }).code(),
      absl::StatusCode::kFailedPrecondition);
  // An expired lease cannot be completed even before the sweep.
  spec.now = kNow + absl::Hours(4);
  leased = claim(spec);
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(
      write([&](UnitOfWork& u) {
        return u.CompleteTask(1, 3, outcome, kNow + absl::Hours(5)).status();
      }).code(),
      absl::StatusCode::kFailedPrecondition);
  // Failing too often: an incident.
  ASSERT_TRUE(write([&](UnitOfWork& u) {
                return u
                    .ReturnTask(1, 3, kNow, true, "3 failures",
                                kNow + absl::Hours(4))
                    .status();
              }).ok());
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_INCIDENT);
  (void)a;
}

// What TaskService builds on: the ready-task report after commits, release,
// deferral, the next ready time, call counts and the supervisors' list.
TEST_P(StoreTest, ReadyTasksReleasesDeferralsAndCallCounts) {
  std::mutex mu;
  std::vector<ReadyTask> reported;
  store_.reset();
  StoreOptions options;
  options.on_tasks_ready = [&](const std::vector<ReadyTask>& ready) {
    std::lock_guard<std::mutex> lock(mu);
    reported.insert(reported.end(), ready.begin(), ready.end());
  };
  OpenStore(options);
  auto take = [&] {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> queues;
    for (const ReadyTask& r : reported) queues.push_back(r.queue);
    reported.clear();
    return queues;
  };
  // Created tasks are reported once committed; a rolled-back command's not.
  v1::Case a = Open("L-a");  // tasks 1 (sms, now), 2 (call.early, +24h)
  EXPECT_EQ(take(), (std::vector<std::string>{"sms", "call.early"}));
  EXPECT_EQ(store_->Write([&](UnitOfWork& uow) -> absl::Status {
              EXPECT_TRUE(uow.Apply(Opening(7, "L-b"), 0).ok());
              return absl::AbortedError("changed my mind");
            }).code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(take().empty());

  auto write = [&](auto f) { return store_->Write(f); };
  ClaimSpec spec;
  spec.queues = {"sms"};
  spec.worker = "w1";
  spec.now = kNow;
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.ClaimTasks(spec).status(); }).ok());
  EXPECT_EQ(store_->GetTask(1)->attempts(), 1);
  // A release gives the attempt back and makes the task ready again.
  v1::Task released;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<v1::Task> r = u.ReleaseTask(1, 1, kNow);
                if (r.ok()) released = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(released.task_id(), 1);
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_READY);
  EXPECT_EQ(store_->GetTask(1)->attempts(), 0);
  EXPECT_EQ(take(), (std::vector<std::string>{"sms"}));
  EXPECT_EQ(write([&](UnitOfWork& u) { return u.ReleaseTask(1, 1, kNow).status(); }).code(),
            absl::StatusCode::kFailedPrecondition);

  // Deferred: out of the claimable set until then; the next ready time says when.
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.DeferTask(1, kNow + absl::Hours(2)); }).ok());
  EXPECT_EQ(write([&](UnitOfWork& u) { return u.ClaimTasks(spec).status(); }).code(),
            absl::StatusCode::kOk);
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_READY);
  std::optional<absl::Time> next;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<std::optional<absl::Time>> r =
                    u.NextReadyTime({"sms", "call.early"}, kNow);
                if (r.ok()) next = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(next, kNow + absl::Hours(2));

  // Calls per borrower: today, connected today, unreported today (each a
  // reservation against the connected cap), and the last 7 days.
  auto record = [&](int64_t task, int64_t token, v1::TaskType type, absl::Time at) {
    ContactRecord c{task, token, a.case_id(), "B-L-a", type, at};
    return write([&](UnitOfWork& u) { return u.RecordContact(c); });
  };
  ASSERT_TRUE(record(2, 1, v1::TASK_TYPE_REMINDER_CALL, kNow - absl::Hours(72)).ok());
  ASSERT_TRUE(record(2, 2, v1::TASK_TYPE_REMINDER_CALL, kNow).ok());
  ASSERT_TRUE(record(2, 3, v1::TASK_TYPE_COUNSELLING_CALL, kNow).ok());
  ASSERT_TRUE(record(2, 4, v1::TASK_TYPE_COUNSELLING_CALL, kNow).ok());
  ASSERT_TRUE(record(2, 5, v1::TASK_TYPE_COUNSELLING_CALL, kNow).ok());
  ASSERT_TRUE(record(1, 9, v1::TASK_TYPE_SMS_REMINDER, kNow).ok());  // not a call
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.EndContact(2, 2, true); }).ok());
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.DeleteContact(2, 3); }).ok());
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.EndContact(2, 5, false); }).ok());
  CallCounts counts;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<CallCounts> r = u.CountCalls(
                    "B-L-a", kNow - absl::Hours(1), kNow - absl::Hours(24 * 6), kNow);
                if (r.ok()) counts = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(counts.attempts_today, 3);
  EXPECT_EQ(counts.connected_today, 1);
  EXPECT_EQ(counts.unreported_today, 1);  // (2, 4); (2, 1) is not today's
  EXPECT_EQ(counts.attempts_in_7_days, 4);

  // Supervisors' list: held tasks, by state and queue.
  spec.queues = {"call.early"};
  spec.now = kNow + absl::Hours(25);
  spec.hold = [](const v1::Task&) { return std::string("cap reached"); };
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.ClaimTasks(spec).status(); }).ok());
  TaskFilter filter;
  filter.held_only = true;
  absl::StatusOr<std::vector<v1::Task>> held = store_->FindTasks(filter);
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].task_id(), 2);
  filter = TaskFilter();
  filter.states = {v1::TASK_STATE_READY};
  filter.queues = {"sms"};
  filter.case_id = a.case_id();
  ASSERT_EQ(store_->FindTasks(filter)->size(), 1u);
  filter.after_task_id = 1;
  EXPECT_TRUE(store_->FindTasks(filter)->empty());
}

// Migration 7: a call in progress at the upgrade keeps its reservation
// against the connected cap; calls that ended before do not get one.
TEST_P(StoreTest, CallsInProgressAtTheUpgradeKeepTheirReservation) {
  const v1::Case a = Open("L-a");  // task 2: a call, ready from +24h
  const absl::Time at = kNow + absl::Hours(25);
  ClaimSpec spec;
  spec.queues = {"call.early"};
  spec.worker = "w1";
  spec.now = at;
  std::vector<v1::Task> leased;
  ASSERT_TRUE(store_->Write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<std::vector<v1::Task>> r = u.ClaimTasks(spec);
                if (r.ok()) leased = *r;
                return r.status();
              }).ok());
  ASSERT_EQ(leased.size(), 1u);
  const int64_t token = leased[0].lease_token();

  // Back to the contacts of schema 5, as a server before the upgrade left
  // them: the leased call, and an earlier lease of it that ended unconnected.
  store_.reset();
  {
    auto sql = Raw();
    *sql << "DELETE FROM schema_migrations WHERE version = 7";
    *sql << "DROP TABLE contact_borrowers";
    *sql << "ALTER TABLE contacts DROP COLUMN ended";
    const long long at_us = absl::ToUnixMicros(at);
    const long long case_id = a.case_id();
    for (long long t : {token, token - 1}) {
      *sql << "INSERT INTO contacts (task_id, lease_token, case_id, borrower_id, task_type, "
              "at_us, connected) VALUES (2, :token, :case_id, 'B-up', 2, :at, 0)",
          soci::use(t), soci::use(case_id), soci::use(at_us);
    }
  }
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  CallCounts counts;
  ASSERT_TRUE(store_->Write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<CallCounts> r =
                    u.CountCalls("B-up", at - absl::Hours(1), at - absl::Hours(24 * 6), at);
                if (r.ok()) counts = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(counts.attempts_today, 2);
  EXPECT_EQ(counts.connected_today, 0);
  EXPECT_EQ(counts.unreported_today, 1);
}

TEST_P(StoreTest, DueTimersComeEarliestFirst) {
  v1::Case a = Open("L-a");  // timer due 2026-11-10
  workflow::Transition tb = Opening(2, "L-b");
  tb.set_timers = {
      {{workflow::TimerKind::kInstalmentDue, 5001},
       absl::CivilDay(2026, 11, 12)},
      {{workflow::TimerKind::kPromiseDue, 3}, absl::CivilDay(2026, 11, 9)}};
  ASSERT_TRUE(Apply(tb, 0).ok());
  auto due = [&](absl::CivilDay day) {
    std::vector<DueTimer> out;
    EXPECT_TRUE(store_
                    ->Write([&](UnitOfWork& u) -> absl::Status {
                      absl::StatusOr<std::vector<DueTimer>> r =
                          u.DueTimers(day, 10);
                      if (r.ok()) out = *r;
                      return r.status();
                    })
                    .ok());
    return out;
  };
  EXPECT_TRUE(due(absl::CivilDay(2026, 11, 8)).empty());
  std::vector<DueTimer> d = due(absl::CivilDay(2026, 11, 10));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].case_id, 2);
  EXPECT_EQ(d[0].timer.timer.ref, 3);
  EXPECT_EQ(d[0].timer.due, absl::CivilDay(2026, 11, 9));
  EXPECT_EQ(d[1].case_id, a.case_id());
  d = due(absl::CivilDay(2027, 1, 1));
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[2].timer.timer.kind, workflow::TimerKind::kInstalmentDue);
  EXPECT_EQ(d[2].timer.timer.ref, 5001);

  // Clearing one and re-setting another (an upsert moves its date).
  workflow::Transition t = Following(tb.next);
  t.clear_timers = {{workflow::TimerKind::kPromiseDue, 3}};
  t.set_timers = {{{workflow::TimerKind::kInstalmentDue, 5001},
                   absl::CivilDay(2026, 12, 12)}};
  ASSERT_TRUE(Apply(t, 1).ok());
  std::vector<workflow::TimerSpec> timers = *store_->ListTimers(2);
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers[0].due, absl::CivilDay(2026, 12, 12));
}

// --- Idempotency, policies, business date
// -----------------------------------------

TEST_P(StoreTest, IdempotentResponses) {
  const std::string bytes("\x00\x01\xff response \n", 14);
  absl::StatusOr<std::optional<std::string>> found;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    if (!found.ok()) return found.status();
                    EXPECT_FALSE(found->has_value());
                    return u.SaveResponse("CompleteTask", "req-1", bytes);
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    EXPECT_TRUE(found.ok() && found->has_value() &&
                                **found == bytes);
                    found = u.FindResponse("RecordPayment", "req-1");
                    EXPECT_TRUE(found.ok() && !found->has_value());
                    return u.SaveResponse("CompleteTask", "req-1", "second");
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    EXPECT_TRUE(found.ok() && found->has_value() &&
                                **found == "second");
                    return found.status();
                  })
                  .ok());
  // A response saved by a failed command is not kept.
  EXPECT_FALSE(store_
                   ->Write([&](UnitOfWork& u) -> absl::Status {
                     if (auto s = u.SaveResponse("CompleteTask", "req-2", "x");
                         !s.ok())
                       return s;
                     return absl::AbortedError("retry");
                   })
                   .ok());
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-2");
                    EXPECT_TRUE(found.ok() && !found->has_value());
                    return found.status();
                  })
                  .ok());
}

TEST_P(StoreTest, PoliciesAreVersioned) {
  EXPECT_EQ(*store_->CurrentPolicyVersion(), 0);
  EXPECT_EQ(store_->GetPolicy(1).status().code(), absl::StatusCode::kNotFound);
  v1::Policy p1 = workflow::DefaultPolicy();
  v1::Policy p2 = workflow::DefaultPolicy();
  p2.set_name("stricter");
  p2.mutable_day_bands()->set_mild_max_days(20);
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    absl::StatusOr<int64_t> v1 = u.PutPolicy(p1);
                    if (!v1.ok()) return v1.status();
                    EXPECT_EQ(*v1, 1);
                    absl::StatusOr<int64_t> v2 = u.PutPolicy(p2);
                    if (!v2.ok()) return v2.status();
                    EXPECT_EQ(*v2, 2);
                    absl::StatusOr<std::optional<v1::Policy>> back =
                        u.LoadPolicy(2);
                    EXPECT_TRUE(back.ok() && back->has_value() &&
                                (*back)->name() == "stricter");
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(p1.version(), 1);
  EXPECT_EQ(p2.version(), 2);
  EXPECT_EQ(*store_->CurrentPolicyVersion(), 2);
  EXPECT_EQ(*store_->ListPolicyVersions(), (std::vector<int64_t>{1, 2}));
  absl::StatusOr<v1::Policy> got = store_->GetPolicy(1);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*got, p1));
  got = store_->GetPolicy(2);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*got, p2));
  EXPECT_EQ(store_->GetPolicy(3).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, BusinessDate) {
  EXPECT_EQ(store_->BusinessDate().status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_
                  ->Write([](UnitOfWork& u) {
                    EXPECT_EQ(u.BusinessDate().status().code(),
                              absl::StatusCode::kNotFound);
                    return u.SetBusinessDate(absl::CivilDay(2026, 11, 1));
                  })
                  .ok());
  EXPECT_EQ(*store_->BusinessDate(), absl::CivilDay(2026, 11, 1));
  ASSERT_TRUE(store_
                  ->Write([](UnitOfWork& u) -> absl::Status {
                    EXPECT_EQ(*u.BusinessDate(), absl::CivilDay(2026, 11, 1));
                    return u.SetBusinessDate(absl::CivilDay(2026, 12, 31));
                  })
                  .ok());
  EXPECT_EQ(*store_->BusinessDate(), absl::CivilDay(2026, 12, 31));
}

// --- Event log plus snapshot (DESIGN.md decision 2)
// --------------------------------

TEST_P(StoreTest, ReplayOfStoredEventsRebuildsTheStoredCase) {
  v1::Policy policy = workflow::DefaultPolicy();
  ASSERT_TRUE(
      store_->Write([&](UnitOfWork& u) { return u.PutPolicy(policy).status(); })
          .ok());
  ASSERT_EQ(policy.version(), 1);

  int64_t case_id = 0;
  absl::Time now = kNow;
  // Each step as a service runs it: load, decide, apply under the version.
  auto step = [&](v1::CaseEvent e) {
    now += absl::Minutes(7);
    absl::Status s = store_->Write([&](UnitOfWork& u) -> absl::Status {
      v1::Case current;
      if (case_id == 0) {
        absl::StatusOr<int64_t> id = u.AllocateIds("case", 1);
        if (!id.ok()) return id.status();
        e.set_case_id(*id);
      } else {
        absl::StatusOr<std::optional<v1::Case>> c = u.LoadCase(case_id);
        if (!c.ok()) return c.status();
        current = **c;
      }
      absl::StatusOr<workflow::Transition> t =
          workflow::Decide(current, e, policy, now);
      if (!t.ok()) return t.status();
      if (auto s = u.Apply(*t, current.version()); !s.ok()) return s;
      case_id = t->next.case_id();
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << workflow::EventKindName(e) << ": " << s;
  };
  auto event = [](v1::Date day, const std::string& actor) {
    v1::CaseEvent e;
    *e.mutable_business_date() = day;
    e.set_actor(actor);
    return e;
  };

  v1::CaseEvent imported = event(D(2026, 11, 1), "ingest:core");
  v1::DelinquencyRecord& r = *imported.mutable_imported();
  r.set_loan_id("L-replay");
  *r.mutable_as_of() = D(2026, 11, 1);
  *r.mutable_oldest_unpaid_due_date() = D(2026, 10, 20);
  r.mutable_borrower()->set_borrower_id("B-1");
  r.mutable_borrower()->set_name("Zhang Wei");
  r.mutable_borrower()->add_phones("+86 139 0000 0000");
  r.mutable_borrower()->set_address("8 Binjiang Rd, Hangzhou");
  r.mutable_borrower()->set_region("ZJ");
  r.set_product("mortgage");
  r.set_principal_outstanding_fen(800'000 * CNY);
  r.mutable_overdue()->set_principal_fen(3'000 * CNY);
  r.mutable_overdue()->set_interest_fen(400 * CNY);
  r.mutable_overdue()->set_penalty_fen(50 * CNY);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  step(imported);  // 12 days: mild, REMINDER
  ASSERT_NE(case_id, 0);

  v1::CaseEvent aged = event(D(2026, 11, 19), "system:aging");
  aged.mutable_aged();
  step(aged);  // 30 days: still mild
  *aged.mutable_business_date() = D(2026, 11, 20);
  step(aged);  // 31 days: moderate, COUNSELLING

  v1::CaseEvent payment = event(D(2026, 11, 22), "ingest:core");
  payment.mutable_payment()->set_payment_id("P-1");
  payment.mutable_payment()->set_amount_fen(450 * CNY);
  *payment.mutable_payment()->mutable_paid_on() = D(2026, 11, 22);
  payment.mutable_payment()->set_channel("bank transfer");
  step(payment);

  v1::CaseEvent promise = event(D(2026, 11, 23), "agent:a7");
  promise.mutable_signal()->mutable_promise_to_pay()->set_amount_fen(1'000 *
                                                                     CNY);
  *promise.mutable_signal()->mutable_promise_to_pay()->mutable_due_date() =
      D(2026, 12, 5);
  step(promise);

  v1::CaseEvent note = event(D(2026, 11, 23), "agent:a7");
  note.mutable_signal()->mutable_note()->set_text("lost job in October");
  step(note);

  *aged.mutable_business_date() = D(2027, 1, 18);
  step(aged);  // 90 days
  *aged.mutable_business_date() = D(2027, 1, 19);
  step(aged);  // 91 days: severe, LEGAL_ACTION

  v1::CaseEvent hardship = event(D(2027, 1, 20), "agent:a7");
  hardship.mutable_signal()->mutable_hardship_declared()->set_reason("illness");
  step(hardship);

  absl::StatusOr<v1::Case> stored = store_->GetCase(case_id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  absl::StatusOr<std::vector<v1::CaseEvent>> events =
      store_->ListEvents(case_id);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(static_cast<int64_t>(events->size()), stored->version());
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].sequence(), static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(stored->version(), 9);
  EXPECT_EQ(stored->days_past_due(), 91);
  EXPECT_EQ(stored->paid_total_fen(), 450 * CNY);
  EXPECT_EQ(stored->stage(), v1::STAGE_LEGAL_ACTION) << stored->DebugString();

  absl::StatusOr<v1::Policy> stored_policy = store_->GetPolicy(1);
  ASSERT_TRUE(stored_policy.ok());
  absl::StatusOr<v1::Case> replayed =
      workflow::Replay(*events, [&](int64_t version) -> const v1::Policy* {
        return version == 1 ? &*stored_policy : nullptr;
      });
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(*replayed, *stored)) << diff;
  EXPECT_TRUE(MessageDifferencer::Equals(*replayed, *stored));
}

}  // namespace
}  // namespace collections::storage
