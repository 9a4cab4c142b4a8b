// The storage suite's shared fixture: see store_fixture.h.
#include "tests/storage/store_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"
#include "storage/sql.h"
#include "workflow/dates.h"

namespace collections::storage {

using google::protobuf::util::TimeUtil;

v1::Date D(int y, int m, int d) { return workflow::DayToProto(absl::CivilDay(y, m, d)); }

google::protobuf::Timestamp Ts(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

namespace {

class SqliteDatabase : public TestDatabase {
 public:
  SqliteDatabase() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "storage_test.XXXXXX").string();
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

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
}

}  // namespace

workflow::TaskSpec MakeTask(v1::TaskType type, const std::string& queue, int64_t priority,
                            absl::Time not_before) {
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
workflow::Transition Opening(int64_t case_id, const std::string& loan, int64_t overdue_fen) {
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

  t.create_tasks = {
      MakeTask(v1::TASK_TYPE_SMS_REMINDER, "sms", 200, kNow),
      MakeTask(v1::TASK_TYPE_REMINDER_CALL, "call.early", 100, kNow + absl::Hours(24))};
  t.set_timers = {{{workflow::TimerKind::kPromiseDue, 7}, absl::CivilDay(2026, 11, 10)}};
  return t;
}

// The next version of `current`: an agent's note, no effects.
workflow::Transition Following(const v1::Case& current, absl::Time at) {
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

// --- The fixture ------------------------------------------------------------

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

void UndoMigration23(soci::session& sql, long long through_day) {
  sql << "DROP TABLE IF EXISTS report_stage_change_deltas";
  sql << "CREATE TABLE IF NOT EXISTS report_stage_changes_folded (state_id INTEGER PRIMARY KEY, "
         "through_day BIGINT NOT NULL)";
  sql << "DELETE FROM report_stage_changes_folded";
  sql << "INSERT INTO report_stage_changes_folded (state_id, through_day) VALUES (1, "
      << through_day << ")";
  sql << "DELETE FROM report_stage_changes_by_day WHERE day > " << through_day;
  sql << "DELETE FROM schema_migrations WHERE version = 23";
}

void UndoMigration21(soci::session& sql) {
  // Migration 24 only dropped an index, which reopening drops again.
  sql << "DELETE FROM schema_migrations WHERE version = 24";
  sql << "DROP TABLE IF EXISTS report_stage_change_deltas";
  sql << "DELETE FROM schema_migrations WHERE version = 23";
  // Migration 22 only dropped an index (tasks_open_case), which reopening
  // drops again if an earlier migration made it anew.
  sql << "DELETE FROM schema_migrations WHERE version = 22";
  sql << "DROP INDEX IF EXISTS report_book_current_began";
  sql << "DROP TABLE IF EXISTS report_book_current_sums";
  sql << "DROP TABLE IF EXISTS report_stage_changes_folded";
  sql << "DROP TABLE IF EXISTS report_stage_changes_by_day";
  sql << "DELETE FROM schema_migrations WHERE version = 21";
}

void UndoMigration17(soci::session& sql) {
  UndoMigration21(sql);
  sql << "DROP INDEX report_events_changed_again";
  sql << "ALTER TABLE report_events DROP COLUMN next_stage";
  sql << "DROP INDEX report_book_began";
  sql << "DROP INDEX report_book_closed_rolls";
  sql << "DELETE FROM schema_migrations WHERE version = 17";
}

void UndoMigration13(soci::session& sql) {
  UndoMigration17(sql);
  if (sql.get_backend_name() == "postgresql") {
    sql << "DROP TRIGGER report_case_inserted ON cases";
    sql << "DROP TRIGGER report_case_updated ON cases";
    sql << "DROP FUNCTION report_mark_changed()";
  } else {
    sql << "DROP TRIGGER report_case_inserted";
    sql << "DROP TRIGGER report_case_updated";
  }
  sql << "DROP INDEX tasks_held";
  sql << "DROP TABLE report_changed";
  sql << "DROP TABLE report_book_state";
  sql << "DROP TABLE report_book";
  sql << (sql.get_backend_name() == "postgresql" ? "CREATE TABLE report_snapshots (snap_key BIGINT "
                                                   "PRIMARY KEY, "
                                                 : "CREATE TABLE report_snapshots (snap_key "
                                                   "INTEGER PRIMARY KEY, ")
      << "bucket INTEGER NOT NULL, stage INTEGER NOT NULL, case_class INTEGER NOT NULL, "
         "overdue_fen BIGINT NOT NULL, principal_fen BIGINT NOT NULL, policy_version BIGINT NOT "
         "NULL, product TEXT NOT NULL, region TEXT NOT NULL, queue TEXT NOT NULL)";
  sql << "DELETE FROM schema_migrations WHERE version = 13";
}

void UndoMigration18(soci::session& sql) {
  UndoMigration21(sql);
  const bool postgres = sql.get_backend_name() == "postgresql";
  for (const char* trigger :
       {"report_open_task_inserted", "report_open_task_updated", "report_open_task_deleted"}) {
    sql << "DROP TRIGGER " << trigger << (postgres ? " ON tasks" : "");
  }
  sql << "DROP TRIGGER report_open_task_case_moved" << (postgres ? " ON cases" : "");
  if (postgres) {
    sql << "DROP FUNCTION report_open_task_changed()";
    sql << "DROP FUNCTION report_open_task_case_moved()";
  }
  sql << "DROP TABLE report_open_task_changes";
  sql << "DROP TABLE report_open_tasks";
  sql << "DELETE FROM schema_migrations WHERE version = 18";
}

void UndoMigrationsSince9(soci::session& sql) {
  UndoMigration18(sql);
  sql << "DROP TABLE access_rules";
  sql << "DELETE FROM schema_migrations WHERE version = 15";
  // Migration 14 only added columns and an index to case_arms.
  sql << "DELETE FROM schema_migrations WHERE version = 14";
  UndoMigration13(sql);
  sql << "DROP TABLE case_arms";
  sql << "DROP TABLE experiments";
  sql << "DELETE FROM schema_migrations WHERE version = 12";
  for (const char* index :
       {"report_events_changes", "report_events_last_change", "report_events_tasks",
        "report_events_case_tasks", "report_events_money", "report_events_promises", "tasks_open",
        "tasks_open_case", "cases_filters", "cases_book"}) {
    sql << "DROP INDEX IF EXISTS " << index;
  }
  sql << "ALTER TABLE report_events DROP COLUMN prev_entry_day";
  sql << "ALTER TABLE report_events DROP COLUMN next_change_day";
  sql << "DELETE FROM schema_migrations WHERE version = 11";
  sql << "DROP TABLE leadership";
  sql << "DELETE FROM schema_migrations WHERE version = 10";
  sql << "DROP INDEX idempotency_created";
  sql << "ALTER TABLE idempotency DROP COLUMN request_digest";
  sql << "ALTER TABLE tasks DROP COLUMN lease_key";
  sql << "DELETE FROM schema_migrations WHERE version = 9";
}

void StoreTest::SetUp() {
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
      FAIL() << "cannot create a test database with COLLECTIONS_TEST_PG=\"" << admin
             << "\": " << e.what();
    }
  } else {
    db_ = std::make_unique<SqliteDatabase>();
  }
  OpenStore();
}

void StoreTest::TearDown() {
  store_.reset();
  // SQLite's writer does not check foreign keys (storage/sql.h, WriterSql):
  // whatever a test wrote must still hold them.
  if (GetParam() == Backend::kSqlite && db_ != nullptr) {
    std::unique_ptr<soci::session> sql = Raw();
    std::string table;
    soci::statement st = (sql->prepare << "PRAGMA foreign_key_check", soci::into(table));
    st.execute();
    int dangling = 0;
    while (st.fetch()) ++dangling;
    EXPECT_EQ(dangling, 0) << "rows whose foreign key points at nothing, e.g. in " << table;
  }
  db_.reset();
}

void StoreTest::OpenStore(StoreOptions options) {
  options.connection = db_->connection();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
}

void StoreTest::ReopenAt(absl::Time now) {
  store_.reset();
  StoreOptions options = OneWriter();
  options.now = [now] { return now; };
  OpenStore(options);
}

absl::StatusOr<std::vector<v1::CaseEvent>> StoreTest::Events(int64_t case_id) {
  return store_->ListEventsPage(case_id, 0, 0, kMaxListRows, /*newest=*/false);
}

std::unique_ptr<soci::session> StoreTest::Raw() {
  auto sql = std::make_unique<soci::session>(db_->connection());
  if (GetParam() == Backend::kPostgres) {
    *sql << "SET client_min_messages TO WARNING";
  }
  return sql;
}

absl::Status StoreTest::Apply(const workflow::Transition& t, int64_t expected) {
  return store_->Write([&](UnitOfWork& uow) { return uow.Apply(t, expected); });
}

v1::Case StoreTest::Open(const std::string& loan, int64_t overdue_fen) {
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

}  // namespace collections::storage
