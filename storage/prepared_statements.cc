#include "storage/prepared_statements.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "storage/sql.h"
#include "storage/sql_enums.h"

namespace collections::storage {
namespace {

// `sql.prepare << WriterSql(text)`, the start of every prepared statement.
soci::details::prepare_temp_type Prepare(soci::session& sql, Backend backend,
                                         absl::string_view text) {
  return sql.prepare << WriterSql(text, backend);
}

soci::details::prepare_temp_type PrepareTaskSelect(soci::session& sql, Backend backend,
                                                   const std::string& rest, TaskRow& row) {
  soci::details::prepare_temp_type q =
      sql.prepare << Dialect(absl::StrCat("SELECT ", kTaskColumns, " FROM tasks ", rest), backend);
  IntoTaskRow(q, row);
  return q;
}

}  // namespace

WriterConnection::Statements::Statements(soci::session& sql, Backend b)
    // On PostgreSQL a writer locks the case it reads until its commit:
    // writers in parallel (and other replicas) that read the same case
    // then take turns, each reading what the one before committed, instead
    // of failing the case's version guard and running again.
    : load_case(
          (Prepare(sql, b,
                   b == Backend::kPostgres ? "SELECT body FROM cases WHERE case_id = :id FOR UPDATE"
                                           : "SELECT body FROM cases WHERE case_id = :id"),
           soci::use(key_id), soci::into(out_body))),
      read_case((Prepare(sql, b, "SELECT body FROM cases WHERE case_id = :id"), soci::use(key_id),
                 soci::into(out_body))),
      load_case_by_loan((Prepare(sql, b,
                                 b == Backend::kPostgres
                                     ? "SELECT body FROM cases WHERE loan_id = :loan FOR UPDATE"
                                     : "SELECT body FROM cases WHERE loan_id = :loan"),
                         soci::use(key_text), soci::into(out_body))),
      // ON CONFLICT DO NOTHING instead of a unique violation: PostgreSQL
      // would abort the whole transaction on the violation.
      insert_case((Prepare(sql, b,
                           absl::StrCat("INSERT INTO cases (", kCaseColumns,
                                        ") VALUES (:case_id, :loan_id, :version, :stage, "
                                        ":case_class, :dpd, :overdue, :principal, :queue, "
                                        ":policy_version, :as_of_day, :business_day, :product, "
                                        ":region, :updated_at_us, :oldest_due_day, "
                                        ":next_aging_day, :body) ON CONFLICT DO NOTHING")),
                   soci::use(c_case_id), soci::use(c_loan_id), soci::use(c_version),
                   soci::use(c_stage), soci::use(c_class), soci::use(c_days_past_due),
                   soci::use(c_overdue_total_fen), soci::use(c_principal_fen), soci::use(c_queue),
                   soci::use(c_policy_version), soci::use(c_as_of_day), soci::use(c_business_day),
                   soci::use(c_product), soci::use(c_region), soci::use(c_updated_at_us),
                   soci::use(c_oldest_due_day), soci::use(c_next_aging_day), soci::use(c_body))),
      update_case((Prepare(sql, b,
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
                   soci::use(c_principal_fen), soci::use(c_queue), soci::use(c_policy_version),
                   soci::use(c_as_of_day), soci::use(c_business_day), soci::use(c_product),
                   soci::use(c_region), soci::use(c_updated_at_us), soci::use(c_oldest_due_day),
                   soci::use(c_next_aging_day), soci::use(c_body), soci::use(c_case_id),
                   soci::use(c_expected_version))),
      insert_event((Prepare(sql, b,
                            absl::StrCat("INSERT INTO case_events (", kEventColumns,
                                         ") VALUES (:case_id, :seq, :type, :actor, "
                                         ":occurred_at_us, :business_day, :policy_version, "
                                         ":body)")),
                    soci::use(e.case_id), soci::use(e.seq), soci::use(e.type), soci::use(e.actor),
                    soci::use(e.occurred_at_us), soci::use(e.business_day),
                    soci::use(e.policy_version), soci::use(e.body))),
      insert_payment((Prepare(sql, b,
                              "INSERT INTO payments (payment_id, case_id, amount_fen, "
                              "paid_day, recorded_at_us, body) VALUES (:payment_id, "
                              ":case_id, :amount_fen, :paid_day, :recorded_at_us, :body) "
                              "ON CONFLICT DO NOTHING"),
                      soci::use(p_payment_id), soci::use(p_case_id), soci::use(p_amount_fen),
                      soci::use(p_paid_day), soci::use(p_recorded_at_us), soci::use(p_body))),
      find_payment((Prepare(sql, b,
                            "SELECT case_id, body FROM payments "
                            "WHERE payment_id = :payment_id"),
                    soci::use(key_text), soci::into(out_id), soci::into(out_body))),
      cancel_tasks((Prepare(sql, b,
                            absl::StrCat("UPDATE tasks SET state = ", kSqlTaskCancelled,
                                         ", lease_expires_us = 0, "
                                         "hold_reason = '', completed_at_us = "
                                         ":now WHERE case_id = :case_id AND "
                                         "state IN ",
                                         kSqlOpenTaskStates)),
                    soci::use(t_now_us), soci::use(key_id))),
      insert_task(
          (Prepare(sql, b,
                   absl::StrCat("INSERT INTO tasks (", kNewTaskColumns,
                                ") VALUES (:task_id, :case_id, :type, :queue, ", kSqlTaskReady,
                                ", :priority, :not_before_us, :deadline_us, 0, '', 0, "
                                "0, :cost_fen, :payload, '', '', :created_at_us, 0)")),
           soci::use(t_new.task_id), soci::use(t_new.case_id), soci::use(t_new.task_type),
           soci::use(t_new.queue), soci::use(t_new.priority), soci::use(t_new.not_before_us),
           soci::use(t_new.deadline_us), soci::use(t_new.cost_fen), soci::use(t_new.payload),
           soci::use(t_new.created_at_us))),
      load_task((PrepareTaskSelect(sql, b, "WHERE task_id = :id", t_out), soci::use(key_id))),
      // Reads the tasks_ready partial index in its order.
      claim_candidates(
          (PrepareTaskSelect(sql, b,
                             absl::StrCat("WHERE queue = :queue AND state = ", kSqlTaskReady,
                                          " AND not_before_us <= :now "
                                          "ORDER BY priority DESC, "
                                          "not_before_us, task_id "
                                          "LIMIT :n{skip_locked}"),
                             t_out),
           soci::use(t_queue), soci::use(t_now_us), soci::use(t_limit))),
      lease_task((Prepare(sql, b,
                          absl::StrCat("UPDATE tasks SET state = ", kSqlTaskLeased,
                                       ", lease_owner = :owner, "
                                       "lease_token = :token, "
                                       "lease_key = :lease_key, "
                                       "lease_expires_us = :expires, "
                                       "attempts = attempts + 1, "
                                       "hold_reason = '' "
                                       "WHERE task_id = :id AND state = ",
                                       kSqlTaskReady)),
                  soci::use(t_owner), soci::use(t_new_token), soci::use(t_lease_key),
                  soci::use(t_expires_us), soci::use(key_id))),
      set_hold((Prepare(sql, b,
                        "UPDATE tasks SET hold_reason = :reason "
                        "WHERE task_id = :id"),
                soci::use(t_text), soci::use(key_id))),
      held_tasks(
          (PrepareTaskSelect(sql, b,
                             absl::StrCat("WHERE case_id = :case_id AND state = ", kSqlTaskReady,
                                          " AND hold_reason <> '' ORDER BY task_id"),
                             t_out),
           soci::use(key_id))),
      recheck_hold((Prepare(sql, b,
                            absl::StrCat("UPDATE tasks SET hold_reason = "
                                         ":reason, not_before_us = :not_before "
                                         "WHERE task_id = :id AND state = ",
                                         kSqlTaskReady)),
                    soci::use(t_text), soci::use(t_not_before_us), soci::use(key_id))),
      complete_task((Prepare(sql, b,
                             absl::StrCat("UPDATE tasks SET state = ", kSqlTaskCompleted,
                                          ", outcome = :outcome, "
                                          "lease_expires_us = 0, hold_reason = '', "
                                          "completed_at_us = :now "
                                          "WHERE task_id = :id AND state = ",
                                          kSqlTaskLeased, " AND lease_token = :token")),
                     soci::use(t_text), soci::use(t_now_us), soci::use(key_id),
                     soci::use(t_token))),
      return_task((Prepare(sql, b,
                           absl::StrCat("UPDATE tasks SET state = :state, "
                                        "not_before_us = :not_before, lease_owner = '', "
                                        "lease_expires_us = 0, hold_reason = :reason "
                                        "WHERE task_id = :id AND state = ",
                                        kSqlTaskLeased, " AND lease_token = :token")),
                   soci::use(t_state), soci::use(t_not_before_us), soci::use(t_text),
                   soci::use(key_id), soci::use(t_token))),
      extend_lease((Prepare(sql, b,
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
                      soci::use(t_now_us), soci::use(t_limit), soci::into(out_id),
                      soci::into(out_text), soci::into(out_type))),
      expire_lease((Prepare(sql, b,
                            absl::StrCat("UPDATE tasks SET state = ", kSqlTaskReady,
                                         ", lease_owner = '', "
                                         "lease_expires_us = 0 "
                                         "WHERE task_id = :id AND state = ",
                                         kSqlTaskLeased)),
                    soci::use(key_id))),
      release_task((Prepare(sql, b,
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
                  soci::use(t_queue), soci::use(t_now_us), soci::into(out_id))),
      delete_all_timers(
          (Prepare(sql, b, "DELETE FROM timers WHERE case_id = :case_id"), soci::use(tm_case_id))),
      delete_timer((Prepare(sql, b,
                            "DELETE FROM timers WHERE case_id = :case_id AND "
                            "kind = :kind AND ref = :ref"),
                    soci::use(tm_case_id), soci::use(tm_kind), soci::use(tm_ref))),
      upsert_timer((Prepare(sql, b,
                            "INSERT INTO timers (case_id, kind, ref, due_day) "
                            "VALUES (:case_id, :kind, :ref, :due_day) "
                            "ON CONFLICT (case_id, kind, ref) "
                            "DO UPDATE SET due_day = excluded.due_day"),
                    soci::use(tm_case_id), soci::use(tm_kind), soci::use(tm_ref),
                    soci::use(tm_due_day))),
      due_timers((Prepare(sql, b,
                          "SELECT case_id, kind, ref, due_day FROM timers "
                          "WHERE due_day <= :through "
                          "ORDER BY due_day, case_id, kind, ref "
                          "LIMIT :n{skip_locked}"),
                  soci::use(tm_due_day), soci::use(tm_limit), soci::into(tm_case_id),
                  soci::into(tm_kind), soci::into(tm_ref), soci::into(out_id))),
      insert_handoff((Prepare(sql, b,
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
                    soci::use(seq_name), soci::use(seq_initial), soci::use(seq_n),
                    soci::into(seq_next))),
      set_next_id((Prepare(sql, b,
                           "INSERT INTO id_sequences (name, next_id) "
                           "VALUES (:name, :next) ON CONFLICT (name) DO "
                           "UPDATE SET next_id = excluded.next_id"),
                   soci::use(seq_name), soci::use(seq_initial))),
      find_response((Prepare(sql, b,
                             "SELECT response, request_digest FROM idempotency "
                             "WHERE scope = :scope AND key = :key"),
                     soci::use(idem_scope), soci::use(idem_key), soci::into(idem_response),
                     soci::into(idem_digest))),
      save_response((Prepare(sql, b,
                             "INSERT INTO idempotency (scope, key, response, "
                             "created_at_us, request_digest) VALUES (:scope, :key, :response, "
                             ":now, :digest) "
                             "ON CONFLICT (scope, key) DO UPDATE SET "
                             "response = excluded.response, "
                             "created_at_us = excluded.created_at_us, "
                             "request_digest = excluded.request_digest"),
                     soci::use(idem_scope), soci::use(idem_key), soci::use(idem_response),
                     soci::use(idem_now_us), soci::use(idem_digest))),
      insert_contact((Prepare(sql, b,
                              "INSERT INTO contacts (task_id, lease_token, case_id, "
                              "borrower_id, task_type, at_us, connected, ended) VALUES "
                              "(:task, :token, :case_id, :borrower, :type, :at, 0, 0)"),
                      soci::use(ct_task_id), soci::use(ct_token), soci::use(ct_case_id),
                      soci::use(ct_borrower), soci::use(ct_type), soci::use(ct_at_us))),
      end_contact((Prepare(sql, b,
                           "UPDATE contacts SET connected = :connected, "
                           "ended = 1 WHERE task_id = :task AND "
                           "lease_token = :token"),
                   soci::use(ct_connected_flag), soci::use(ct_task_id), soci::use(ct_token))),
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
      count_calls((Prepare(sql, b,
                           absl::StrCat("SELECT COALESCE(SUM(CASE WHEN at_us >= :day1 THEN 1 "
                                        "ELSE 0 END), 0), COALESCE(SUM(CASE WHEN at_us >= "
                                        ":day2 THEN connected ELSE 0 END), 0), COUNT(*), "
                                        "COALESCE(SUM(CASE WHEN at_us >= :day3 AND ended = 0 "
                                        "THEN 1 ELSE 0 END), 0) FROM contacts "
                                        "WHERE borrower_id = :borrower AND at_us >= :week AND "
                                        "task_type IN ",
                                        kSqlCallTaskTypes)),
                   soci::use(ct_day_us), soci::use(ct_day_us), soci::use(ct_day_us),
                   soci::use(ct_borrower), soci::use(ct_week_us), soci::into(ct_today),
                   soci::into(ct_connected), soci::into(ct_week), soci::into(ct_unreported))),
      last_audit((Prepare(sql, b, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"),
                  soci::into(a_last_id), soci::into(a_last_hash))),
      insert_audit((Prepare(sql, b,
                            "INSERT INTO audit_log (id, recorded_at_us, principal, certificate, "
                            "peer, action, case_id, detail, previous_hash, hash) VALUES (:id, "
                            ":at, :principal, :certificate, :peer, :action, :case_id, :detail, "
                            ":previous_hash, :hash)"),
                    soci::use(a_id), soci::use(a_at_us), soci::use(a_principal),
                    soci::use(a_certificate), soci::use(a_peer), soci::use(a_action),
                    soci::use(a_case_id), soci::use(a_detail), soci::use(a_previous_hash),
                    soci::use(a_hash))),
      report_facts(sql, b),
      experiment_facts(sql, b),
      inserts(sql) {
  if (b == Backend::kSqlite) {
    savepoint = std::make_unique<soci::statement>(sql.prepare << "SAVEPOINT command");
    release_savepoint =
        std::make_unique<soci::statement>(sql.prepare << "RELEASE SAVEPOINT command");
    rollback_to_savepoint =
        std::make_unique<soci::statement>(sql.prepare << "ROLLBACK TO SAVEPOINT command");
    begin = std::make_unique<soci::statement>(sql.prepare << "BEGIN IMMEDIATE");
    commit = std::make_unique<soci::statement>(sql.prepare << "COMMIT");
    rollback = std::make_unique<soci::statement>(sql.prepare << "ROLLBACK");
  }
}

}  // namespace collections::storage
