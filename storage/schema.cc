#include "storage/schema.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "storage/sql.h"
#include "storage/sql_enums.h"

namespace collections::storage {
namespace {

// The body of both backends' report_open_task_case_moved trigger
// (migration 18): a case whose region, product or policy version changed
// moves its open tasks from the old filter's counts to the new one's.
std::string CaseMovedOpenTaskChanges() {
  std::string changes;
  for (const auto& [row, sign] : {std::pair{"OLD", "-1"}, std::pair{"NEW", "1"}}) {
    absl::StrAppend(&changes, "INSERT INTO report_open_task_changes SELECT t.queue, ", row,
                    ".region, ", row, ".product, ", row,
                    ".policy_version, CASE WHEN t.state = 5 THEN 5 ELSE 1 END, CASE WHEN "
                    "t.state <> 5 AND t.deadline_us > 0 THEN t.deadline_us / 86400000000 ELSE "
                    "-1 END, ",
                    sign, " FROM tasks t WHERE t.case_id = NEW.case_id AND t.state IN (1, 2, 5); ");
  }
  return changes;
}

// READY, LEASED or INCIDENT, for SQLite's partial indexes (migration 20).
std::string SqliteOpenTaskStates() {
  return absl::StrCat("(state = ", kSqlTaskReady, " OR state = ", kSqlTaskLeased,
                      " OR state = ", kSqlTaskIncident, ") OR state IN (", kSqlTaskReady, ", ",
                      kSqlTaskLeased, ", ", kSqlTaskIncident, ")");
}

// A table of stage changes counted by report_stage_changes_by_day's key
// (migrations 21 and 23), its columns followed by `tail`.
std::string StageChangeCountsTable(absl::string_view name, absl::string_view tail) {
  return absl::StrCat("CREATE TABLE ", name, R"( (
                day BIGINT NOT NULL,
                stage_after INTEGER NOT NULL,
                stage_before INTEGER NOT NULL,
                prev_entry_day BIGINT NOT NULL,
                policy_version BIGINT NOT NULL,
                product TEXT NOT NULL,
                region TEXT NOT NULL,
                queue TEXT NOT NULL,
                changes BIGINT NOT NULL)",
                      tail, ")");
}

// Counts report_events' stage changes of the days `days` selects into
// report_stage_changes_by_day (migrations 21 and 23).
std::string CountStageChangesOfDays(absl::string_view days) {
  return absl::StrCat(
      "INSERT INTO report_stage_changes_by_day (day, stage_after, stage_before, "
      "prev_entry_day, policy_version, product, region, queue, changes) SELECT day, "
      "stage_after, stage_before, CASE WHEN stage_after IN (1, 2, 3, 4) THEN prev_entry_day "
      "ELSE -1 END, policy_version, product, region, queue, COUNT(*) FROM report_events "
      "WHERE stage_after <> stage_before AND ",
      days,
      " GROUP BY day, stage_after, stage_before, CASE WHEN stage_after IN (1, 2, 3, 4) THEN "
      "prev_entry_day ELSE -1 END, policy_version, product, region, queue");
}

struct Migration {
  int version;
  const char* name;
  // In Dialect() form. A migration's text is history: once released it
  // never changes, so enum numbers come from storage/sql_enums.h, whose
  // constants are the literal text they were written with.
  std::vector<std::string> statements;
};

// Conventions: ids, money and instants are BIGINT (bound as long long);
// instants are microseconds since the Unix epoch, business dates days since
// 1970-01-01, 0 meaning unset; small enums are INTEGER holding the proto
// enum number; messages are base64 of their binary encoding in TEXT. No
// column is NULL, so that no read needs an indicator.
const std::vector<Migration>& Migrations() {
  static const auto* migrations = new std::vector<Migration>{
      {1,
       "initial schema",
       {
           // Application-allocated ids (cases, tasks, handoffs, plans): one
           // row per sequence, bumped inside the writing transaction.
           R"(CREATE TABLE id_sequences (
                name TEXT PRIMARY KEY,
                next_id BIGINT NOT NULL))",
           R"(CREATE TABLE business_date (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                day BIGINT NOT NULL))",
           R"(CREATE TABLE policies (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                body TEXT NOT NULL,
                created_at_us BIGINT NOT NULL))",
           // The current state of each case: the full Case in `body`, and the
           // fields that lists and reports filter or group by as columns.
           R"(CREATE TABLE cases (
                case_id {id_pk},
                loan_id TEXT NOT NULL UNIQUE,
                version BIGINT NOT NULL,
                stage INTEGER NOT NULL,
                case_class INTEGER NOT NULL,
                days_past_due INTEGER NOT NULL,
                overdue_total_fen BIGINT NOT NULL,
                principal_outstanding_fen BIGINT NOT NULL,
                assigned_queue TEXT NOT NULL,
                policy_version BIGINT NOT NULL,
                as_of_day BIGINT NOT NULL,
                business_day BIGINT NOT NULL,
                product TEXT NOT NULL,
                region TEXT NOT NULL,
                updated_at_us BIGINT NOT NULL,
                -- Day numbers (0: none). Days past due on any business date
                -- is that date minus oldest_due_day while something is
                -- overdue; aging visits a case when next_aging_day comes.
                oldest_due_day BIGINT NOT NULL,
                next_aging_day BIGINT NOT NULL,
                body TEXT NOT NULL))",
           "CREATE INDEX cases_aging ON cases (next_aging_day, case_id) "
           "WHERE next_aging_day > 0",
           "CREATE INDEX cases_stage_class ON cases (stage, case_class, "
           "case_id)",
           "CREATE INDEX cases_queue ON cases (assigned_queue, case_id)",
           // The append-only history; seq is the case version it produced.
           R"(CREATE TABLE case_events (
                case_id BIGINT NOT NULL REFERENCES cases (case_id),
                seq BIGINT NOT NULL,
                event_type TEXT NOT NULL,
                actor TEXT NOT NULL,
                occurred_at_us BIGINT NOT NULL,
                business_day BIGINT NOT NULL,
                policy_version BIGINT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (case_id, seq)))",
           R"(CREATE TABLE tasks (
                task_id {id_pk},
                case_id BIGINT NOT NULL REFERENCES cases (case_id),
                task_type INTEGER NOT NULL,
                queue TEXT NOT NULL,
                state INTEGER NOT NULL,
                priority BIGINT NOT NULL,
                not_before_us BIGINT NOT NULL,
                deadline_us BIGINT NOT NULL,
                attempts INTEGER NOT NULL,
                lease_owner TEXT NOT NULL,
                lease_token BIGINT NOT NULL,
                lease_expires_us BIGINT NOT NULL,
                cost_fen BIGINT NOT NULL,
                payload TEXT NOT NULL,
                outcome TEXT NOT NULL,
                hold_reason TEXT NOT NULL,
                created_at_us BIGINT NOT NULL,
                completed_at_us BIGINT NOT NULL))",
           // Claiming reads this partial index in claim order: only READY
           // (1) tasks are in it, so it stays small however many tasks
           // have been completed.
           absl::StrCat(R"(CREATE INDEX tasks_ready
                ON tasks (queue, priority DESC, not_before_us, task_id)
                WHERE state = )",
                        kSqlTaskReady),
           // Lease expiry scans LEASED (2) tasks by expiry.
           absl::StrCat(R"(CREATE INDEX tasks_leased ON tasks (lease_expires_us)
                WHERE state = )",
                        kSqlTaskLeased),
           "CREATE INDEX tasks_case ON tasks (case_id)",
           // kind is workflow::TimerKind; ref its reference (promise id, ...).
           R"(CREATE TABLE timers (
                case_id BIGINT NOT NULL REFERENCES cases (case_id),
                kind INTEGER NOT NULL,
                ref BIGINT NOT NULL,
                due_day BIGINT NOT NULL,
                PRIMARY KEY (case_id, kind, ref)))",
           "CREATE INDEX timers_due ON timers (due_day)",
           // Messages for legal counsel; body is the Case as handed off.
           R"(CREATE TABLE handoffs (
                sequence {id_pk},
                case_id BIGINT NOT NULL REFERENCES cases (case_id),
                firm_id TEXT NOT NULL,
                kind INTEGER NOT NULL,
                reason TEXT NOT NULL,
                created_at_us BIGINT NOT NULL,
                body TEXT NOT NULL))",
           "CREATE INDEX handoffs_case ON handoffs (case_id)",
           // One row per payment id: RecordPayment is idempotent on it.
           R"(CREATE TABLE payments (
                payment_id TEXT PRIMARY KEY,
                case_id BIGINT NOT NULL REFERENCES cases (case_id),
                amount_fen BIGINT NOT NULL,
                paid_day BIGINT NOT NULL,
                recorded_at_us BIGINT NOT NULL,
                body TEXT NOT NULL))",
           "CREATE INDEX payments_case ON payments (case_id)",
           // Stored responses of idempotent requests, per (scope, key).
           R"(CREATE TABLE idempotency (
                scope TEXT NOT NULL,
                key TEXT NOT NULL,
                response TEXT NOT NULL,
                created_at_us BIGINT NOT NULL,
                PRIMARY KEY (scope, key)))",
       }},
      {2,
       "contacts for the contact caps; task indexes for waits and incidents",
       {
           // One row per call handed out, recorded at lease time so that the
           // caps also count calls in flight; connected is 1 once the call
           // reached the borrower.
           R"(CREATE TABLE contacts (
                task_id BIGINT NOT NULL,
                lease_token BIGINT NOT NULL,
                case_id BIGINT NOT NULL,
                borrower_id TEXT NOT NULL,
                task_type INTEGER NOT NULL,
                at_us BIGINT NOT NULL,
                connected INTEGER NOT NULL,
                PRIMARY KEY (task_id, lease_token)))",
           "CREATE INDEX contacts_borrower ON contacts (borrower_id, at_us)",
           // When a claim that found nothing should look again: the next
           // not_before of a queue's READY tasks. The second term of the
           // predicate, which claims do not state, keeps claims on
           // tasks_ready (in claim order) instead of sorting a whole queue.
           absl::StrCat(R"(CREATE INDEX tasks_next_ready ON tasks (queue, not_before_us)
                WHERE state = )",
                        kSqlTaskReady, " AND not_before_us > 0"),
           // Supervisors list incidents (state 5).
           absl::StrCat("CREATE INDEX tasks_incident ON tasks (task_id) WHERE state = ",
                        kSqlTaskIncident),
       }},
      {3,
       "repayment plans",
       {
           // One row per proposed plan; the full Plan (schedule, payments
           // matched to instalments) in `body`.
           R"(CREATE TABLE plans (
                plan_id {id_pk},
                case_id BIGINT NOT NULL REFERENCES cases (case_id),
                state INTEGER NOT NULL,
                kind INTEGER NOT NULL,
                proposed_by TEXT NOT NULL,
                updated_at_us BIGINT NOT NULL,
                body TEXT NOT NULL))",
           "CREATE INDEX plans_case ON plans (case_id, plan_id)",
       }},
      {4,
       "handoff acknowledgements",
       {
           // Counsel acknowledges each handoff once: accepted, or refused
           // with a reason.
           "ALTER TABLE handoffs ADD COLUMN acked_at_us BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE handoffs ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0",
           "ALTER TABLE handoffs ADD COLUMN ack_reason TEXT NOT NULL DEFAULT ''",
           "CREATE INDEX handoffs_firm ON handoffs (firm_id, sequence)",
       }},
      {5,
       "reports: event facts, promises, daily snapshots of the book",
       {
           // One row per event that matters to a report (storage/
           // report_facts.h), written with the event: what its binary body
           // hides from SQL. day is the event's business date.
           R"(CREATE TABLE report_events (
                case_id BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                day BIGINT NOT NULL,
                event_type TEXT NOT NULL,
                actor TEXT NOT NULL,
                stage_before INTEGER NOT NULL,
                stage_after INTEGER NOT NULL,
                case_class INTEGER NOT NULL,
                close_reason INTEGER NOT NULL,
                task_id BIGINT NOT NULL,
                task_type INTEGER NOT NULL,
                contact INTEGER NOT NULL,
                right_party INTEGER NOT NULL,
                reason INTEGER NOT NULL,
                promise_fen BIGINT NOT NULL,
                recovered_fen BIGINT NOT NULL,
                waived_fen BIGINT NOT NULL,
                policy_version BIGINT NOT NULL,
                product TEXT NOT NULL,
                region TEXT NOT NULL,
                queue TEXT NOT NULL,
                PRIMARY KEY (case_id, seq)))",
           "CREATE INDEX report_events_day ON report_events (day)",
           // Closures (stage 6, CLOSED, is final): roll rates tell closed
           // cases from cured ones with it.
           absl::StrCat("CREATE INDEX report_events_closed ON report_events "
                        "(day) WHERE stage_after = ",
                        kSqlStageClosed),
           // Each promise to pay; promise_id is the seq of the event that
           // took it (its report_events row), state a PromiseState.
           R"(CREATE TABLE report_promises (
                case_id BIGINT NOT NULL,
                promise_id BIGINT NOT NULL,
                state INTEGER NOT NULL,
                resolved_day BIGINT NOT NULL,
                PRIMARY KEY (case_id, promise_id)))",
           // Every open case as each day's run left it. snap_key is
           // day * 2^40 + case_id: one integer key, so that a day is one
           // key range and a case's row on another day one key lookup.
           // bucket: 0 current, 1 1-30, 2 31-60, 3 61-90, 4 91-180, 5 180+.
           R"(CREATE TABLE report_snapshots (
                snap_key {id_pk},
                bucket INTEGER NOT NULL,
                stage INTEGER NOT NULL,
                case_class INTEGER NOT NULL,
                overdue_fen BIGINT NOT NULL,
                principal_fen BIGINT NOT NULL,
                policy_version BIGINT NOT NULL,
                product TEXT NOT NULL,
                region TEXT NOT NULL,
                queue TEXT NOT NULL))",
           // The same per day, summed: the portfolio report reads this.
           R"(CREATE TABLE report_portfolio (
                day BIGINT NOT NULL,
                stage INTEGER NOT NULL,
                case_class INTEGER NOT NULL,
                bucket INTEGER NOT NULL,
                policy_version BIGINT NOT NULL,
                product TEXT NOT NULL,
                region TEXT NOT NULL,
                queue TEXT NOT NULL,
                cases BIGINT NOT NULL,
                overdue_fen BIGINT NOT NULL,
                principal_fen BIGINT NOT NULL,
                PRIMARY KEY (day, stage, case_class, bucket, policy_version,
                             product, region, queue)))",
           // Complete snapshots; per_case is 0 once retention dropped the
           // day's report_snapshots rows (its summary stays).
           R"(CREATE TABLE report_snapshot_days (
                day BIGINT PRIMARY KEY,
                cases BIGINT NOT NULL,
                per_case INTEGER NOT NULL,
                taken_at_us BIGINT NOT NULL))",
       }},
      {6,
       "reports: the unallocated part of payments",
       {
           // What a payment paid that nothing owed (beyond the plan and the
           // arrears, or after the case ended), apart from recovered_fen.
           // Rows written before this migration hold 0.
           "ALTER TABLE report_events ADD COLUMN unallocated_fen BIGINT NOT NULL DEFAULT 0",
       }},
      {7,
       "contact caps: calls not yet reported reserve a connection; a lock row per borrower",
       {
           // ended is 0 while nobody has reported how the call ended (in
           // progress, or its lease lapsed unreported): such a call may have
           // connected, so the connected cap counts it (a reservation). A
           // report (reached or not, or a failure) sets it to 1; connected
           // then says whether it reached the borrower.
           "ALTER TABLE contacts ADD COLUMN ended INTEGER NOT NULL DEFAULT 1",
           // Calls in progress at the upgrade keep their reservation.
           absl::StrCat(
               R"(UPDATE contacts SET ended = 0 WHERE connected = 0 AND EXISTS (
                SELECT 1 FROM tasks t WHERE t.task_id = contacts.task_id AND
                t.lease_token = contacts.lease_token AND t.state = )",
               kSqlTaskLeased, ")"),
           // A claim takes this row (an upsert: a row lock on PostgreSQL)
           // before it counts a borrower's calls, so that claims for one
           // borrower in parallel transactions take turns.
           R"(CREATE TABLE contact_borrowers (
                borrower_id TEXT PRIMARY KEY,
                locked_at_us BIGINT NOT NULL))",
       }},
      {8,
       "the audit log: append-only, each row hash-chained to the one before",
       {
           // Written only by INSERT (AppendAudit); nothing updates or
           // deletes a row. id is 1, 2, 3, ... without gaps; hash is the
           // lowercase hex SHA-256 of the row's canonical encoding
           // (storage/audit.h), previous_hash the hash of row id - 1.
           R"(CREATE TABLE audit_log (
                id BIGINT PRIMARY KEY,
                recorded_at_us BIGINT NOT NULL,
                principal TEXT NOT NULL,
                certificate TEXT NOT NULL,
                peer TEXT NOT NULL,
                action TEXT NOT NULL,
                case_id BIGINT NOT NULL,
                detail TEXT NOT NULL,
                previous_hash TEXT NOT NULL,
                hash TEXT NOT NULL))",
           "CREATE INDEX audit_log_principal ON audit_log (principal, id)",
           "CREATE INDEX audit_log_case ON audit_log (case_id, id)",
           "CREATE INDEX audit_log_time ON audit_log (recorded_at_us, id)",
       }},
      {9,
       "idempotency: request digests and expiry; tasks: unguessable lease keys",
       {
           // The SHA-256 (hex) of the request an answer was stored for, so
           // that a key reused for another request is refused. Rows stored
           // before hold '' and are replayed as before.
           "ALTER TABLE idempotency ADD COLUMN request_digest TEXT NOT NULL DEFAULT ''",
           // Expired answers are purged oldest first.
           "CREATE INDEX idempotency_created ON idempotency (created_at_us)",
           // The secret part of a lease (>= 128 random bits) that a holder
           // presents with the fencing counter lease_token; '' while no
           // lease is held, and for leases taken before the upgrade.
           "ALTER TABLE tasks ADD COLUMN lease_key TEXT NOT NULL DEFAULT ''",
       }},
      {10,
       "replicas: the leader's fencing epoch",
       {
           // One row per singleton role ('jobs': daily aging, due timers,
           // the lease reaper, report snapshots). A replica that takes the
           // role's advisory lock increments epoch; the role's writes check
           // that it is still theirs (UnitOfWork::CheckLeaderEpoch), so a
           // deposed leader's late write is refused.
           R"(CREATE TABLE leadership (
                role TEXT PRIMARY KEY,
                epoch BIGINT NOT NULL,
                holder TEXT NOT NULL,
                since_us BIGINT NOT NULL))",
       }},
      {11,
       "reports at 1,000,000 cases: stage-change links, indexes for each report",
       {
           // On each stage-change row (stage_after <> stage_before): the
           // day of the case's previous entry into the same stage (-1:
           // none), and the day of the case's next stage change
           // (1000000000: none yet; set when that change is written). The
           // stage funnel counts a case's first entry into a stage in a
           // period and the stage the period left it in from these, without
           // ordering every change of the period by case.
           "ALTER TABLE report_events ADD COLUMN prev_entry_day BIGINT NOT NULL DEFAULT -1",
           "ALTER TABLE report_events ADD COLUMN next_change_day BIGINT NOT NULL "
           "DEFAULT 1000000000",
           "UPDATE report_events SET prev_entry_day = COALESCE((SELECT MAX(p.day) FROM "
           "report_events p WHERE p.case_id = report_events.case_id AND p.seq < "
           "report_events.seq AND p.stage_after = report_events.stage_after AND p.stage_after "
           "<> p.stage_before), -1) WHERE stage_after <> stage_before",
           "UPDATE report_events SET next_change_day = COALESCE((SELECT MIN(n.day) FROM "
           "report_events n WHERE n.case_id = report_events.case_id AND n.seq > "
           "report_events.seq AND n.stage_after <> n.stage_before), 1000000000) WHERE "
           "stage_after <> stage_before",
           // The stage changes of a period with what the funnel and the
           // effectiveness report's flow read (index-only on both
           // backends); day first, so that a period is one range and its
           // days come in order.
           "CREATE INDEX report_events_changes ON report_events (day, stage_after, "
           "stage_before, prev_entry_day, next_change_day, case_id, policy_version, product, "
           "region, queue) WHERE stage_after <> stage_before",
           // A case's change in force at the end of a period (the one
           // whose next change came after it).
           "CREATE INDEX report_events_last_change ON report_events (case_id, next_change_day, "
           "day, stage_after) WHERE stage_after <> stage_before",
           // The completed tasks, the money and the promises of a period:
           // the activity reports read only these rows, not the period's
           // other events (a day of imports is a million stage changes).
           "CREATE INDEX report_events_tasks ON report_events (day, task_id) WHERE task_id > 0",
           // Each case's completed tasks in order: the task a payment is
           // attributed to (the last one before it) is one short range.
           "CREATE INDEX report_events_case_tasks ON report_events (case_id, seq, day) WHERE "
           "task_id > 0",
           "CREATE INDEX report_events_money ON report_events (day, case_id, seq, case_class, "
           "stage_before, recovered_fen, waived_fen, unallocated_fen, policy_version, product, "
           "region) WHERE recovered_fen > 0 OR waived_fen > 0 OR unallocated_fen > 0",
           "CREATE INDEX report_events_promises ON report_events (day) WHERE promise_fen > 0",
           // Open work by queue for the SLA report (READY, LEASED,
           // INCIDENT), without reading the tasks' payloads.
           absl::StrCat("CREATE INDEX tasks_open ON tasks (queue, state, deadline_us, "
                        "not_before_us, hold_reason, case_id) WHERE state IN (",
                        kSqlTaskReady, ", ", kSqlTaskLeased, ", ", kSqlTaskIncident, ")"),
           // The same for the cases a filter picks (cases_filters), case by
           // case.
           absl::StrCat("CREATE INDEX tasks_open_case ON tasks (case_id, queue, state, "
                        "deadline_us, not_before_us, hold_reason) WHERE state IN (",
                        kSqlTaskReady, ", ", kSqlTaskLeased, ", ", kSqlTaskIncident, ")"),
           "CREATE INDEX cases_filters ON cases (region, product, policy_version, case_id)",
           // Today's portfolio: the open cases' figures, grouped in this
           // order without reading their bodies.
           "CREATE INDEX cases_book ON cases (stage, case_class, oldest_due_day, "
           "overdue_total_fen, principal_outstanding_fen, policy_version, product, region, "
           "assigned_queue) WHERE stage IN (1, 2, 3, 4)",
       }},
      {12,
       "experiments: champion/challenger experiments and each case's arm",
       {
           // The whole Experiment (experiment_service.proto) in body; state
           // (ExperimentState) as a column to find the live one.
           R"(CREATE TABLE experiments (
                experiment_id {id_pk},
                state INTEGER NOT NULL,
                created_at_us BIGINT NOT NULL,
                body TEXT NOT NULL))",
           // Each assigned case: arm is its index in Experiment.arms (0 the
           // champion), assigned_day the business date it was assigned,
           // start_bucket its days-past-due bucket then (as
           // report_snapshots.bucket). A rolled-back case keeps the arm it
           // was assigned here (the report compares arms as randomised);
           // its case file says where it is now.
           R"(CREATE TABLE case_arms (
                case_id {id_pk},
                experiment_id BIGINT NOT NULL,
                arm INTEGER NOT NULL,
                assigned_day BIGINT NOT NULL,
                start_bucket INTEGER NOT NULL))",
           "CREATE INDEX case_arms_experiment ON case_arms (experiment_id, arm, case_id)",
       }},
      {13,
       "reports: the book as per-case validity intervals, kept in proportion to what changed",
       {
           // Each case's snapshot figures over a run of days on which they
           // did not change: valid from valid_from_day to valid_to_day
           // (inclusive; 1000000000 while they are the case's current
           // figures). book_key is case_id * 2^20 + valid_from_day: one
           // integer key, so that a case's intervals are one key range.
           // The days-past-due bucket is not stored: it moves with the
           // date, so the book of day D buckets oldest_due_day against D.
           // A day's run writes rows only for the cases that changed.
           R"(CREATE TABLE report_book (
                book_key {id_pk},
                valid_from_day BIGINT NOT NULL,
                valid_to_day BIGINT NOT NULL,
                stage INTEGER NOT NULL,
                case_class INTEGER NOT NULL,
                oldest_due_day BIGINT NOT NULL,
                overdue_fen BIGINT NOT NULL,
                principal_fen BIGINT NOT NULL,
                policy_version BIGINT NOT NULL,
                product TEXT NOT NULL,
                region TEXT NOT NULL,
                queue TEXT NOT NULL))",
           // The current figures by oldest due day: the cases whose bucket
           // the date moves (the day's run re-buckets them), and the roll
           // rates of the cases that did not change since the start day
           // (index-only, grouped in this order).
           // valid_to_day is in it too: SQLite reads the table for a
           // column the query names that the index lacks.
           "CREATE INDEX report_book_current ON report_book (oldest_due_day, valid_from_day, "
           "overdue_fen, policy_version, product, region, queue, valid_to_day) "
           "WHERE valid_to_day = 1000000000",
           // The closed intervals by end: retention drops them.
           "CREATE INDEX report_book_closed ON report_book (valid_to_day, valid_from_day) "
           "WHERE valid_to_day < 1000000000",
           // The day whose report_portfolio rows equal the current
           // intervals' sums (bucketed on that day): the next day's run
           // starts from them.
           R"(CREATE TABLE report_book_state (
                state_id INTEGER PRIMARY KEY,
                day BIGINT NOT NULL))",
           // The cases whose figures changed since the day's run last
           // looked at them, marked by the database itself with every
           // insert and every update that changes a figure (the triggers
           // below), so that the writer's statements stay as they are. A
           // case may be marked more than once; the run deletes a case's
           // marks with the command that records it.
           R"(CREATE TABLE report_changed (
                case_id BIGINT NOT NULL))",
           "CREATE INDEX report_changed_case ON report_changed (case_id)",
           "{sqlite}CREATE TRIGGER report_case_inserted AFTER INSERT ON cases BEGIN "
           "INSERT INTO report_changed (case_id) VALUES (NEW.case_id); END",
           "{sqlite}CREATE TRIGGER report_case_updated AFTER UPDATE ON cases WHEN "
           "OLD.stage <> NEW.stage OR OLD.case_class <> NEW.case_class OR "
           "OLD.oldest_due_day <> NEW.oldest_due_day OR "
           "OLD.overdue_total_fen <> NEW.overdue_total_fen OR "
           "OLD.principal_outstanding_fen <> NEW.principal_outstanding_fen OR "
           "OLD.policy_version <> NEW.policy_version OR OLD.product <> NEW.product OR "
           "OLD.region <> NEW.region OR OLD.assigned_queue <> NEW.assigned_queue BEGIN "
           "INSERT INTO report_changed (case_id) VALUES (NEW.case_id); END",
           "{postgres}CREATE FUNCTION report_mark_changed() RETURNS trigger LANGUAGE plpgsql "
           "AS $$ BEGIN INSERT INTO report_changed (case_id) VALUES (NEW.case_id); "
           "RETURN NULL; END $$",
           "{postgres}CREATE TRIGGER report_case_inserted AFTER INSERT ON cases FOR EACH ROW "
           "EXECUTE FUNCTION report_mark_changed()",
           "{postgres}CREATE TRIGGER report_case_updated AFTER UPDATE ON cases FOR EACH ROW WHEN "
           "(OLD.stage <> NEW.stage OR OLD.case_class <> NEW.case_class OR "
           "OLD.oldest_due_day <> NEW.oldest_due_day OR "
           "OLD.overdue_total_fen <> NEW.overdue_total_fen OR "
           "OLD.principal_outstanding_fen <> NEW.principal_outstanding_fen OR "
           "OLD.policy_version <> NEW.policy_version OR OLD.product <> NEW.product OR "
           "OLD.region <> NEW.region OR OLD.assigned_queue <> NEW.assigned_queue) "
           "EXECUTE FUNCTION report_mark_changed()",
           // The per-case rows of every complete day with case rows become
           // one-day intervals; the newest such day's rows stay open as the
           // current figures. Their oldest_due_day is one that buckets as
           // the stored bucket did on that day (0, day - 1, day - 31, day -
           // 61, day - 91, day - 181), so every past answer stays as it was.
           "INSERT INTO report_book (book_key, valid_from_day, valid_to_day, stage, case_class, "
           "oldest_due_day, overdue_fen, principal_fen, policy_version, product, region, queue) "
           "SELECT (s.snap_key % 1099511627776) * 1048576 + d.day, d.day, CASE WHEN d.day = "
           "(SELECT MAX(day) FROM report_snapshot_days WHERE per_case = 1) THEN 1000000000 "
           "ELSE d.day END, s.stage, s.case_class, CASE s.bucket WHEN 0 THEN 0 WHEN 1 THEN "
           "d.day - 1 WHEN 2 THEN d.day - 31 WHEN 3 THEN d.day - 61 WHEN 4 THEN d.day - 91 ELSE "
           "d.day - 181 END, s.overdue_fen, s.principal_fen, s.policy_version, s.product, "
           "s.region, s.queue FROM report_snapshot_days d JOIN report_snapshots s ON "
           "s.snap_key > d.day * 1099511627776 AND s.snap_key < (d.day + 1) * 1099511627776 "
           "WHERE d.per_case = 1",
           "INSERT INTO report_book_state (state_id, day) SELECT 1, MAX(day) FROM "
           "report_snapshot_days WHERE per_case = 1 HAVING COUNT(*) > 0",
           // The next run compares every case with its current interval
           // once (the stand-in due days above are rewritten then).
           "INSERT INTO report_changed (case_id) SELECT case_id FROM cases",
           "DROP TABLE report_snapshots",
           // The SLA report's holds: READY tasks held back, by queue,
           // without passing every open task (usually none is held).
           absl::StrCat("CREATE INDEX tasks_held ON tasks (queue, hold_reason, not_before_us, "
                        "case_id) WHERE state = ",
                        kSqlTaskReady, " AND hold_reason <> ''"),
       }},
      {14,
       "experiment report at 1,000,000 cases: each assigned case's figures kept",
       {
           // Kept by the writer with each transition of an assigned case
           // (experiment_facts.h): rolls_on_day the first business day on
           // which the case counts as rolled if it stays as it is (its
           // oldest unpaid due day plus 1, 31, 61, 91 or 181 days for
           // start_bucket 0 to 4; 1000000000: never, for a closed case,
           // nothing overdue, or start_bucket 5), cured_day the first day
           // it was RESOLVED (1000000000: never),
           // recovered_fen what payments and legal recoveries paid of what
           // was owed since assigned_day, cost_fen the cost of its completed
           // tasks, handoff and dispute 1 once it was handed to a legal firm
           // or a dispute was opened. The report sums them per arm.
           "ALTER TABLE case_arms ADD COLUMN rolls_on_day BIGINT NOT NULL DEFAULT 1000000000",
           "ALTER TABLE case_arms ADD COLUMN cured_day BIGINT NOT NULL DEFAULT 1000000000",
           "ALTER TABLE case_arms ADD COLUMN recovered_fen BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE case_arms ADD COLUMN cost_fen BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE case_arms ADD COLUMN handoff INTEGER NOT NULL DEFAULT 0",
           "ALTER TABLE case_arms ADD COLUMN dispute INTEGER NOT NULL DEFAULT 0",
           // The rows assigned before: the figures the report computed
           // from the sources until now.
           absl::StrCat(
               "UPDATE case_arms SET rolls_on_day = COALESCE((SELECT NULLIF(c.oldest_due_day, 0) "
               "FROM cases c WHERE c.case_id = case_arms.case_id AND c.stage IN ",
               kSqlOpenStages,
               ") + CASE start_bucket WHEN 0 THEN 1 WHEN 1 THEN 31 WHEN 2 THEN 61 WHEN 3 THEN 91 "
               "WHEN 4 THEN 181 END, 1000000000), cured_day = COALESCE((SELECT MIN(e.day) FROM "
               "report_events e WHERE e.case_id = case_arms.case_id AND e.stage_after = ",
               kSqlStageResolved,
               "), 1000000000), recovered_fen = COALESCE((SELECT SUM(e.recovered_fen) FROM "
               "report_events e WHERE e.case_id = case_arms.case_id AND e.day >= "
               "case_arms.assigned_day), 0), cost_fen = COALESCE((SELECT SUM(t.cost_fen) FROM "
               "tasks t WHERE t.case_id = case_arms.case_id AND t.state = ",
               kSqlTaskCompleted,
               "), 0), handoff = CASE WHEN EXISTS (SELECT 1 FROM handoffs h WHERE h.case_id = "
               "case_arms.case_id) THEN 1 ELSE 0 END, dispute = CASE WHEN EXISTS (SELECT 1 FROM "
               "case_events v WHERE v.case_id = case_arms.case_id AND v.event_type = "
               "'signal.dispute_opened') THEN 1 ELSE 0 END"),
           // The report reads only this index (index-only on both backends).
           "CREATE INDEX case_arms_report ON case_arms (experiment_id, arm, assigned_day, "
           "cured_day, rolls_on_day, recovered_fen, cost_fen, handoff, dispute)",
       }},
      {15,
       "access_rules: the access rules' versions (certificates and method roles)",
       {
           // Each version of collections.v1.AccessRules (access_service.proto)
           // in body; the newest version is the one every replica admits by.
           R"(CREATE TABLE access_rules (
                version BIGINT PRIMARY KEY,
                created_at_us BIGINT NOT NULL,
                created_by TEXT NOT NULL,
                body TEXT NOT NULL))",
       }},
      {17,
       "reports at 1,000,000 cases: the book's changed intervals in index order",
       {
           // Roll rates over a period: the start intervals that closed
           // since the start day, with the figures the report sums (an
           // index-only range from the start day on), ...
           "CREATE INDEX report_book_closed_rolls ON report_book (valid_to_day, valid_from_day, "
           "oldest_due_day, overdue_fen, policy_version, product, region, queue, book_key) "
           "WHERE valid_to_day < 1000000000",
           // ... and the intervals that began after it, each case's end
           // row; the report joins the two by case, instead of one lookup
           // in the book per changed case.
           "CREATE INDEX report_book_began ON report_book (valid_from_day, valid_to_day, "
           "oldest_due_day, overdue_fen, book_key)",
           // The stage funnel: each stage change followed by another
           // records, besides that change's day (next_change_day), the
           // stage it moved the case to; the funnel reads the changes
           // followed by another within the period as one range by
           // next_change_day (the last of each case says where the period
           // left it), instead of one lookup per case that changed again.
           "ALTER TABLE report_events ADD COLUMN next_stage INTEGER NOT NULL DEFAULT 0",
           "UPDATE report_events SET next_stage = COALESCE((SELECT n.stage_after FROM "
           "report_events n WHERE n.case_id = report_events.case_id AND n.seq > "
           "report_events.seq AND n.stage_after <> n.stage_before ORDER BY n.seq LIMIT 1), 0) "
           "WHERE stage_after <> stage_before AND next_change_day < 1000000000",
           "CREATE INDEX report_events_changed_again ON report_events (next_change_day, day, "
           "case_id, seq, stage_after, next_stage, prev_entry_day, policy_version, product, "
           "region, queue) WHERE stage_after <> stage_before AND next_change_day < 1000000000",
       }},
      {18,
       "reports at 1,000,000 cases: open tasks counted by queue, filter and deadline day",
       {
           // The SLA report's open work, counted: open_state 1 for READY
           // and LEASED, 5 for INCIDENT; deadline_day the UTC day of a
           // READY or LEASED task's deadline (deadline_us / 86400000000),
           // -1 without one and for incidents. The day's run folds
           // report_open_task_changes into these counts
           // (report_open_tasks.h).
           R"(CREATE TABLE report_open_tasks (
                queue TEXT NOT NULL,
                region TEXT NOT NULL,
                product TEXT NOT NULL,
                policy_version BIGINT NOT NULL,
                open_state INTEGER NOT NULL,
                deadline_day BIGINT NOT NULL,
                tasks BIGINT NOT NULL,
                PRIMARY KEY (queue, region, product, policy_version, open_state, deadline_day)))",
           // What changed since the fold: +1 / -1 rows appended by the
           // triggers below with every insert, update or delete of a task
           // that moves it into, out of or between counts, and with every
           // change of an open task's case's region, product or policy
           // version. Appended, never updated: parallel writers on
           // PostgreSQL share no row and take no lock on the counts.
           R"(CREATE TABLE report_open_task_changes (
                queue TEXT NOT NULL,
                region TEXT NOT NULL,
                product TEXT NOT NULL,
                policy_version BIGINT NOT NULL,
                open_state INTEGER NOT NULL,
                deadline_day BIGINT NOT NULL,
                tasks BIGINT NOT NULL))",
           "INSERT INTO report_open_tasks (queue, region, product, policy_version, open_state, "
           "deadline_day, tasks) SELECT t.queue, c.region, c.product, c.policy_version, CASE "
           "WHEN t.state = 5 THEN 5 ELSE 1 END, CASE WHEN t.state <> 5 AND t.deadline_us > 0 "
           "THEN t.deadline_us / 86400000000 ELSE -1 END, COUNT(*) FROM tasks t JOIN cases c ON "
           "c.case_id = t.case_id WHERE t.state IN (1, 2, 5) GROUP BY t.queue, c.region, "
           "c.product, c.policy_version, CASE WHEN t.state = 5 THEN 5 ELSE 1 END, CASE WHEN "
           "t.state <> 5 AND t.deadline_us > 0 THEN t.deadline_us / 86400000000 ELSE -1 END",
           // A task leaves its count (OLD) and joins another (NEW) only
           // when its state group, queue, deadline day or case changes: a
           // claim (READY -> LEASED) appends nothing. On SQLite the open
           // states are spelled as equalities, not IN (1, 2, 5): a list of
           // more than two values is a temporary B-tree built at every
           // row's trigger run (see version 20).
           "{sqlite}CREATE TRIGGER report_open_task_inserted AFTER INSERT ON tasks WHEN "
           "(NEW.state = 1 OR NEW.state = 2 OR NEW.state = 5) BEGIN INSERT INTO "
           "report_open_task_changes SELECT "
           "NEW.queue, c.region, c.product, c.policy_version, CASE WHEN NEW.state = 5 THEN 5 "
           "ELSE 1 END, CASE WHEN NEW.state <> 5 AND NEW.deadline_us > 0 THEN NEW.deadline_us / "
           "86400000000 ELSE -1 END, 1 FROM cases c WHERE c.case_id = NEW.case_id; END",
           "{sqlite}CREATE TRIGGER report_open_task_updated AFTER UPDATE ON tasks WHEN "
           "((OLD.state = 1 OR OLD.state = 2 OR OLD.state = 5) OR (NEW.state = 1 OR NEW.state = 2 "
           "OR NEW.state = 5)) AND (OLD.case_id <> NEW.case_id "
           "OR OLD.queue <> NEW.queue OR (CASE WHEN OLD.state IN (1, 2) THEN 1 WHEN OLD.state = "
           "5 THEN 5 ELSE 0 END) <> (CASE WHEN NEW.state IN (1, 2) THEN 1 WHEN NEW.state = 5 "
           "THEN 5 ELSE 0 END) OR (NEW.state IN (1, 2) AND (CASE WHEN OLD.deadline_us > 0 THEN "
           "OLD.deadline_us / 86400000000 ELSE -1 END) <> (CASE WHEN NEW.deadline_us > 0 THEN "
           "NEW.deadline_us / 86400000000 ELSE -1 END))) BEGIN "
           "INSERT INTO report_open_task_changes SELECT OLD.queue, c.region, c.product, "
           "c.policy_version, CASE WHEN OLD.state = 5 THEN 5 ELSE 1 END, CASE WHEN OLD.state <> "
           "5 AND OLD.deadline_us > 0 THEN OLD.deadline_us / 86400000000 ELSE -1 END, -1 FROM "
           "cases c WHERE c.case_id = OLD.case_id AND (OLD.state = 1 OR OLD.state = 2 OR OLD.state "
           "= 5); "
           "INSERT INTO report_open_task_changes SELECT NEW.queue, c.region, c.product, "
           "c.policy_version, CASE WHEN NEW.state = 5 THEN 5 ELSE 1 END, CASE WHEN NEW.state <> "
           "5 AND NEW.deadline_us > 0 THEN NEW.deadline_us / 86400000000 ELSE -1 END, 1 FROM "
           "cases c WHERE c.case_id = NEW.case_id AND (NEW.state = 1 OR NEW.state = 2 OR NEW.state "
           "= 5); END",
           "{sqlite}CREATE TRIGGER report_open_task_deleted AFTER DELETE ON tasks WHEN "
           "(OLD.state = 1 OR OLD.state = 2 OR OLD.state = 5) BEGIN INSERT INTO "
           "report_open_task_changes SELECT "
           "OLD.queue, c.region, c.product, c.policy_version, CASE WHEN OLD.state = 5 THEN 5 "
           "ELSE 1 END, CASE WHEN OLD.state <> 5 AND OLD.deadline_us > 0 THEN OLD.deadline_us / "
           "86400000000 ELSE -1 END, -1 FROM cases c WHERE c.case_id = OLD.case_id; END",
           absl::StrCat(
               "{sqlite}CREATE TRIGGER report_open_task_case_moved AFTER UPDATE ON cases "
               "WHEN "
               "OLD.region <> NEW.region OR OLD.product <> NEW.product OR OLD.policy_version <> "
               "NEW.policy_version BEGIN ",
               CaseMovedOpenTaskChanges(), "END"),
           "{postgres}CREATE FUNCTION report_open_task_changed() RETURNS trigger LANGUAGE "
           "plpgsql AS $$ BEGIN "
           "IF TG_OP <> 'INSERT' AND OLD.state IN (1, 2, 5) THEN "
           "INSERT INTO report_open_task_changes SELECT OLD.queue, c.region, c.product, "
           "c.policy_version, CASE WHEN OLD.state = 5 THEN 5 ELSE 1 END, CASE WHEN OLD.state <> "
           "5 AND OLD.deadline_us > 0 THEN OLD.deadline_us / 86400000000 ELSE -1 END, -1 FROM "
           "cases c WHERE c.case_id = OLD.case_id; END IF; "
           "IF TG_OP <> 'DELETE' AND NEW.state IN (1, 2, 5) THEN "
           "INSERT INTO report_open_task_changes SELECT NEW.queue, c.region, c.product, "
           "c.policy_version, CASE WHEN NEW.state = 5 THEN 5 ELSE 1 END, CASE WHEN NEW.state <> "
           "5 AND NEW.deadline_us > 0 THEN NEW.deadline_us / 86400000000 ELSE -1 END, 1 FROM "
           "cases c WHERE c.case_id = NEW.case_id; END IF; "
           "RETURN NULL; END $$",
           "{postgres}CREATE TRIGGER report_open_task_inserted AFTER INSERT ON tasks FOR EACH "
           "ROW WHEN (NEW.state IN (1, 2, 5)) EXECUTE FUNCTION report_open_task_changed()",
           "{postgres}CREATE TRIGGER report_open_task_updated AFTER UPDATE ON tasks FOR EACH ROW "
           "WHEN ((OLD.state IN (1, 2, 5) OR NEW.state IN (1, 2, 5)) AND (OLD.case_id <> "
           "NEW.case_id OR OLD.queue <> NEW.queue OR (CASE WHEN OLD.state IN (1, 2) THEN 1 WHEN "
           "OLD.state = 5 THEN 5 ELSE 0 END) <> (CASE WHEN NEW.state IN (1, 2) THEN 1 WHEN "
           "NEW.state = 5 THEN 5 ELSE 0 END) OR (NEW.state IN (1, 2) AND (CASE WHEN "
           "OLD.deadline_us > 0 THEN OLD.deadline_us / 86400000000 ELSE -1 END) <> (CASE WHEN "
           "NEW.deadline_us > 0 THEN NEW.deadline_us / 86400000000 ELSE -1 END)))) "
           "EXECUTE FUNCTION report_open_task_changed()",
           "{postgres}CREATE TRIGGER report_open_task_deleted AFTER DELETE ON tasks FOR EACH ROW "
           "WHEN (OLD.state IN (1, 2, 5)) EXECUTE FUNCTION report_open_task_changed()",
           absl::StrCat("{postgres}CREATE FUNCTION report_open_task_case_moved() RETURNS trigger "
                        "LANGUAGE "
                        "plpgsql AS $$ BEGIN ",
                        CaseMovedOpenTaskChanges(), "RETURN NULL; END $$"),
           "{postgres}CREATE TRIGGER report_open_task_case_moved AFTER UPDATE ON cases FOR EACH "
           "ROW WHEN (OLD.region <> NEW.region OR OLD.product <> NEW.product OR "
           "OLD.policy_version <> NEW.policy_version) "
           "EXECUTE FUNCTION report_open_task_case_moved()",
       }},
      {20,
       "sqlite: partial indexes that decide membership without a temporary table",
       {
           // SQLite evaluates "x IN (a, b, c)" (more than two values) in a
           // partial index's WHERE by building a temporary B-tree, every
           // time a statement writes a row of the table: for the old and
           // the new row, for each such index. That was about a tenth of
           // the writer's time in task cycles (each claim, completion and
           // new task) and in aging (each case update). The equalities
           // decide first and cheaply; the IN (...) after them only runs
           // for rows outside the index, and stays so that queries written
           // "x IN (...)" still match the index (SQLite uses a partial
           // index for a query that has its WHERE term or one of its OR
           // terms). PostgreSQL has no such cost and keeps its indexes.
           "{sqlite}DROP INDEX tasks_open",
           absl::StrCat("{sqlite}CREATE INDEX tasks_open ON tasks (queue, state, deadline_us, "
                        "not_before_us, hold_reason, case_id) WHERE ",
                        SqliteOpenTaskStates()),
           "{sqlite}DROP INDEX tasks_open_case",
           absl::StrCat("{sqlite}CREATE INDEX tasks_open_case ON tasks (case_id, queue, state, "
                        "deadline_us, not_before_us, hold_reason) WHERE ",
                        SqliteOpenTaskStates()),
           "{sqlite}DROP INDEX cases_book",
           "{sqlite}CREATE INDEX cases_book ON cases (stage, case_class, oldest_due_day, "
           "overdue_total_fen, principal_outstanding_fen, policy_version, product, region, "
           "assigned_queue) WHERE (stage = 1 OR stage = 2 OR stage = 3 OR stage = 4) OR "
           "stage IN (1, 2, 3, 4)",
       }},
      {21,
       "reports at 1,000,000 cases: the stage changes counted by day",
       {
           // The stage changes (stage_after <> stage_before) of each day
           // counted by the columns the stage funnel and the effectiveness
           // report's flow filter and group on; prev_entry_day only for
           // entries into an open stage (-1 for the others: no report asks).
           // The day's run adds the days before yesterday
           // (report_stage_changes_folded.through_day); the reports read
           // these counts for those days and report_events for the later
           // ones, instead of every change of the period (the day of an
           // import is a million of them).
           StageChangeCountsTable("report_stage_changes_by_day", R"(,
                PRIMARY KEY (day, stage_after, stage_before, prev_entry_day, policy_version,
                             product, region, queue))"),
           R"(CREATE TABLE report_stage_changes_folded (
                state_id INTEGER PRIMARY KEY,
                through_day BIGINT NOT NULL))",
           // The days the last run (report_book_state) would have folded.
           "INSERT INTO report_stage_changes_folded (state_id, through_day) SELECT 1, "
           "COALESCE(MAX(day) - 2, -1) FROM report_book_state",
           CountStageChangesOfDays("day <= (SELECT through_day FROM "
                                   "report_stage_changes_folded WHERE state_id = 1)"),
           // The current intervals of report_book summed by oldest due day
           // and filter, kept by the day's run with the intervals it
           // writes: roll rates read the cases that did not change since
           // the start day as these sums less the current intervals that
           // began after it (by start day, below), not as every case.
           R"(CREATE TABLE report_book_current_sums (
                oldest_due_day BIGINT NOT NULL,
                policy_version BIGINT NOT NULL,
                product TEXT NOT NULL,
                region TEXT NOT NULL,
                queue TEXT NOT NULL,
                cases BIGINT NOT NULL,
                overdue_fen BIGINT NOT NULL,
                PRIMARY KEY (oldest_due_day, policy_version, product, region, queue)))",
           "INSERT INTO report_book_current_sums (oldest_due_day, policy_version, product, "
           "region, queue, cases, overdue_fen) SELECT oldest_due_day, policy_version, product, "
           "region, queue, COUNT(*), SUM(overdue_fen) FROM report_book WHERE valid_to_day = "
           "1000000000 GROUP BY oldest_due_day, policy_version, product, region, queue",
           "CREATE INDEX report_book_current_began ON report_book (valid_from_day, "
           "oldest_due_day, overdue_fen, policy_version, product, region, queue) WHERE "
           "valid_to_day = 1000000000",
           // PostgreSQL: the reports read these tables' indexes alone
           // (index-only scans) only on pages the visibility map marks
           // all-visible. By default autovacuum waits for a fifth of a
           // table to change (200,000 rows of a 1,000,000-case book, ten
           // days' runs), and meanwhile the funnel's changes of the period
           // were read from the table (0.45 s against 0.06-0.11 s, issue
           // #17). A day's run changes about 2 %: vacuumed after each.
           "{postgres}ALTER TABLE report_events SET (autovacuum_vacuum_scale_factor = 0.005, "
           "autovacuum_vacuum_insert_scale_factor = 0.005)",
           "{postgres}ALTER TABLE report_book SET (autovacuum_vacuum_scale_factor = 0.005, "
           "autovacuum_vacuum_insert_scale_factor = 0.005)",
       }},
      {22,
       "tasks: no second index of open tasks by case",
       {
           // tasks_open_case served the SLA report's open work per filtered
           // case; since version 19 that report reads report_open_tasks,
           // and today's deadlines come from tasks_open (INDEXED BY). What
           // still read it were the writes: cancelling a case's open tasks
           // (each aged case that moves stage), whose entries then had to
           // be deleted from it too. Every task's insert, claim, completion
           // and cancel kept one more wide entry up to date: at 1,000,000
           // cases, cancelling 20,000 cases' open tasks took 2.2 s with it
           // and 1.2 s without (SQLite). A case's tasks are found by
           // tasks_case (case_id) instead.
           "DROP INDEX IF EXISTS tasks_open_case",
       }},
      {23,
       "reports: stage changes counted as they commit",
       {
           // The writer counts each commit's stage changes by
           // report_stage_changes_by_day's key and adds them here in the
           // same commit; the day's run moves them into
           // report_stage_changes_by_day. Version 21 counted only the days
           // before yesterday, from report_events, and the reports read
           // the later days' rows: on the day of a 1,000,000-row import
           // the funnel scanned a million of them (1.4 s on SQLite).
           StageChangeCountsTable("report_stage_change_deltas", ""),
           // The days version 21 left in report_events, counted now.
           CountStageChangesOfDays("day > COALESCE((SELECT through_day FROM "
                                   "report_stage_changes_folded WHERE state_id = 1), -1)"),
           "DROP TABLE report_stage_changes_folded",
       }},
      {24,
       "reports: no index of every stage change by day",
       {
           // report_events_changes (version 11) served the funnel's
           // entries and the effectiveness report's flow, which since
           // version 23 read counts. Every stage change still wrote a
           // ten-column entry into it, and the link to the case's next
           // change (next_change_day, one of its columns) moved that entry
           // again.
           "DROP INDEX IF EXISTS report_events_changes",
       }},
  };
  return *migrations;
}

// Any constant works; it only has to be the same for every server.
constexpr long long kMigrationLockKey = 0x436f6c6c4d696772;  // "CollMigr"

}  // namespace

int LatestSchemaVersion() { return Migrations().back().version; }

absl::StatusOr<int> Migrate(soci::session& sql, Backend backend, absl::Time now) {
  bool in_transaction = false;
  try {
    sql << (backend == Backend::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN");
    in_transaction = true;
    if (backend == Backend::kPostgres) {
      sql << "SELECT pg_advisory_xact_lock(" << kMigrationLockKey << ")";
    }
    sql << R"(CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at_us BIGINT NOT NULL))";
    long long current = 0;
    sql << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", soci::into(current);
    if (current > LatestSchemaVersion()) {
      sql << "ROLLBACK";
      return absl::FailedPreconditionError(
          absl::StrCat("database schema version ", current, " is newer than this server's (",
                       LatestSchemaVersion(), "): upgrade the server"));
    }
    // Every migration not recorded yet, in order (not only those above the
    // highest recorded: a database restored or rewound past one of them,
    // as the upgrade tests do, still gets it).
    std::set<long long> applied;
    {
      long long version = 0;
      soci::statement st =
          (sql.prepare << "SELECT version FROM schema_migrations", soci::into(version));
      st.execute();
      while (st.fetch()) applied.insert(version);
    }
    for (const Migration& m : Migrations()) {
      if (applied.count(m.version) != 0) continue;
      for (const std::string& statement : m.statements) {
        // "{sqlite}" / "{postgres}": a statement for that backend only.
        absl::string_view text = statement;
        if (absl::ConsumePrefix(&text, "{sqlite}") && backend != Backend::kSqlite) continue;
        if (absl::ConsumePrefix(&text, "{postgres}") && backend != Backend::kPostgres) continue;
        sql << Dialect(text, backend);
      }
      const long long version = m.version;
      const std::string name = m.name;
      const long long applied_at_us = absl::ToUnixMicros(now);
      sql << "INSERT INTO schema_migrations (version, name, applied_at_us) "
             "VALUES (:v, :n, :t)",
          soci::use(version), soci::use(name), soci::use(applied_at_us);
    }
    sql << "COMMIT";
    return LatestSchemaVersion();
  } catch (...) {
    absl::Status status = StatusFromCurrentException("schema migration");
    if (in_transaction) {
      try {
        sql << "ROLLBACK";
      } catch (...) {
      }
    }
    return status;
  }
}

}  // namespace collections::storage
