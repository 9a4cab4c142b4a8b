#include "storage/unit_of_work.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/codec.h"
#include "storage/report_facts.h"
#include "storage/schema.h"
#include "storage/sql.h"
#include "storage/sql_enums.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/status_macros.h"

namespace collections::storage {
namespace {

std::string LeaseError(int64_t task_id, absl::string_view what) {
  return absl::StrCat("task ", task_id, ": ", what);
}

}  // namespace

// Every statement the writer runs per row, prepared once per connection.
// A statement reads its use() variables at each execute() and writes its
// into() variables at each fetch(), so the variables live here next to the
// statements that point at them (declared first: constructed first).
struct WriterConnection::Statements {
  Statements(soci::session& sql, Backend backend);

  // --- Bound values ---------------------------------------------------------
  // Lookups by key.
  long long key_id = 0;
  std::string key_text;
  std::string out_body;
  long long out_id = 0;
  std::string out_text;
  int out_type = 0;

  // The cases row.
  long long c_case_id = 0, c_version = 0, c_expected_version = 0;
  std::string c_loan_id;
  int c_stage = 0, c_class = 0, c_days_past_due = 0;
  long long c_overdue_total_fen = 0, c_principal_fen = 0;
  std::string c_queue;
  long long c_policy_version = 0, c_as_of_day = 0, c_business_day = 0;
  std::string c_product, c_region;
  long long c_updated_at_us = 0, c_oldest_due_day = 0, c_next_aging_day = 0;
  std::string c_body;

  // The case_events row.
  long long e_case_id = 0, e_seq = 0;
  std::string e_type, e_actor;
  long long e_occurred_at_us = 0, e_business_day = 0, e_policy_version = 0;
  std::string e_body;

  // The payments row.
  std::string p_payment_id;
  long long p_case_id = 0, p_amount_fen = 0, p_paid_day = 0,
            p_recorded_at_us = 0;
  std::string p_body;

  // Tasks: t_in is written, t_out read.
  TaskRow t_in;
  long long t_cost_fen = 0, t_created_at_us = 0;
  TaskRow t_out;
  long long t_now_us = 0, t_limit = 0, t_token = 0, t_new_token = 0,
            t_expires_us = 0, t_not_before_us = 0;
  int t_state = 0;
  std::string t_queue, t_owner, t_text;

  // Timers.
  long long tm_case_id = 0, tm_ref = 0, tm_due_day = 0, tm_limit = 0;
  int tm_kind = 0;

  // Handoffs.
  long long h_sequence = 0, h_case_id = 0, h_created_at_us = 0;
  std::string h_firm_id, h_reason, h_body;
  int h_kind = 0;

  // Id sequences.
  std::string seq_name;
  long long seq_initial = 0, seq_n = 0, seq_next = 0;

  // Idempotency.
  std::string idem_scope, idem_key, idem_response;
  long long idem_now_us = 0;

  // Contacts.
  long long ct_task_id = 0, ct_token = 0, ct_case_id = 0, ct_at_us = 0,
            ct_day_us = 0, ct_week_us = 0;
  int ct_type = 0;
  std::string ct_borrower;
  long long ct_today = 0, ct_connected = 0, ct_week = 0, ct_unreported = 0,
            ct_connected_flag = 0;

  // --- Statements -----------------------------------------------------------
  soci::statement load_case, load_case_by_loan, insert_case, update_case;
  soci::statement insert_event;
  soci::statement insert_payment, find_payment;
  soci::statement cancel_tasks, insert_task, load_task, claim_candidates,
      lease_task, set_hold, held_tasks, recheck_hold, complete_task, return_task, extend_lease,
      expired_leases, expire_lease, release_task, defer_task, next_ready;
  soci::statement delete_all_timers, delete_timer, upsert_timer, due_timers;
  soci::statement insert_handoff;
  soci::statement allocate_ids, set_next_id;
  soci::statement find_response, save_response;
  soci::statement insert_contact, end_contact, delete_contact, lock_borrower,
      count_calls;
  ReportFactWriter report_facts;  // rows for the reports, with each transition
  // Group-commit control, run around every command of a batch: prepared
  // once on SQLite (null on PostgreSQL, which runs them as plain statements).
  std::unique_ptr<soci::statement> savepoint, release_savepoint,
      rollback_to_savepoint;
};

namespace {

// `sql.prepare << Dialect(text)`, the start of every prepared statement.
soci::details::prepare_temp_type Prepare(soci::session& sql, Backend backend,
                                         absl::string_view text) {
  return sql.prepare << Dialect(text, backend);
}

soci::details::prepare_temp_type PrepareTaskSelect(soci::session& sql,
                                                   Backend backend,
                                                   const std::string& rest,
                                                   TaskRow& row) {
  soci::details::prepare_temp_type q =
      sql.prepare << Dialect(
          absl::StrCat("SELECT ", kTaskColumns, " FROM tasks ", rest), backend);
  IntoTaskRow(q, row);
  return q;
}

}  // namespace

WriterConnection::Statements::Statements(soci::session& sql, Backend b)
    : load_case((Prepare(sql, b, "SELECT body FROM cases WHERE case_id = :id"),
                 soci::use(key_id), soci::into(out_body))),
      load_case_by_loan(
          (Prepare(sql, b, "SELECT body FROM cases WHERE loan_id = :loan"),
           soci::use(key_text), soci::into(out_body))),
      // ON CONFLICT DO NOTHING instead of a unique violation: PostgreSQL
      // would abort the whole transaction on the violation.
      insert_case(
          (Prepare(sql, b,
                   "INSERT INTO cases (case_id, loan_id, version, stage, "
                   "case_class, days_past_due, overdue_total_fen, "
                   "principal_outstanding_fen, assigned_queue, policy_version, "
                   "as_of_day, business_day, product, region, updated_at_us, "
                   "oldest_due_day, next_aging_day, "
                   "body) VALUES (:case_id, :loan_id, :version, :stage, "
                   ":case_class, :dpd, :overdue, :principal, :queue, "
                   ":policy_version, :as_of_day, :business_day, :product, "
                   ":region, :updated_at_us, :oldest_due_day, :next_aging_day, "
                   ":body) ON CONFLICT DO NOTHING"),
           soci::use(c_case_id), soci::use(c_loan_id), soci::use(c_version),
           soci::use(c_stage), soci::use(c_class), soci::use(c_days_past_due),
           soci::use(c_overdue_total_fen), soci::use(c_principal_fen),
           soci::use(c_queue), soci::use(c_policy_version),
           soci::use(c_as_of_day), soci::use(c_business_day),
           soci::use(c_product), soci::use(c_region),
           soci::use(c_updated_at_us), soci::use(c_oldest_due_day),
           soci::use(c_next_aging_day), soci::use(c_body))),
      update_case(
          (Prepare(sql, b,
                   "UPDATE cases SET version = :version, stage = :stage, "
                   "case_class = :case_class, days_past_due = :dpd, "
                   "overdue_total_fen = :overdue, "
                   "principal_outstanding_fen = :principal, "
                   "assigned_queue = :queue, policy_version = :policy_version, "
                   "as_of_day = :as_of_day, business_day = :business_day, "
                   "product = :product, region = :region, "
                   "updated_at_us = :updated_at_us, "
                   "oldest_due_day = :oldest_due_day, "
                   "next_aging_day = :next_aging_day, body = :body "
                   "WHERE case_id = :case_id AND version = :expected"),
           soci::use(c_version), soci::use(c_stage), soci::use(c_class),
           soci::use(c_days_past_due), soci::use(c_overdue_total_fen),
           soci::use(c_principal_fen), soci::use(c_queue),
           soci::use(c_policy_version), soci::use(c_as_of_day),
           soci::use(c_business_day), soci::use(c_product), soci::use(c_region),
           soci::use(c_updated_at_us), soci::use(c_oldest_due_day),
           soci::use(c_next_aging_day), soci::use(c_body), soci::use(c_case_id),
           soci::use(c_expected_version))),
      insert_event(
          (Prepare(sql, b,
                   "INSERT INTO case_events (case_id, seq, event_type, actor, "
                   "occurred_at_us, business_day, policy_version, body) "
                   "VALUES (:case_id, :seq, :type, :actor, :occurred_at_us, "
                   ":business_day, :policy_version, :body)"),
           soci::use(e_case_id), soci::use(e_seq), soci::use(e_type),
           soci::use(e_actor), soci::use(e_occurred_at_us),
           soci::use(e_business_day), soci::use(e_policy_version),
           soci::use(e_body))),
      insert_payment(
          (Prepare(sql, b,
                   "INSERT INTO payments (payment_id, case_id, amount_fen, "
                   "paid_day, recorded_at_us, body) VALUES (:payment_id, "
                   ":case_id, :amount_fen, :paid_day, :recorded_at_us, :body) "
                   "ON CONFLICT DO NOTHING"),
           soci::use(p_payment_id), soci::use(p_case_id),
           soci::use(p_amount_fen), soci::use(p_paid_day),
           soci::use(p_recorded_at_us), soci::use(p_body))),
      find_payment((Prepare(sql, b,
                            "SELECT case_id, body FROM payments "
                            "WHERE payment_id = :payment_id"),
                    soci::use(key_text), soci::into(out_id),
                    soci::into(out_body))),
      cancel_tasks((Prepare(sql, b,
                            absl::StrCat("UPDATE tasks SET state = ",
                                         kSqlTaskCancelled,
                                         ", lease_expires_us = 0, "
                                         "hold_reason = '', completed_at_us = "
                                         ":now WHERE case_id = :case_id AND "
                                         "state IN ",
                                         kSqlOpenTaskStates)),
                    soci::use(t_now_us), soci::use(key_id))),
      insert_task(
          (Prepare(sql, b,
                   absl::StrCat(
                       "INSERT INTO tasks (task_id, case_id, task_type, queue, "
                       "state, priority, not_before_us, deadline_us, "
                       "attempts, lease_owner, lease_token, lease_expires_us, "
                       "cost_fen, payload, outcome, hold_reason, "
                       "created_at_us, completed_at_us) VALUES (:task_id, "
                       ":case_id, :type, :queue, ",
                       kSqlTaskReady,
                       ", :priority, :not_before_us, :deadline_us, 0, '', 0, "
                       "0, :cost_fen, :payload, '', '', :created_at_us, 0)")),
           soci::use(t_in.task_id), soci::use(t_in.case_id),
           soci::use(t_in.task_type), soci::use(t_in.queue),
           soci::use(t_in.priority), soci::use(t_in.not_before_us),
           soci::use(t_in.deadline_us), soci::use(t_cost_fen),
           soci::use(t_in.payload), soci::use(t_created_at_us))),
      load_task((PrepareTaskSelect(sql, b, "WHERE task_id = :id", t_out),
                 soci::use(key_id))),
      // Reads the tasks_ready partial index in its order.
      claim_candidates(
          (PrepareTaskSelect(sql, b,
                             absl::StrCat("WHERE queue = :queue AND state = ",
                                          kSqlTaskReady,
                                          " AND not_before_us <= :now "
                                          "ORDER BY priority DESC, "
                                          "not_before_us, task_id "
                                          "LIMIT :n{skip_locked}"),
                             t_out),
           soci::use(t_queue), soci::use(t_now_us), soci::use(t_limit))),
      lease_task((Prepare(sql, b,
                          absl::StrCat("UPDATE tasks SET state = ",
                                       kSqlTaskLeased,
                                       ", lease_owner = :owner, "
                                       "lease_token = :token, "
                                       "lease_expires_us = :expires, "
                                       "attempts = attempts + 1, "
                                       "hold_reason = '' "
                                       "WHERE task_id = :id AND state = ",
                                       kSqlTaskReady)),
                  soci::use(t_owner), soci::use(t_new_token),
                  soci::use(t_expires_us), soci::use(key_id))),
      set_hold((Prepare(sql, b,
                        "UPDATE tasks SET hold_reason = :reason "
                        "WHERE task_id = :id"),
                soci::use(t_text), soci::use(key_id))),
      held_tasks((PrepareTaskSelect(
                      sql, b,
                      absl::StrCat("WHERE case_id = :case_id AND state = ",
                                   kSqlTaskReady,
                                   " AND hold_reason <> '' ORDER BY task_id"),
                      t_out),
                  soci::use(key_id))),
      recheck_hold((Prepare(sql, b,
                            absl::StrCat("UPDATE tasks SET hold_reason = "
                                         ":reason, not_before_us = :not_before "
                                         "WHERE task_id = :id AND state = ",
                                         kSqlTaskReady)),
                    soci::use(t_text), soci::use(t_not_before_us),
                    soci::use(key_id))),
      complete_task((
          Prepare(sql, b,
                  absl::StrCat("UPDATE tasks SET state = ", kSqlTaskCompleted,
                               ", outcome = :outcome, "
                               "lease_expires_us = 0, hold_reason = '', "
                               "completed_at_us = :now "
                               "WHERE task_id = :id AND state = ",
                               kSqlTaskLeased, " AND lease_token = :token")),
          soci::use(t_text), soci::use(t_now_us), soci::use(key_id),
          soci::use(t_token))),
      return_task((
          Prepare(sql, b,
                  absl::StrCat("UPDATE tasks SET state = :state, "
                               "not_before_us = :not_before, lease_owner = '', "
                               "lease_expires_us = 0, hold_reason = :reason "
                               "WHERE task_id = :id AND state = ",
                               kSqlTaskLeased, " AND lease_token = :token")),
          soci::use(t_state), soci::use(t_not_before_us), soci::use(t_text),
          soci::use(key_id), soci::use(t_token))),
      extend_lease((
          Prepare(sql, b,
                  absl::StrCat("UPDATE tasks SET lease_expires_us = :expires "
                               "WHERE task_id = :id AND state = ",
                               kSqlTaskLeased, " AND lease_token = :token")),
          soci::use(t_expires_us), soci::use(key_id), soci::use(t_token))),
      expired_leases((Prepare(sql, b,
                              absl::StrCat("SELECT task_id, queue, task_type "
                                           "FROM tasks WHERE state = ",
                                           kSqlTaskLeased,
                                           " AND lease_expires_us <= :now "
                                           "ORDER BY lease_expires_us, task_id "
                                           "LIMIT :n{skip_locked}")),
                      soci::use(t_now_us), soci::use(t_limit),
                      soci::into(out_id), soci::into(out_text),
                      soci::into(out_type))),
      expire_lease((Prepare(sql, b,
                            absl::StrCat("UPDATE tasks SET state = ",
                                         kSqlTaskReady,
                                         ", lease_owner = '', "
                                         "lease_expires_us = 0 "
                                         "WHERE task_id = :id AND state = ",
                                         kSqlTaskLeased)),
                    soci::use(key_id))),
      release_task((
          Prepare(sql, b,
                  absl::StrCat("UPDATE tasks SET state = ", kSqlTaskReady,
                               ", lease_owner = '', "
                               "lease_expires_us = 0, hold_reason = '', "
                               "attempts = attempts - 1 "
                               "WHERE task_id = :id AND state = ",
                               kSqlTaskLeased, " AND lease_token = :token")),
          soci::use(key_id), soci::use(t_token))),
      defer_task((Prepare(sql, b,
                          absl::StrCat("UPDATE tasks SET not_before_us = "
                                       ":not_before WHERE task_id = :id AND "
                                       "state = ",
                                       kSqlTaskReady)),
                  soci::use(t_not_before_us), soci::use(key_id))),
      // Reads the tasks_next_ready partial index (its predicate verbatim).
      next_ready((Prepare(sql, b,
                          absl::StrCat("SELECT COALESCE(MIN(not_before_us), 0) "
                                       "FROM tasks WHERE queue = :queue AND "
                                       "state = ",
                                       kSqlTaskReady,
                                       " AND not_before_us > 0 AND "
                                       "not_before_us > :now")),
                  soci::use(t_queue), soci::use(t_now_us),
                  soci::into(out_id))),
      delete_all_timers(
          (Prepare(sql, b, "DELETE FROM timers WHERE case_id = :case_id"),
           soci::use(tm_case_id))),
      delete_timer((Prepare(sql, b,
                            "DELETE FROM timers WHERE case_id = :case_id AND "
                            "kind = :kind AND ref = :ref"),
                    soci::use(tm_case_id), soci::use(tm_kind),
                    soci::use(tm_ref))),
      upsert_timer((Prepare(sql, b,
                            "INSERT INTO timers (case_id, kind, ref, due_day) "
                            "VALUES (:case_id, :kind, :ref, :due_day) "
                            "ON CONFLICT (case_id, kind, ref) "
                            "DO UPDATE SET due_day = excluded.due_day"),
                    soci::use(tm_case_id), soci::use(tm_kind),
                    soci::use(tm_ref), soci::use(tm_due_day))),
      due_timers((Prepare(sql, b,
                          "SELECT case_id, kind, ref, due_day FROM timers "
                          "WHERE due_day <= :through "
                          "ORDER BY due_day, case_id, kind, ref "
                          "LIMIT :n{skip_locked}"),
                  soci::use(tm_due_day), soci::use(tm_limit),
                  soci::into(tm_case_id), soci::into(tm_kind),
                  soci::into(tm_ref), soci::into(out_id))),
      insert_handoff(
          (Prepare(sql, b,
                   "INSERT INTO handoffs (sequence, case_id, firm_id, kind, "
                   "reason, created_at_us, body) VALUES (:sequence, :case_id, "
                   ":firm_id, :kind, :reason, :created_at_us, :body)"),
           soci::use(h_sequence), soci::use(h_case_id), soci::use(h_firm_id),
           soci::use(h_kind), soci::use(h_reason), soci::use(h_created_at_us),
           soci::use(h_body))),
      // One statement, one round trip: creates the sequence on first use.
      allocate_ids((Prepare(sql, b,
                            "INSERT INTO id_sequences (name, next_id) "
                            "VALUES (:name, :initial) ON CONFLICT (name) DO "
                            "UPDATE SET next_id = id_sequences.next_id + :n "
                            "RETURNING next_id"),
                    soci::use(seq_name), soci::use(seq_initial),
                    soci::use(seq_n), soci::into(seq_next))),
      set_next_id((Prepare(sql, b,
                           "INSERT INTO id_sequences (name, next_id) "
                           "VALUES (:name, :next) ON CONFLICT (name) DO "
                           "UPDATE SET next_id = excluded.next_id"),
                   soci::use(seq_name), soci::use(seq_initial))),
      find_response((Prepare(sql, b,
                             "SELECT response FROM idempotency "
                             "WHERE scope = :scope AND key = :key"),
                     soci::use(idem_scope), soci::use(idem_key),
                     soci::into(idem_response))),
      save_response(
          (Prepare(sql, b,
                   "INSERT INTO idempotency (scope, key, response, "
                   "created_at_us) VALUES (:scope, :key, :response, :now) "
                   "ON CONFLICT (scope, key) DO UPDATE SET "
                   "response = excluded.response, "
                   "created_at_us = excluded.created_at_us"),
           soci::use(idem_scope), soci::use(idem_key), soci::use(idem_response),
           soci::use(idem_now_us))),
      insert_contact(
          (Prepare(sql, b,
                   "INSERT INTO contacts (task_id, lease_token, case_id, "
                   "borrower_id, task_type, at_us, connected, ended) VALUES "
                   "(:task, :token, :case_id, :borrower, :type, :at, 0, 0)"),
           soci::use(ct_task_id), soci::use(ct_token), soci::use(ct_case_id),
           soci::use(ct_borrower), soci::use(ct_type), soci::use(ct_at_us))),
      end_contact((Prepare(sql, b,
                           "UPDATE contacts SET connected = :connected, "
                           "ended = 1 WHERE task_id = :task AND "
                           "lease_token = :token"),
                   soci::use(ct_connected_flag), soci::use(ct_task_id),
                   soci::use(ct_token))),
      delete_contact((Prepare(sql, b,
                              "DELETE FROM contacts WHERE task_id = :task AND "
                              "lease_token = :token"),
                      soci::use(ct_task_id), soci::use(ct_token))),
      // An upsert that changes the row: on PostgreSQL it holds the row's
      // lock until the transaction ends (a second claim for the borrower
      // waits here, then counts what the first one committed).
      lock_borrower((Prepare(sql, b,
                             "INSERT INTO contact_borrowers (borrower_id, "
                             "locked_at_us) VALUES (:borrower, :at) "
                             "ON CONFLICT (borrower_id) DO UPDATE SET "
                             "locked_at_us = excluded.locked_at_us"),
                     soci::use(ct_borrower), soci::use(ct_at_us))),
      // Calls are the task types of kSqlCallTaskTypes (reminder,
      // counselling, plan follow-up); the index narrows to the borrower's
      // last 7 days.
      count_calls(
          (Prepare(sql, b,
                   absl::StrCat(
                       "SELECT COALESCE(SUM(CASE WHEN at_us >= :day1 THEN 1 "
                       "ELSE 0 END), 0), COALESCE(SUM(CASE WHEN at_us >= "
                       ":day2 THEN connected ELSE 0 END), 0), COUNT(*), "
                       "COALESCE(SUM(CASE WHEN at_us >= :day3 AND ended = 0 "
                       "THEN 1 ELSE 0 END), 0) FROM contacts "
                       "WHERE borrower_id = :borrower AND at_us >= :week AND "
                       "task_type IN ",
                       kSqlCallTaskTypes)),
           soci::use(ct_day_us), soci::use(ct_day_us), soci::use(ct_day_us),
           soci::use(ct_borrower), soci::use(ct_week_us), soci::into(ct_today),
           soci::into(ct_connected), soci::into(ct_week),
           soci::into(ct_unreported))),
      report_facts(sql, b) {
  if (b == Backend::kSqlite) {
    savepoint = std::make_unique<soci::statement>(
        sql.prepare << "SAVEPOINT command");
    release_savepoint = std::make_unique<soci::statement>(
        sql.prepare << "RELEASE SAVEPOINT command");
    rollback_to_savepoint = std::make_unique<soci::statement>(
        sql.prepare << "ROLLBACK TO SAVEPOINT command");
  }
}

// The UnitOfWork a command sees: the writer's statements on the open
// transaction. Any database error "poisons" it: later calls fail at once
// (PostgreSQL refuses statements after an error until the savepoint is rolled
// back anyway) and the command fails whatever it returns.
class WriterConnection::Transaction final : public UnitOfWork {
 public:
  explicit Transaction(WriterConnection& writer)
      : w_(writer), s_(*writer.st_) {}

  const absl::Status& poisoned() const { return poisoned_; }
  // Tasks this unit of work made ready (see StoreOptions::on_tasks_ready).
  std::vector<ReadyTask>& ready() { return ready_; }
  int handoffs() const { return handoffs_; }

  absl::StatusOr<std::optional<v1::Case>> LoadCase(int64_t case_id) override {
    return Guard("load case", [&] {
      s_.key_id = case_id;
      return CaseFrom(s_.load_case);
    });
  }

  absl::StatusOr<std::optional<v1::Case>> LoadCaseByLoan(
      const std::string& loan_id) override {
    return Guard("load case by loan", [&] {
      s_.key_text = loan_id;
      return CaseFrom(s_.load_case_by_loan);
    });
  }

  absl::StatusOr<int64_t> AllocateIds(const std::string& sequence,
                                      int64_t n) override {
    if (n < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot allocate ", n, " ids from ", sequence));
    }
    return Guard("allocate ids", [&]() -> absl::StatusOr<int64_t> {
      return Allocate(sequence, n);
    });
  }

  absl::Status SetNextId(const std::string& sequence,
                         int64_t next_id) override {
    if (next_id < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("next id of ", sequence, " must be positive"));
    }
    return Guard("set next id", [&] {
      w_.id_blocks_.erase(sequence);
      s_.seq_name = sequence;
      s_.seq_initial = next_id;
      s_.set_next_id.execute(true);
      return absl::OkStatus();
    });
  }

  absl::Status Apply(const workflow::Transition& t,
                     int64_t expected_version) override {
    const v1::Case& c = t.next;
    if (expected_version < 0 || c.case_id() <= 0 ||
        c.version() != expected_version + 1 ||
        t.event.case_id() != c.case_id() || t.event.sequence() != c.version()) {
      return absl::InternalError(absl::StrFormat(
          "transition of case %d to version %d (event case %d sequence %d) "
          "does not follow version %d",
          c.case_id(), c.version(), t.event.case_id(), t.event.sequence(),
          expected_version));
    }
    return Guard("apply transition", [&]() -> absl::Status {
      SetCaseRow(c, t.next_aging_day);
      if (expected_version == 0) {
        s_.insert_case.execute(true);
        if (s_.insert_case.get_affected_rows() == 0) {
          return absl::AlreadyExistsError(absl::StrFormat(
              "case %d or a case for loan \"%s\" already exists", c.case_id(),
              c.loan_id()));
        }
      } else {
        s_.c_expected_version = expected_version;
        s_.update_case.execute(true);
        if (s_.update_case.get_affected_rows() == 0) {
          return absl::AbortedError(absl::StrFormat(
              "case %d changed concurrently (expected version %d)", c.case_id(),
              expected_version));
        }
      }
      // The case row is written: from here a failure must fail the whole
      // command, whatever it does with the error.
      absl::Status status = ApplyEffects(t);
      if (!status.ok()) poisoned_ = status;
      return status;
    });
  }

  absl::StatusOr<std::optional<StoredPayment>> FindPayment(
      const std::string& payment_id) override {
    return Guard(
        "find payment", [&]() -> absl::StatusOr<std::optional<StoredPayment>> {
          s_.key_text = payment_id;
          if (!FetchOne(s_.find_payment)) return std::nullopt;
          StoredPayment p;
          p.case_id = s_.out_id;
          RETURN_IF_ERROR(DecodeMessage(s_.out_body, &p.payment, "payment"));
          return p;
        });
  }

  absl::StatusOr<std::optional<v1::Task>> LoadTask(int64_t task_id) override {
    return Guard("load task", [&]() -> absl::StatusOr<std::optional<v1::Task>> {
      s_.key_id = task_id;
      if (!FetchOne(s_.load_task)) return std::nullopt;
      v1::Task task;
      RETURN_IF_ERROR(TaskFromRow(s_.t_out, &task));
      return task;
    });
  }

  absl::StatusOr<std::vector<v1::Task>> ClaimTasks(
      const ClaimSpec& spec) override {
    if (spec.queues.empty() || spec.worker.empty() || spec.max_tasks < 1 ||
        spec.lease <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "a claim needs queues, a worker, max_tasks >= 1 and a positive "
          "lease");
    }
    return Guard("claim tasks", [&]() -> absl::StatusOr<std::vector<v1::Task>> {
      struct Candidate {
        TaskRow row;
        v1::Task task;
      };
      std::vector<Candidate> candidates;
      for (const std::string& queue : spec.queues) {
        s_.t_queue = queue;
        s_.t_now_us = MicrosOf(spec.now);
        s_.t_limit =
            spec.scan_limit > 0 ? spec.scan_limit : 4 * spec.max_tasks + 16;
        std::vector<TaskRow> rows;
        s_.claim_candidates.execute();
        while (s_.claim_candidates.fetch()) rows.push_back(s_.t_out);
        for (TaskRow& row : rows) {
          if (!spec.types.empty() &&
              std::find(spec.types.begin(), spec.types.end(), row.task_type) ==
                  spec.types.end()) {
            continue;
          }
          Candidate c{std::move(row), {}};
          RETURN_IF_ERROR(TaskFromRow(c.row, &c.task));
          std::string hold = spec.hold ? spec.hold(c.task) : std::string();
          if (!hold.empty()) {
            if (hold != c.row.hold_reason) {  // write only what changed
              s_.t_text = hold;
              s_.key_id = c.row.task_id;
              s_.set_hold.execute(true);
            }
            continue;
          }
          candidates.push_back(std::move(c));
        }
      }
      // Each queue's candidates came in claim order; merge them.
      std::sort(candidates.begin(), candidates.end(),
                [](const Candidate& a, const Candidate& b) {
                  if (a.row.priority != b.row.priority) {
                    return a.row.priority > b.row.priority;
                  }
                  if (a.row.not_before_us != b.row.not_before_us) {
                    return a.row.not_before_us < b.row.not_before_us;
                  }
                  return a.row.task_id < b.row.task_id;
                });
      if (static_cast<int>(candidates.size()) > spec.max_tasks) {
        candidates.resize(spec.max_tasks);
      }
      std::vector<v1::Task> leased;
      leased.reserve(candidates.size());
      const int64_t expires_us = MicrosOf(spec.now + spec.lease);
      for (Candidate& c : candidates) {
        // The token only ever grows, so a worker holding an older lease of
        // the same task is fenced off.
        s_.key_id = c.row.task_id;
        s_.t_owner = spec.worker;
        s_.t_new_token = c.row.lease_token + 1;
        s_.t_expires_us = expires_us;
        s_.lease_task.execute(true);
        if (s_.lease_task.get_affected_rows() != 1) continue;
        v1::Task& task = c.task;
        task.set_state(v1::TASK_STATE_LEASED);
        task.set_lease_owner(spec.worker);
        task.set_lease_token(s_.t_new_token);
        ToTimestamp(expires_us, task.mutable_lease_expires_at());
        task.set_attempts(task.attempts() + 1);
        task.clear_hold_reason();
        leased.push_back(std::move(task));
      }
      return leased;
    });
  }

  absl::StatusOr<v1::Task> CheckLease(int64_t task_id, int64_t lease_token,
                                      absl::Time now) override {
    return Guard("check lease",
                 [&] { return Leased(task_id, lease_token, now); });
  }

  absl::StatusOr<v1::Task> CompleteTask(int64_t task_id, int64_t lease_token,
                                        const v1::TaskOutcome& outcome,
                                        absl::Time now) override {
    return Guard("complete task", [&]() -> absl::StatusOr<v1::Task> {
      ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now));
      s_.t_text = EncodeMessage(outcome);
      s_.t_now_us = MicrosOf(now);
      s_.key_id = task_id;
      s_.t_token = lease_token;
      s_.complete_task.execute(true);
      RETURN_IF_ERROR(OneRow(s_.complete_task, task_id));
      return task;
    });
  }

  absl::StatusOr<v1::Task> ReturnTask(int64_t task_id, int64_t lease_token,
                                      absl::Time not_before, bool incident,
                                      const std::string& reason,
                                      absl::Time now) override {
    return Guard("return task", [&]() -> absl::StatusOr<v1::Task> {
      ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now));
      s_.t_state = incident ? v1::TASK_STATE_INCIDENT : v1::TASK_STATE_READY;
      s_.t_not_before_us = MicrosOf(not_before);
      s_.t_text = reason;
      s_.key_id = task_id;
      s_.t_token = lease_token;
      s_.return_task.execute(true);
      RETURN_IF_ERROR(OneRow(s_.return_task, task_id));
      if (!incident) ready_.push_back({task.queue(), task.type(), not_before});
      return task;
    });
  }

  absl::StatusOr<v1::Task> ExtendLease(int64_t task_id, int64_t lease_token,
                                       absl::Time new_expiry,
                                       absl::Time now) override {
    if (new_expiry <= now) {
      return absl::InvalidArgumentError(
          "a lease must be extended into the future");
    }
    return Guard("extend lease", [&]() -> absl::StatusOr<v1::Task> {
      ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now));
      s_.t_expires_us = MicrosOf(new_expiry);
      s_.key_id = task_id;
      s_.t_token = lease_token;
      s_.extend_lease.execute(true);
      RETURN_IF_ERROR(OneRow(s_.extend_lease, task_id));
      task.clear_lease_expires_at();
      ToTimestamp(s_.t_expires_us, task.mutable_lease_expires_at());
      return task;
    });
  }

  absl::StatusOr<std::vector<int64_t>> ExpireLeases(absl::Time now,
                                                    int limit) override {
    return Guard("expire leases",
                 [&]() -> absl::StatusOr<std::vector<int64_t>> {
                   std::vector<int64_t> ids;
                   s_.t_now_us = MicrosOf(now);
                   s_.t_limit = std::max(limit, 1);
                   std::vector<ReadyTask> found;
                   s_.expired_leases.execute();
                   while (s_.expired_leases.fetch()) {
                     ids.push_back(s_.out_id);
                     found.push_back({s_.out_text,
                                      static_cast<v1::TaskType>(s_.out_type), now});
                   }
                   for (size_t i = 0; i < ids.size(); ++i) {
                     s_.key_id = ids[i];
                     s_.expire_lease.execute(true);
                     if (s_.expire_lease.get_affected_rows() == 1) {
                       ready_.push_back(std::move(found[i]));
                     }
                   }
                   return ids;
                 });
  }

  absl::StatusOr<v1::Task> ReleaseTask(int64_t task_id, int64_t lease_token,
                                       absl::Time now) override {
    return Guard("release task", [&]() -> absl::StatusOr<v1::Task> {
      ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now));
      s_.key_id = task_id;
      s_.t_token = lease_token;
      s_.release_task.execute(true);
      RETURN_IF_ERROR(OneRow(s_.release_task, task_id));
      ready_.push_back({task.queue(), task.type(),
                        absl::FromUnixMicros(s_.t_out.not_before_us)});
      return task;
    });
  }

  absl::Status DeferTask(int64_t task_id, absl::Time not_before) override {
    return Guard("defer task", [&]() -> absl::Status {
      s_.key_id = task_id;
      s_.t_not_before_us = MicrosOf(not_before);
      s_.defer_task.execute(true);
      if (s_.defer_task.get_affected_rows() != 1) {
        return absl::FailedPreconditionError(
            absl::StrCat("task ", task_id, " is not ready"));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::optional<absl::Time>> NextReadyTime(
      const std::vector<std::string>& queues, absl::Time now) override {
    return Guard("next ready time",
                 [&]() -> absl::StatusOr<std::optional<absl::Time>> {
                   std::optional<absl::Time> next;
                   s_.t_now_us = MicrosOf(now);
                   for (const std::string& queue : queues) {
                     s_.t_queue = queue;
                     s_.out_id = 0;
                     FetchOne(s_.next_ready);
                     if (s_.out_id == 0) continue;
                     const absl::Time t = absl::FromUnixMicros(s_.out_id);
                     if (!next || t < *next) next = t;
                   }
                   return next;
                 });
  }

  absl::StatusOr<std::vector<v1::Task>> HeldTasks(int64_t case_id) override {
    return Guard("held tasks", [&]() -> absl::StatusOr<std::vector<v1::Task>> {
      std::vector<TaskRow> rows;
      s_.key_id = case_id;
      s_.held_tasks.execute();
      while (s_.held_tasks.fetch()) rows.push_back(s_.t_out);
      std::vector<v1::Task> tasks(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) {
        RETURN_IF_ERROR(TaskFromRow(rows[i], &tasks[i]));
      }
      return tasks;
    });
  }

  absl::Status RecheckHold(const v1::Task& task, const std::string& hold_reason,
                           absl::Time not_before) override {
    return Guard("recheck hold", [&]() -> absl::Status {
      s_.key_id = task.task_id();
      s_.t_text = hold_reason;
      s_.t_not_before_us = MicrosOf(not_before);
      s_.recheck_hold.execute(true);
      if (s_.recheck_hold.get_affected_rows() != 1) {
        return absl::FailedPreconditionError(
            absl::StrCat("task ", task.task_id(), " is not ready"));
      }
      if (hold_reason.empty()) {
        ready_.push_back({task.queue(), task.type(), not_before});
      }
      return absl::OkStatus();
    });
  }

  absl::Status RecordContact(const ContactRecord& c) override {
    return Guard("record contact", [&]() -> absl::Status {
      s_.ct_task_id = c.task_id;
      s_.ct_token = c.lease_token;
      s_.ct_case_id = c.case_id;
      s_.ct_borrower = c.borrower_id;
      s_.ct_type = c.task_type;
      s_.ct_at_us = MicrosOf(c.at);
      s_.insert_contact.execute(true);
      return absl::OkStatus();
    });
  }

  absl::Status EndContact(int64_t task_id, int64_t lease_token,
                          bool connected) override {
    return Guard("end contact", [&]() -> absl::Status {
      s_.ct_task_id = task_id;
      s_.ct_token = lease_token;
      s_.ct_connected_flag = connected ? 1 : 0;
      s_.end_contact.execute(true);
      return absl::OkStatus();
    });
  }

  absl::Status DeleteContact(int64_t task_id, int64_t lease_token) override {
    return Guard("delete contact", [&]() -> absl::Status {
      s_.ct_task_id = task_id;
      s_.ct_token = lease_token;
      s_.delete_contact.execute(true);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<CallCounts> CountCalls(const std::string& borrower_id,
                                        absl::Time day_start,
                                        absl::Time week_start,
                                        absl::Time now) override {
    return Guard("count calls", [&]() -> absl::StatusOr<CallCounts> {
      s_.ct_borrower = borrower_id;
      s_.ct_at_us = MicrosOf(now);
      s_.lock_borrower.execute(true);
      s_.ct_day_us = MicrosOf(day_start);
      s_.ct_week_us = MicrosOf(week_start);
      s_.ct_today = s_.ct_connected = s_.ct_week = s_.ct_unreported = 0;
      FetchOne(s_.count_calls);
      CallCounts counts;
      counts.attempts_today = static_cast<int>(s_.ct_today);
      counts.connected_today = static_cast<int>(s_.ct_connected);
      counts.attempts_in_7_days = static_cast<int>(s_.ct_week);
      counts.unreported_today = static_cast<int>(s_.ct_unreported);
      return counts;
    });
  }

  absl::StatusOr<std::vector<DueTimer>> DueTimers(absl::CivilDay through,
                                                  int limit) override {
    return Guard("due timers", [&]() -> absl::StatusOr<std::vector<DueTimer>> {
      std::vector<DueTimer> due;
      s_.tm_due_day = workflow::DayNumber(through);
      s_.tm_limit = std::max(limit, 1);
      s_.due_timers.execute();
      while (s_.due_timers.fetch()) {
        DueTimer t;
        t.case_id = s_.tm_case_id;
        t.timer.timer.kind = static_cast<workflow::TimerKind>(s_.tm_kind);
        t.timer.timer.ref = s_.tm_ref;
        t.timer.due = workflow::DayFromNumber(s_.out_id);
        due.push_back(t);
      }
      return due;
    });
  }

  absl::Status DeleteTimer(int64_t case_id,
                           const workflow::TimerRef& timer) override {
    return Guard("delete timer", [&]() -> absl::Status {
      s_.tm_case_id = case_id;
      s_.tm_kind = static_cast<int>(timer.kind);
      s_.tm_ref = timer.ref;
      s_.delete_timer.execute(true);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::optional<std::string>> FindResponse(
      const std::string& scope, const std::string& key) override {
    return Guard(
        "find response", [&]() -> absl::StatusOr<std::optional<std::string>> {
          s_.idem_scope = scope;
          s_.idem_key = key;
          if (!FetchOne(s_.find_response)) return std::nullopt;
          std::string bytes;
          if (!absl::Base64Unescape(s_.idem_response, &bytes)) {
            return absl::InternalError(absl::StrCat(
                "stored response for ", scope, "/", key, " is corrupt"));
          }
          return bytes;
        });
  }

  absl::Status SaveResponse(const std::string& scope, const std::string& key,
                            const std::string& response) override {
    return Guard("save response", [&] {
      s_.idem_scope = scope;
      s_.idem_key = key;
      s_.idem_response = absl::Base64Escape(response);
      s_.idem_now_us = absl::ToUnixMicros(absl::Now());
      s_.save_response.execute(true);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<int64_t> PutPolicy(v1::Policy& policy) override {
    return Guard("put policy", [&]() -> absl::StatusOr<int64_t> {
      // From a sequence rather than MAX(version) + 1: concurrent replicas
      // then wait on its row instead of colliding on the primary key.
      const long long version = Allocate("policy", 1);
      policy.set_version(version);
      const std::string body = EncodeMessage(policy);
      const std::string name = policy.name();
      const long long now = absl::ToUnixMicros(absl::Now());
      w_.sql_ << "INSERT INTO policies (version, name, body, created_at_us) "
                 "VALUES (:v, :n, :b, :t)",
          soci::use(version), soci::use(name), soci::use(body), soci::use(now);
      return version;
    });
  }

  absl::StatusOr<std::optional<StoredHandoff>> LoadHandoff(int64_t sequence) override {
    return Guard("load handoff", [&]() -> absl::StatusOr<std::optional<StoredHandoff>> {
      const long long seq = sequence;
      long long case_id = 0, acked_at_us = 0;
      int kind = 0, accepted = 0;
      std::string firm;
      soci::statement st =
          (w_.sql_.prepare << "SELECT case_id, firm_id, kind, acked_at_us, accepted "
                              "FROM handoffs WHERE sequence = :seq",
           soci::use(seq), soci::into(case_id), soci::into(firm), soci::into(kind),
           soci::into(acked_at_us), soci::into(accepted));
      if (!FetchOne(st)) return std::nullopt;
      StoredHandoff h;
      h.sequence = sequence;
      h.case_id = case_id;
      h.firm_id = firm;
      h.kind = static_cast<v1::HandoffKind>(kind);
      h.acknowledged = acked_at_us != 0;
      h.accepted = accepted != 0;
      return h;
    });
  }

  absl::Status AcknowledgeHandoff(int64_t sequence, bool accepted, const std::string& reason,
                                  absl::Time at) override {
    return Guard("acknowledge handoff", [&]() -> absl::Status {
      const long long seq = sequence, at_us = std::max<long long>(1, absl::ToUnixMicros(at));
      const int ok = accepted ? 1 : 0;
      w_.sql_ << "UPDATE handoffs SET acked_at_us = :at, accepted = :ok, ack_reason = :reason "
                 "WHERE sequence = :seq AND acked_at_us = 0",
          soci::use(at_us), soci::use(ok), soci::use(reason), soci::use(seq);
      return absl::OkStatus();
    });
  }

  // Plans are few and written rarely: plain statements, not prepared ones.
  absl::StatusOr<std::optional<v1::Plan>> LoadPlan(int64_t plan_id) override {
    return Guard("load plan", [&]() -> absl::StatusOr<std::optional<v1::Plan>> {
      const long long id = plan_id;
      std::string body;
      soci::statement st =
          (w_.sql_.prepare << "SELECT body FROM plans WHERE plan_id = :id",
           soci::use(id), soci::into(body));
      if (!FetchOne(st)) return std::nullopt;
      v1::Plan plan;
      RETURN_IF_ERROR(DecodeMessage(body, &plan, "plan"));
      return plan;
    });
  }

  absl::Status SavePlan(const v1::Plan& plan) override {
    return Guard("save plan", [&]() -> absl::Status {
      const long long id = plan.plan_id(), case_id = plan.case_id();
      const int state = plan.state(), kind = plan.kind();
      const long long now = absl::ToUnixMicros(absl::Now());
      const std::string body = EncodeMessage(plan);
      w_.sql_ << "INSERT INTO plans (plan_id, case_id, state, kind, proposed_by, "
                 "updated_at_us, body) VALUES (:id, :case_id, :state, :kind, "
                 ":by, :now, :body) ON CONFLICT (plan_id) DO UPDATE SET "
                 "state = excluded.state, updated_at_us = excluded.updated_at_us, "
                 "body = excluded.body",
          soci::use(id), soci::use(case_id), soci::use(state), soci::use(kind),
          soci::use(plan.proposed_by()), soci::use(now), soci::use(body);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::optional<v1::Policy>> LoadPolicy(
      int64_t version) override {
    return Guard("load policy",
                 [&]() -> absl::StatusOr<std::optional<v1::Policy>> {
                   const long long v = version;
                   std::string body;
                   soci::statement st =
                       (w_.sql_.prepare
                            << "SELECT body FROM policies WHERE version = :v",
                        soci::use(v), soci::into(body));
                   if (!FetchOne(st)) return std::nullopt;
                   v1::Policy policy;
                   RETURN_IF_ERROR(DecodeMessage(body, &policy, "policy"));
                   return policy;
                 });
  }

  absl::StatusOr<absl::CivilDay> BusinessDate() override {
    return Guard(
        "business date", [&]() -> absl::StatusOr<absl::CivilDay> {
          long long day = 0;
          soci::statement st =
              (w_.sql_.prepare
                   << "SELECT day FROM business_date WHERE singleton = 1",
               soci::into(day));
          if (!FetchOne(st)) {
            return absl::NotFoundError("the business date has not been set");
          }
          return workflow::DayFromNumber(day);
        });
  }

  absl::Status SetBusinessDate(absl::CivilDay day) override {
    return Guard("set business date", [&] {
      const long long n = workflow::DayNumber(day);
      w_.sql_ << "INSERT INTO business_date (singleton, day) VALUES (1, :d) "
                 "ON CONFLICT (singleton) DO UPDATE SET day = excluded.day",
          soci::use(n);
      return absl::OkStatus();
    });
  }

  absl::Status RunReportStep(
      const std::function<void(soci::session&, Backend)>& step) override {
    return Guard("report snapshot", [&] {
      step(w_.sql_, w_.backend_);
      return absl::OkStatus();
    });
  }

 private:
  // Runs `f`, turning a SOCI exception into a Status that also poisons this
  // unit of work.
  template <typename F>
  auto Guard(const char* what, F&& f) -> decltype(f()) {
    if (!poisoned_.ok()) return poisoned_;
    try {
      return f();
    } catch (...) {
      poisoned_ = StatusFromCurrentException(what);
      return poisoned_;
    }
  }

  absl::StatusOr<std::optional<v1::Case>> CaseFrom(soci::statement& st) {
    if (!FetchOne(st)) return std::nullopt;
    v1::Case c;
    RETURN_IF_ERROR(DecodeMessage(s_.out_body, &c, "case"));
    return c;
  }

  // Reserves n consecutive ids of `sequence`; throws. Case and task ids
  // come from blocks of kIdBlock reserved in one statement, instead of one
  // UPDATE of id_sequences per case or task. A block's reservation is a
  // write of the transaction like any other, and WriterConnection forgets
  // every block whenever a savepoint or the transaction rolls back, so an
  // id is never handed out twice; the cost is a gap in the ids after a
  // rollback or a restart. Other sequences (handoffs, policies, plans) are
  // bumped per call: handoff sequences follow commit order, which the
  // handoff stream relies on.
  long long Allocate(const std::string& sequence, int64_t n) {
    constexpr int64_t kIdBlock = 256;
    if (sequence != "case" && sequence != "task") return Reserve(sequence, n);
    WriterConnection::IdBlock& block = w_.id_blocks_[sequence];
    if (block.end - block.next < n) {
      const int64_t reserve = std::max(n, kIdBlock);
      const int64_t first = Reserve(sequence, reserve);
      block.next = first;
      block.end = first + reserve;
    }
    const long long first = block.next;
    block.next += n;
    return first;
  }

  // Bumps the sequence's row by n in one statement; throws.
  long long Reserve(const std::string& sequence, int64_t n) {
    s_.seq_name = sequence;
    s_.seq_n = n;
    s_.seq_initial = 1 + n;  // a new sequence hands out 1..n
    FetchOne(s_.allocate_ids);
    return s_.seq_next - n;
  }

  absl::StatusOr<v1::Task> Leased(int64_t task_id, int64_t lease_token,
                                  absl::Time now) {
    s_.key_id = task_id;
    if (!FetchOne(s_.load_task)) {
      return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
    }
    const TaskRow& row = s_.t_out;
    // Tokens only grow, one per claim: a larger one was never handed out, a
    // smaller one belongs to a lease the task has had since.
    if (lease_token <= 0 || lease_token > row.lease_token) {
      return absl::FailedPreconditionError(LeaseError(
          task_id, absl::StrCat("lease token ", lease_token,
                                " was never issued (the task's latest is ",
                                row.lease_token, ")")));
    }
    if (lease_token < row.lease_token) {
      return absl::FailedPreconditionError(LeaseError(
          task_id,
          absl::StrCat("stale lease token ", lease_token,
                       ": the task was leased again since (lease token ",
                       row.lease_token, ", now ",
                       v1::TaskState_Name(row.state), ")")));
    }
    switch (row.state) {
      case v1::TASK_STATE_LEASED:
        if (row.lease_expires_us <= MicrosOf(now)) {
          return absl::FailedPreconditionError(LeaseError(
              task_id,
              absl::StrCat("lease token ", lease_token, " expired at ",
                           absl::FormatTime(
                               "%Y-%m-%dT%H:%M:%SZ",
                               absl::FromUnixMicros(row.lease_expires_us),
                               absl::UTCTimeZone()),
                           " (the task goes back to its queue)")));
        }
        break;
      case v1::TASK_STATE_READY:
        return absl::FailedPreconditionError(LeaseError(
            task_id, absl::StrCat("lease token ", lease_token,
                                  " is no longer held: it expired, or was "
                                  "released or failed, and the task is back "
                                  "in its queue (TASK_STATE_READY, not "
                                  "leased)")));
      case v1::TASK_STATE_COMPLETED:
        return absl::FailedPreconditionError(LeaseError(
            task_id, absl::StrCat("already completed under lease token ",
                                  lease_token, " (not leased any more)")));
      case v1::TASK_STATE_INCIDENT:
        return absl::FailedPreconditionError(LeaseError(
            task_id, absl::StrCat("lease token ", lease_token,
                                  " ended in a failure that made the task an "
                                  "incident for supervisors (not leased)")));
      default:
        return absl::FailedPreconditionError(LeaseError(
            task_id, absl::StrCat("not leased (state ",
                                  v1::TaskState_Name(row.state), ")")));
    }
    v1::Task task;
    RETURN_IF_ERROR(TaskFromRow(row, &task));
    return task;
  }

  // The row Leased() just checked changed under us only if another writer
  // got there first (PostgreSQL replicas).
  absl::Status OneRow(soci::statement& st, int64_t task_id) {
    if (st.get_affected_rows() == 1) return absl::OkStatus();
    return absl::AbortedError(
        absl::StrCat("task ", task_id, " changed concurrently"));
  }

  void SetCaseRow(const v1::Case& c,
                  const std::optional<absl::CivilDay>& next_aging_day) {
    s_.c_case_id = c.case_id();
    s_.c_loan_id = c.loan_id();
    s_.c_version = c.version();
    s_.c_stage = c.stage();
    s_.c_class = c.classification().case_class();
    s_.c_days_past_due = c.days_past_due();
    s_.c_overdue_total_fen = workflow::OverdueTotal(c.overdue());
    s_.c_principal_fen = c.principal_outstanding_fen();
    s_.c_queue = c.assigned_queue();
    s_.c_policy_version = c.policy_version();
    s_.c_as_of_day = DayColumn(c.as_of());
    s_.c_business_day = DayColumn(c.business_date());
    s_.c_product = c.product();
    s_.c_region = c.borrower().region();
    s_.c_updated_at_us = MicrosOf(c.updated_at());
    s_.c_oldest_due_day = workflow::OverdueTotal(c.overdue()) > 0
                              ? DayColumn(c.oldest_unpaid_due_date())
                              : 0;
    s_.c_next_aging_day =
        next_aging_day ? workflow::DayNumber(*next_aging_day) : 0;
    s_.c_body = EncodeMessage(c);
  }

  // Everything of a transition after the case row. Throws soci_error.
  absl::Status ApplyEffects(const workflow::Transition& t) {
    const v1::Case& c = t.next;
    const v1::CaseEvent& event = t.event;
    const long long case_id = c.case_id();
    const long long occurred_us = MicrosOf(event.occurred_at());

    s_.e_case_id = case_id;
    s_.e_seq = event.sequence();
    s_.e_type = workflow::EventKindName(event);
    s_.e_actor = event.actor();
    s_.e_occurred_at_us = occurred_us;
    s_.e_business_day = DayColumn(event.business_date());
    s_.e_policy_version = event.policy_version();
    s_.e_body = EncodeMessage(event);
    s_.insert_event.execute(true);

    if (event.has_payment()) {
      const v1::Payment& p = event.payment();
      s_.p_payment_id = p.payment_id();
      s_.p_case_id = case_id;
      s_.p_amount_fen = p.amount_fen();
      s_.p_paid_day = DayColumn(p.paid_on());
      s_.p_recorded_at_us = occurred_us;
      s_.p_body = EncodeMessage(p);
      s_.insert_payment.execute(true);
      if (s_.insert_payment.get_affected_rows() == 0) {
        return absl::AlreadyExistsError(absl::StrCat(
            "payment \"", p.payment_id(), "\" was already recorded"));
      }
    }

    if (t.cancel_open_tasks) {
      s_.key_id = case_id;
      s_.t_now_us = occurred_us;
      s_.cancel_tasks.execute(true);
    }
    if (!t.create_tasks.empty()) {
      long long id = Allocate("task", t.create_tasks.size());
      for (const workflow::TaskSpec& spec : t.create_tasks) {
        TaskRow& row = s_.t_in;
        row.task_id = id++;
        row.case_id = case_id;
        row.task_type = spec.type;
        row.queue = spec.queue;
        row.priority = spec.priority;
        row.not_before_us = MicrosOf(spec.not_before);
        row.deadline_us = MicrosOf(spec.deadline);
        row.payload = EncodeMessage(spec.payload);
        s_.t_cost_fen = spec.cost_fen;
        s_.t_created_at_us = occurred_us;
        s_.insert_task.execute(true);
        ready_.push_back({spec.queue, spec.type, spec.not_before});
      }
    }

    s_.tm_case_id = case_id;
    if (t.clear_all_timers) s_.delete_all_timers.execute(true);
    for (const workflow::TimerRef& ref : t.clear_timers) {
      s_.tm_kind = static_cast<int>(ref.kind);
      s_.tm_ref = ref.ref;
      s_.delete_timer.execute(true);
    }
    for (const workflow::TimerSpec& timer : t.set_timers) {
      s_.tm_kind = static_cast<int>(timer.timer.kind);
      s_.tm_ref = timer.timer.ref;
      s_.tm_due_day = workflow::DayNumber(timer.due);
      s_.upsert_timer.execute(true);
    }

    if (t.handoff.has_value()) {
      s_.h_sequence = Allocate("handoff", 1);
      s_.h_case_id = case_id;
      s_.h_firm_id = t.handoff->firm_id;
      s_.h_kind = t.handoff->kind;
      s_.h_reason = t.handoff->reason;
      s_.h_created_at_us = occurred_us;
      s_.h_body = s_.c_body;  // the case as handed off
      s_.insert_handoff.execute(true);
      ++handoffs_;
    }
    s_.report_facts.Append(t);
    return absl::OkStatus();
  }

  WriterConnection& w_;
  Statements& s_;
  absl::Status poisoned_;
  std::vector<ReadyTask> ready_;
  int handoffs_ = 0;  // handoffs this unit of work created
};

// --- WriterConnection
// ----------------------------------------------------------

WriterConnection::WriterConnection(Backend backend, const StoreOptions& options)
    : backend_(backend), options_(options) {}

WriterConnection::~WriterConnection() = default;

absl::StatusOr<std::unique_ptr<WriterConnection>> WriterConnection::Open(
    const StoreOptions& options, Backend backend) {
  RegisterBackends();
  std::unique_ptr<WriterConnection> w(new WriterConnection(backend, options));
  try {
    w->sql_.open(options.connection);
  } catch (...) {
    absl::Status s = StatusFromCurrentException("cannot open the database");
    return absl::UnavailableError(s.message());
  }
  try {
    ConfigureSession(w->sql_, backend, options, /*reader=*/false);
    if (backend == Backend::kSqlite) RETURN_IF_ERROR(EnableWal(w->sql_));
  } catch (...) {
    return StatusFromCurrentException("cannot configure the database session");
  }
  ASSIGN_OR_RETURN(w->schema_version_, Migrate(w->sql_, backend));
  try {
    w->st_ = std::make_unique<Statements>(w->sql_, backend);
  } catch (...) {
    return StatusFromCurrentException("cannot prepare the writer's statements");
  }
  return w;
}

absl::Status WriterConnection::Execute(const char* sql, const char* what) {
  try {
    sql_ << sql;
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException(what);
  }
}

absl::Status WriterConnection::Begin() {
  return Execute(backend_ == Backend::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN",
                 "begin transaction");
}
absl::Status WriterConnection::Commit() { return Execute("COMMIT", "commit"); }
void WriterConnection::Rollback() {
  DropIdBlocks();
  Execute("ROLLBACK", "rollback").IgnoreError();
}
absl::Status WriterConnection::Execute(soci::statement* prepared,
                                       const char* sql, const char* what) {
  if (prepared == nullptr) return Execute(sql, what);
  try {
    prepared->execute(true);
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException(what);
  }
}
absl::Status WriterConnection::Savepoint() {
  return Execute(st_->savepoint.get(), "SAVEPOINT command", "savepoint");
}
absl::Status WriterConnection::RollbackToSavepoint() {
  DropIdBlocks();
  return Execute(st_->rollback_to_savepoint.get(),
                 "ROLLBACK TO SAVEPOINT command", "rollback to savepoint");
}
absl::Status WriterConnection::ReleaseSavepoint() {
  return Execute(st_->release_savepoint.get(), "RELEASE SAVEPOINT command",
                 "release savepoint");
}

absl::Status WriterConnection::Run(const Command& command) {
  Transaction uow(*this);
  absl::Status status;
  try {
    status = command(uow);
  } catch (...) {
    status = StatusFromCurrentException("command");
  }
  if (status.ok() && !uow.poisoned().ok()) status = uow.poisoned();
  if (status.ok()) {
    for (ReadyTask& r : uow.ready()) ready_.push_back(std::move(r));
    handoffs_ += uow.handoffs();
  }
  return status;
}

bool WriterConnection::Alive() { return SessionAlive(sql_); }

}  // namespace collections::storage
