// WriterConnection::Statements: every statement the writer runs per row,
// prepared once per connection (WriterConnection::Open), with the variables
// they bind. A statement reads its use() variables at each execute() and
// writes its into() variables at each fetch(), so the variables live here
// next to the statements that point at them (declared first: constructed
// first). Enum numbers in their SQL come from sql_enums.h. Internal to
// storage/.
//
// Thread-safety: none. Only the writer thread, through its WriterConnection
// and the Transaction of the command it runs, touches them.
#ifndef COLLECTIONS_STORAGE_PREPARED_STATEMENTS_H_
#define COLLECTIONS_STORAGE_PREPARED_STATEMENTS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/experiment_facts.h"
#include "storage/multi_row_insert.h"
#include "storage/pending_rows.h"
#include "storage/report_facts.h"
#include "storage/store.h"
#include "storage/writer_connection.h"

namespace collections::storage {

// The columns of a new row of cases, case_events and tasks, in the order
// their inserts bind values: the one-row statements below and the
// multi-row ones of Transaction::OpenCases.
inline constexpr char kCaseColumns[] =
    "case_id, loan_id, version, stage, case_class, days_past_due, overdue_total_fen, "
    "principal_outstanding_fen, assigned_queue, policy_version, as_of_day, business_day, "
    "product, region, updated_at_us, oldest_due_day, next_aging_day, body";
// The columns of cases an update sets only when their value changes (every
// update sets version and body), in kCaseColumns' order: SQLite rewrites
// the entry of every index on a column an UPDATE sets, changed or not.
inline constexpr const char* kCaseUpdateColumns[] = {"stage",
                                                     "case_class",
                                                     "days_past_due",
                                                     "overdue_total_fen",
                                                     "principal_outstanding_fen",
                                                     "assigned_queue",
                                                     "policy_version",
                                                     "as_of_day",
                                                     "business_day",
                                                     "product",
                                                     "region",
                                                     "updated_at_us",
                                                     "oldest_due_day",
                                                     "next_aging_day"};
// A cases row's columns as stored (kCaseUpdateColumns and the version).
struct StoredCaseRow {
  long long version = 0;
  int stage = 0, case_class = 0, days_past_due = 0;
  long long overdue_total_fen = 0, principal_fen = 0;
  std::string queue;
  long long policy_version = 0, as_of_day = 0, business_day = 0;
  std::string product, region;
  long long updated_at_us = 0, oldest_due_day = 0, next_aging_day = 0;
};

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
  EventRow e;

  // The payments row.
  std::string p_payment_id;
  long long p_case_id = 0, p_amount_fen = 0, p_paid_day = 0, p_recorded_at_us = 0;
  std::string p_body;

  // Tasks: t_in is written, t_out read.
  NewTaskRow t_new;
  TaskRow t_out;
  long long t_now_us = 0, t_limit = 0, t_token = 0, t_new_token = 0, t_expires_us = 0,
            t_not_before_us = 0;
  int t_state = 0;
  std::string t_queue, t_owner, t_text, t_lease_key;

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
  std::string idem_scope, idem_key, idem_response, idem_digest;
  long long idem_now_us = 0;

  // Contacts.
  long long ct_task_id = 0, ct_token = 0, ct_case_id = 0, ct_at_us = 0, ct_day_us = 0,
            ct_week_us = 0;
  int ct_type = 0;
  std::string ct_borrower;
  long long ct_today = 0, ct_connected = 0, ct_week = 0, ct_unreported = 0, ct_connected_flag = 0;

  // The audit log's last row and the row appended after it.
  long long a_last_id = 0;
  std::string a_last_hash;
  long long a_id = 0, a_at_us = 0, a_case_id = 0;
  std::string a_principal, a_certificate, a_peer, a_action, a_detail, a_previous_hash, a_hash;

  // --- Statements -----------------------------------------------------------
  soci::statement load_case, read_case, load_case_by_loan, insert_case, update_case;
  soci::statement insert_event;
  soci::statement insert_payment, find_payment;
  soci::statement cancel_tasks, insert_task, load_task, claim_candidates, lease_task, set_hold,
      held_tasks, recheck_hold, complete_task, return_task, extend_lease, expired_leases,
      expire_lease, release_task, defer_task, next_ready;
  soci::statement delete_all_timers, delete_timer, upsert_timer, due_timers;
  soci::statement insert_handoff;
  soci::statement allocate_ids, set_next_id;
  soci::statement find_response, save_response;
  soci::statement insert_contact, end_contact, delete_contact, lock_borrower, count_calls;
  soci::statement last_audit, insert_audit;
  ReportFactWriter report_facts;          // rows for the reports, with each transition
  ExperimentFactWriter experiment_facts;  // assigned cases' figures, with each transition
  // Group-commit control, run around every batch and command of a batch:
  // prepared once on SQLite (null on PostgreSQL: plain statements there).
  std::unique_ptr<soci::statement> savepoint, release_savepoint, rollback_to_savepoint;
  std::unique_ptr<soci::statement> begin, commit, rollback;
  // Transaction::Apply's updates of a case row that set only the columns
  // the transition changed (besides version and body), by the set of those
  // columns (bit i: kCaseUpdateColumns[i]); each prepared on first use.
  absl::flat_hash_map<uint32_t, std::unique_ptr<soci::statement>> update_case_columns;
  // PostgreSQL: Transaction::LoadCases' and LoadCasesByLoans' reads, the
  // keys bound as one array literal (`keys`) and each row read into the
  // `loaded_` values; each prepared on first use (SQLite runs its IN (...)
  // list unprepared: no round trip to save, no statement to parse anew).
  std::unique_ptr<soci::statement> load_cases_by_id, load_cases_by_loan;
  std::string keys;
  std::string loaded_body;
  long long loaded_case_id = 0;
  StoredCaseRow loaded_row;
  // Where multi-row inserts (imports, a batch's events and tasks) go, with
  // SQLite's one-row inserts prepared on first use.
  InsertSession inserts;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_PREPARED_STATEMENTS_H_
