// Store: durable state of the collections server behind SOCI (sqlite3 or
// postgresql, chosen by the connection string). Owns the schema and its
// migrations, the case/event/task/timer/handoff/payment tables, and the one
// write path: a Command runs inside a UnitOfWork (one transaction, or a
// savepoint within a group commit) and its caller hears back only once the
// commit is durable.
//
// Thread-safety: Store is thread-safe. Reads run on pooled connections and
// see committed data only. Writes are handed to the writer threads
// (Submit/Write): one on SQLite, StoreOptions::writer_connections on
// PostgreSQL. Each applies up to max_batch queued commands in one
// transaction, each inside its own savepoint. A UnitOfWork is only valid
// inside the command it was passed to, on the writer thread that runs it.
// A command may run more than once (after losing a race, see
// StoreOptions::writer_connections): it must start from scratch each time.
//
// Errors: SOCI exceptions never escape; they become absl::Status.
// UNAVAILABLE: the database could not be reached (retry the call).
// ABORTED: a version conflict or a busy/serialization failure (retry the
// read-modify-write). INTERNAL: any other database error, with its message.
// NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT come from
// commands, the state machine and the task lease checks.
#ifndef COLLECTIONS_STORAGE_STORE_H_
#define COLLECTIONS_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collections/v1/case.pb.h"
#include "collections/v1/legal_service.pb.h"
#include "collections/v1/plan_service.pb.h"
#include "collections/v1/policy.pb.h"
#include "collections/v1/task.pb.h"
#include "storage/audit.h"
#include "workflow/compliance.h"
#include "workflow/simulation.h"
#include "workflow/state_machine.h"

namespace collections::storage {

enum class Backend { kSqlite, kPostgres };

// A task that is claimable from `not_before` on: created, failed or released
// back to its queue, its lease expired, or deferred by a compliance hold.
struct ReadyTask {
  std::string queue;
  v1::TaskType type = v1::TASK_TYPE_UNSPECIFIED;
  absl::Time not_before;
};

struct StoreOptions {
  // SOCI connection string: "sqlite3://db=/path/file.db timeout=5" or
  // "postgresql://host=127.0.0.1 port=5432 dbname=... user=...".
  std::string connection;
  int read_pool_size = 4;
  // Writer threads, each with its own connection and its own group commit,
  // on PostgreSQL: independent cases commit concurrently, and a command
  // that loses a race with another (ABORTED: a case's version guard, a
  // deadlock, a serialization failure) runs again from the top, up to 8
  // times, before its caller hears ABORTED. SQLite allows one writer at a
  // time: there it is always 1.
  int writer_connections = 8;
  // Most commands the writer applies in one commit (group commit); at most
  // 64 on PostgreSQL, where each is a subtransaction. On SQLite a larger
  // commit writes each B-tree page it touches once for all its commands (a
  // 300,000-row import wrote a quarter fewer bytes than with 256; see
  // bench/RESULTS.md); a command waits at most for the batch ahead of it.
  int max_batch = 1024;
  // SQLite busy timeout, used unless the connection string sets timeout=.
  int sqlite_busy_timeout_ms = 5000;
  // SQLite page cache of the writer's connection, in KiB: enough for a
  // group commit's dirty pages and the indexes' hot pages of a large book.
  // It is kept once filled (the day's run does not give it back), so it is
  // most of the server's memory: about 240 MB in all at 1,000,000 cases.
  int sqlite_writer_cache_kib = 192 * 1024;
  // The WAL size, in pages, at which a checkpoint copies the WAL into the
  // database file. The checkpoint runs on a connection and thread of its
  // own (WalCheckpointer), not inside the writer's commit; only when the
  // log reaches four times this size (checkpoints falling behind) does the
  // writer checkpoint itself. SQLite's default, 1000 pages, would copy the
  // same hot index pages again every few group commits under load; 262144
  // pages (1 GiB) lets a checkpoint write a page once for many commits (a
  // bulk import ran about a third faster than at 65536 pages), at the price
  // of a WAL that readers and crash recovery read through. Durability is
  // the same either way: a commit is acknowledged once the WAL is synced.
  int sqlite_wal_autocheckpoint_pages = 262144;
  // Called on the writer thread for the tasks a batch of commands made
  // ready, so that waiting claims can wake; like `done`, it must not block
  // on the writer. With several writers (PostgreSQL's pool) after the
  // batch's commit, before the commands' `done` callbacks. With one writer
  // (SQLite) before the commit: the commands it submits then (the woken
  // claims) join the same transaction, so that a new task reaches a waiting
  // worker in one commit; if that commit fails, they fail with it.
  std::function<void(const std::vector<ReadyTask>&)> on_tasks_ready;
  // Called on the writer thread after a commit that created handoffs, so
  // that waiting StreamHandoffs streams look again. Must not block.
  std::function<void()> on_handoffs;
  // Most commands waiting for the writer; past it Submit answers
  // RESOURCE_EXHAUSTED at once (the caller should back off and retry)
  // instead of queueing without end. 0: no bound.
  int max_queued_commands = 0;
  // Called after each group commit with what it says about the database's
  // health: OK when a commit succeeded; the error when the transaction
  // failed (commit, begin, lost connection) or when every command of it
  // failed with a database error (INTERNAL or UNAVAILABLE: disk full, I/O
  // error). Not called for batches whose commands all failed for their own
  // reasons (NOT_FOUND, FAILED_PRECONDITION ...). Called on a writer thread,
  // possibly several at once; must not block on the writer.
  std::function<void(const absl::Status&)> on_write_outcome;
  // PostgreSQL: when set, every commit that made tasks ready, created
  // handoffs, moved the business date or stored a policy also sends a
  // notification (pg_notify, inside the transaction: only a durable commit
  // is heard) that PeerLink delivers to the other replicas. The id tells a
  // replica its own notifications apart. Empty: none sent (one server).
  std::string replica_id;
  // The time the store records in its rows (created_at_us, applied_at_us,
  // taken_at_us and the like). The server sets its Clock here, so that a
  // fake clock sees consistent times; called on any thread.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// A handoff's row without its case file (see UnitOfWork::LoadHandoff).
struct StoredHandoff {
  int64_t sequence = 0;
  int64_t case_id = 0;
  std::string firm_id;
  v1::HandoffKind kind = v1::HANDOFF_KIND_UNSPECIFIED;
  bool acknowledged = false;
  bool accepted = false;
};

// Which ready tasks a worker wants (see UnitOfWork::ClaimTasks).
struct ClaimSpec {
  std::vector<std::string> queues;  // required, at least one
  std::vector<v1::TaskType> types;  // empty: any type
  std::string worker;               // required
  int max_tasks = 1;
  absl::Duration lease = absl::Minutes(5);
  absl::Time now;
  // Compliance: why a candidate must not be handed out now, empty when it
  // may be. Unset: every candidate may. The reason is stored on the task
  // (Task.hold_reason) so that people can see why it waits.
  std::function<std::string(const v1::Task&)> hold;
  // Candidates examined per queue; 0 means 4 * max_tasks + 16.
  int scan_limit = 0;
};

// A call handed out to a worker, recorded when it is leased so that the
// contact caps count calls in flight too. Keyed by (task_id, lease_token).
struct ContactRecord {
  int64_t task_id = 0;
  int64_t lease_token = 0;
  int64_t case_id = 0;
  std::string borrower_id;
  v1::TaskType task_type = v1::TASK_TYPE_UNSPECIFIED;
  absl::Time at;
};

using workflow::CallCounts;  // what UnitOfWork::CountCalls returns

// The largest page the list RPCs give out. The stores return up to one row
// more (kMaxListRows) so that a caller paging at the maximum can tell
// whether another page exists.
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kMaxListRows = kMaxPageSize + 1;

// Filter and page of Store::FindTasks (supervisors' view of open work).
struct TaskFilter {
  std::vector<v1::TaskState> states;  // empty: any state
  std::vector<std::string> queues;    // empty: any queue
  bool held_only = false;             // only tasks with a hold_reason
  int64_t case_id = 0;                // 0: any case
  int64_t after_task_id = 0;          // page cursor
  int limit = 100;                    // clamped to 1..kMaxListRows
};

// A timer that has come due, as found by UnitOfWork::DueTimers.
struct DueTimer {
  int64_t case_id = 0;
  workflow::TimerSpec timer;
};

// A stored payment (the payments table), for idempotency per payment id.
struct StoredPayment {
  int64_t case_id = 0;
  v1::Payment payment;
};

// An idempotent answer as stored (the idempotency table): the answer's
// bytes and the digest of the request it answered (empty for rows stored
// before schema version 9).
struct StoredResponse {
  std::string response;
  std::string request_digest;
};

// Filter and page of Store::ListCases (CaseService.ListCases, and the
// business-date run that ages open cases). Defaults do not filter.
struct CaseFilter {
  std::vector<v1::Stage> stages;       // empty: any stage
  std::vector<v1::CaseClass> classes;  // empty: any class
  int32_t min_days_past_due = 0;
  int32_t max_days_past_due = 0;  // 0: no upper bound
  std::string assigned_queue;     // empty: any
  int64_t policy_version = 0;     // 0: any
  absl::Time updated_since = absl::InfinitePast();
  // Only cases whose latest event is on an earlier business date (those an
  // interrupted aging run has not reached yet).
  std::optional<absl::CivilDay> business_date_before;
  // Only cases whose next aging day is on or before this date (aging).
  std::optional<absl::CivilDay> aging_due_through;
  // The business date that min/max_days_past_due refer to; unset: the
  // figure stored with each case's latest event.
  std::optional<absl::CivilDay> today;
  int64_t after_case_id = 0;  // page cursor: cases with a larger id
  int limit = 100;            // clamped to 1..kMaxListRows
};

// Where an aging run stands: the next aging day and case id of the last
// case it listed (see Store::ListAgingDue). {0, 0} starts from the top.
struct AgingCursor {
  int64_t day = 0;  // workflow::DayNumber of the case's next aging day
  int64_t case_id = 0;
};

struct WriterStats {
  int64_t commits = 0;          // transactions committed
  int64_t commands = 0;         // commands run (committed or failed)
  int64_t failed_commands = 0;  // commands whose `done` got an error
  int64_t largest_batch = 0;
  int64_t rejected_commands = 0;  // refused: max_queued_commands reached
  int64_t retried_commands = 0;   // runs that lost a race and ran again
  int64_t queued_commands = 0;    // waiting for the writer now
  // SQLite: WAL checkpoints run beside the writer (WalCheckpointer), and
  // those the writer ran itself because the log outgrew four times
  // sqlite_wal_autocheckpoint_pages (the checkpoints fell behind).
  int64_t background_checkpoints = 0;
  int64_t writer_checkpoints = 0;
};

// Open work as the metrics endpoint counts it (Store::CountOpenWork).
// READY and LEASED tasks by queue and the first `hold_prefix_length`
// characters of their hold reason (hold reasons are free text with times
// and counts in them; their beginnings name the kind of hold).
struct OpenTaskGroup {
  std::string queue;
  bool leased = false;      // LEASED; else READY
  std::string hold_prefix;  // empty: no hold reason (always empty for LEASED)
  int64_t tasks = 0;
  int64_t not_yet_due = 0;  // READY with not_before after `now`
  // The earliest time a due READY task of the group became claimable (the
  // later of its creation and its not_before); InfiniteFuture when none.
  absl::Time oldest_due = absl::InfiniteFuture();
};

// One firm's handoffs and how far its acknowledgements are behind them.
struct FirmHandoffCounts {
  std::string firm_id;
  int64_t unacknowledged = 0;
  // When the oldest unacknowledged handoff was made; InfiniteFuture if none.
  absl::Time oldest_unacknowledged = absl::InfiniteFuture();
  int64_t newest_sequence = 0;
  int64_t newest_acknowledged_sequence = 0;  // 0: none acknowledged
};

struct OpenWork {
  std::vector<OpenTaskGroup> tasks;         // by (queue, leased, hold_prefix)
  std::vector<FirmHandoffCounts> handoffs;  // by firm_id
};

// A page of the open book, for the what-if simulation: open cases in case
// id order, each with its open (READY or LEASED) tasks.
struct OpenBookPage {
  std::vector<v1::Case> cases;
  std::vector<std::vector<workflow::OpenTask>> open_tasks;  // parallel to cases
};

// What the book's own history says its borrowers do (Store::ReadBookBehaviour).
struct BookBehaviour {
  workflow::BookRates rates;  // what the simulation draws from
  struct Row {
    v1::CaseClass case_class = v1::CASE_CLASS_UNSPECIFIED;  // both UNSPECIFIED: book-wide
    v1::Stage stage = v1::STAGE_UNSPECIFIED;
    workflow::BehaviourRates rates;
    int64_t observations = 0;  // contacts counted (book-wide: contacts)
  };
  std::vector<Row> rows;  // book-wide first, then each (class, stage) with its own rates
};

class UnitOfWork;
using Command = std::function<absl::Status(UnitOfWork&)>;

// Which writer a command waits for. On PostgreSQL a transaction that appends
// to the audit log holds the chain's lock until its commit, so audited
// commands spread over several writers would commit one after another;
// kAudited commands (claims, recorded reads) all go to the first writer,
// which batches them into one transaction, one lock and one commit while
// the other writers commit everything else in parallel. A hint, not a
// rule: a kAny command that appends to the audit log is still correct.
// With one writer (SQLite, or writer_connections = 1) both are the one.
//
// kBulk commands (an import's rows, the day's aging, the lease reaper:
// work nobody waits for command by command) are served like kAny, but a
// writer whose last batch was of other commands takes the bulk ones first, and
// one whose last batch was bulk takes the others first: a claim queued
// behind an import waits for at most the import's commit in progress, not
// for every import row queued ahead of it, and an import under a steady
// flow of other commands still gets every other commit. While other
// commands come, bulk commits are kept short (a few tenths of a second);
// otherwise they take all that waits (an import's commits are cheaper per
// row the larger they are).
enum class WriteLane { kAny, kAudited, kBulk };

class Store {
 public:
  // Connects, applies forward migrations, and starts the writer.
  // UNAVAILABLE when the database cannot be opened.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();  // runs every command already submitted, then stops the writer

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Backend backend() const;
  // The schema version after Open's migrations (the latest this build knows).
  int schema_version() const;

  // --- The write path -----------------------------------------------------
  // Runs `command` in a transaction (its own savepoint when batched with
  // others). `done` is called exactly once, on the store's answer thread (in
  // commit order), once the commit is durable (OK) or with the error that
  // rolled the command back; a failure never affects another command of the
  // batch. A command returning OK after one of its UnitOfWork calls hit a
  // database error fails with that error (nothing half-written). `done` must
  // be short and must not wait on the writer (Write): other answers wait.
  void Submit(Command command, std::function<void(absl::Status)> done,
              WriteLane lane = WriteLane::kAny);
  // Submit and wait. Must not be called from a command or a `done`.
  absl::Status Write(Command command, WriteLane lane = WriteLane::kAny);
  WriterStats writer_stats() const;
  // Writer connections (threads): 1 on SQLite, writer_connections on
  // PostgreSQL.
  int writer_connections() const;
  // Reader connections leased from the pool right now (of read_pool_size).
  int readers_in_use() const;

  // --- Reads (committed data) ----------------------------------------------
  absl::StatusOr<v1::Case> GetCase(int64_t case_id);  // NOT_FOUND
  absl::StatusOr<v1::Case> GetCaseByLoan(const std::string& loan_id);
  // In case id order.
  absl::StatusOr<std::vector<v1::Case>> ListCases(const CaseFilter& filter);
  // Up to `limit` (1..1000) cases whose next aging day is on or before
  // `through`, after `after`, in (next aging day, case id) order: the
  // business-date run's work list. Each entry is also the cursor for the
  // next page. Reads only the cases_aging index (no case bodies) and seeks
  // to the cursor, so every page costs the same however many cases are due
  // (ListCases with aging_due_through sorts every due case for each page).
  absl::StatusOr<std::vector<AgingCursor>> ListAgingDue(absl::CivilDay through, AgingCursor after,
                                                        int limit);
  // A page of a case's events, returned in sequence order: those with
  // after_sequence < sequence <= through_sequence (0: no upper bound), at
  // most `limit` (clamped to 1..kMaxListRows). The lowest sequences, or with
  // `newest` the highest.
  absl::StatusOr<std::vector<v1::CaseEvent>> ListEventsPage(int64_t case_id, int64_t after_sequence,
                                                            int64_t through_sequence, int limit,
                                                            bool newest);
  // Every payment recorded on a case, in the order recorded.
  absl::StatusOr<std::vector<v1::Payment>> ListCasePayments(int64_t case_id);
  // Every task of the case, by task id.
  absl::StatusOr<std::vector<v1::Task>> ListTasks(int64_t case_id);
  absl::StatusOr<v1::Task> GetTask(int64_t task_id);  // NOT_FOUND
  // Tasks matching `filter`, by task id.
  absl::StatusOr<std::vector<v1::Task>> FindTasks(const TaskFilter& filter);
  // The case's pending timers, by (kind, ref).
  absl::StatusOr<std::vector<workflow::TimerSpec>> ListTimers(int64_t case_id);
  // Handoffs with sequence > after_sequence, in sequence order, each with
  // the case as it was when handed off (no history: see LegalService). An
  // empty firm_id lists every firm's.
  absl::StatusOr<std::vector<v1::Handoff>> ListHandoffs(const std::string& firm_id,
                                                        int64_t after_sequence, int limit);
  // Every handoff of one case, in sequence order (GetCase).
  absl::StatusOr<std::vector<v1::Handoff>> ListCaseHandoffs(int64_t case_id);
  absl::StatusOr<v1::Plan> GetPlan(int64_t plan_id);  // NOT_FOUND
  // Every plan of the case, oldest first.
  absl::StatusOr<std::vector<v1::Plan>> ListPlans(int64_t case_id);
  // The stored policy of that version; NOT_FOUND if none.
  absl::StatusOr<v1::Policy> GetPolicy(int64_t version);
  // Highest stored version, 0 when none.
  absl::StatusOr<int64_t> CurrentPolicyVersion();
  // Every stored version, ascending.
  absl::StatusOr<std::vector<int64_t>> ListPolicyVersions();
  // NOT_FOUND until SetBusinessDate has run once.
  absl::StatusOr<absl::CivilDay> BusinessDate();
  // Open tasks and handoffs counted for the metrics endpoint, in one
  // grouped statement (a full pass over the READY and LEASED tasks and over
  // the handoffs: callers cache the answer rather than ask per request).
  absl::StatusOr<OpenWork> CountOpenWork(absl::Time now, int hold_prefix_length);

  // --- The book for the what-if simulation (book_history.cc) ---------------
  // Calls `page` with the open book, `page_size` cases at a time (1..10,000),
  // each page read on a pooled connection (the next one while the callback
  // works on this one), so that the callback's work holds no connection
  // and memory stays two pages whatever the book's size. Stops at the first
  // error, the callback's included.
  absl::Status ForEachOpenBookPage(const std::function<absl::Status(const OpenBookPage&)>& page,
                                   int page_size = 1000);
  // The book's behaviour over the business days [from, through], counted
  // in the report facts (report_events, report_promises and the daily
  // portfolio), grouped statements only: a (class, stage) with fewer than
  // `min_observations` contacts takes the book-wide rates, a book with
  // fewer than that takes workflow::DefaultBehaviourRates. See
  // docs/strategy.md, "What-if simulation".
  absl::StatusOr<BookBehaviour> ReadBookBehaviour(absl::CivilDay from, absl::CivilDay through,
                                                  int min_observations = 20);

  // --- The audit log (storage/audit.h) -------------------------------------
  // Records matching `filter`, in id order, at most filter.limit.
  absl::StatusOr<std::vector<AuditRecord>> ListAuditRecords(const AuditFilter& filter);
  // Reads the whole log in id order and recomputes the chain: stops at the
  // first row whose hash does not match its contents (edited), whose id does
  // not follow the one before (deleted) or whose previous hash is not the
  // hash of the row before (deleted or replaced). A log cut off at its end
  // verifies: compare last_id/last_hash with a head recorded elsewhere.
  absl::StatusOr<AuditVerification> VerifyAuditChain();

 private:
  friend class StoreInternals;  // storage/'s own hooks (store_internal.h)
  class Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One transaction's view of the database, handed to a Command. Reads see the
// writes of earlier commands of the same batch.
class UnitOfWork {
 public:
  virtual ~UnitOfWork() = default;

  // --- Cases
  // ------------------------------------------------------------------
  // On PostgreSQL LoadCase locks the case's row until the commit (a command
  // that changes the case reads what the last one committed).
  virtual absl::StatusOr<std::optional<v1::Case>> LoadCase(int64_t case_id) = 0;
  // The case as last committed (or as this batch wrote it), without its row
  // lock: for a check that does not change the case, such as a claim's
  // contact rules. A claim that locked tasks and then waited for the case
  // would deadlock with a command on the case that waits for those tasks.
  virtual absl::StatusOr<std::optional<v1::Case>> ReadCase(int64_t case_id) = 0;
  virtual absl::StatusOr<std::optional<v1::Case>> LoadCaseByLoan(const std::string& loan_id) = 0;
  // The cases of many loans at once (locked as LoadCase locks), one entry
  // per loan in `loan_ids`' order: for a batch of feed rows, one statement
  // instead of one per row.
  virtual absl::StatusOr<std::vector<std::optional<v1::Case>>> LoadCasesByLoans(
      const std::vector<std::string>& loan_ids) = 0;

  // Reserves `n` consecutive ids from the named sequence ("case", "task",
  // "handoff", "plan") and returns the first. A new sequence starts at 1.
  virtual absl::StatusOr<int64_t> AllocateIds(const std::string& sequence, int64_t n) = 0;
  // Makes the next id of `sequence` be `next_id` (back-fills, tests).
  virtual absl::Status SetNextId(const std::string& sequence, int64_t next_id) = 0;

  // Applies a transition atomically with the rest of the unit of work: the
  // case row (inserted when expected_version is 0: ALREADY_EXISTS if its
  // case id or loan id is taken; else updated only if its version is still
  // expected_version: ABORTED otherwise), the appended event, the payment
  // row of a payment event (ALREADY_EXISTS for a payment id seen before),
  // cancelled and created tasks, timers, and the handoff. The transition
  // must be for version expected_version + 1 (INTERNAL otherwise: a bug).
  virtual absl::Status Apply(const workflow::Transition& transition, int64_t expected_version) = 0;
  // Apply(t, 0) for many new cases at once, each table's rows written with
  // multi-row statements. Every transition must open its case (version 1)
  // without a payment, a handoff or a promise (INTERNAL otherwise: a bug).
  // ABORTED when a case id or loan id is already taken (another writer
  // opened one of these loans first: run the command again, and the loan is
  // then found); nothing of the batch is kept then.
  virtual absl::Status OpenCases(const std::vector<workflow::Transition>& openings) = 0;

  // A payment recorded by an earlier transition, if any.
  virtual absl::StatusOr<std::optional<StoredPayment>> FindPayment(
      const std::string& payment_id) = 0;

  // --- Tasks (docs/design.md, decision 3: leased, not given)
  // ------------------------
  virtual absl::StatusOr<std::optional<v1::Task>> LoadTask(int64_t task_id) = 0;
  // Leases the most urgent ready tasks (priority, then not_before, then id)
  // of spec.queues whose not_before has passed: state LEASED, a new lease
  // token, lease_expires_at = now + lease, attempts + 1. On PostgreSQL the
  // candidates are locked FOR UPDATE SKIP LOCKED, so replicas never hand out
  // the same task. Each lease gets a new secret lease_key (128 bits from
  // OpenSSL's RAND_bytes), stored with it and set on the returned task only.
  // Returns the leased tasks, most urgent first.
  virtual absl::StatusOr<std::vector<v1::Task>> ClaimTasks(const ClaimSpec& spec) = 0;
  // The task as leased under `lease_token`: NOT_FOUND for an unknown task;
  // FAILED_PRECONDITION when it is not leased, the token is stale or the
  // lease expired before `now`. `lease_key` (when not null) receives the
  // secret of that lease, as ClaimTasks generated it ('' for a lease taken
  // before schema version 9), for the caller to compare with what the
  // holder presents; it is read with the task, in the same statement.
  virtual absl::StatusOr<v1::Task> CheckLease(int64_t task_id, int64_t lease_token, absl::Time now,
                                              std::string* lease_key) = 0;
  // The following check the lease like CheckLease first.
  // COMPLETED, with its outcome; returns the task as it was leased.
  virtual absl::StatusOr<v1::Task> CompleteTask(int64_t task_id, int64_t lease_token,
                                                const v1::TaskOutcome& outcome, absl::Time now) = 0;
  // Back to READY from `not_before` (a failure to retry, or a release), or to
  // INCIDENT when `incident` (failed more often than the policy allows).
  virtual absl::StatusOr<v1::Task> ReturnTask(int64_t task_id, int64_t lease_token,
                                              absl::Time not_before, bool incident,
                                              const std::string& reason, absl::Time now) = 0;
  virtual absl::StatusOr<v1::Task> ExtendLease(int64_t task_id, int64_t lease_token,
                                               absl::Time new_expiry, absl::Time now) = 0;
  // Puts up to `limit` tasks whose lease expired at or before `now` back in
  // their queue (READY); returns their ids.
  virtual absl::StatusOr<std::vector<int64_t>> ExpireLeases(absl::Time now, int limit) = 0;
  // Gives a leased task back untouched: READY, with the attempt its claim
  // counted taken back.
  virtual absl::StatusOr<v1::Task> ReleaseTask(int64_t task_id, int64_t lease_token,
                                               absl::Time now) = 0;
  // Moves a READY task's not_before to `not_before` (a compliance hold that
  // may lift then), so that it stops crowding the head of its queue.
  virtual absl::Status DeferTask(int64_t task_id, absl::Time not_before) = 0;
  // The case's READY tasks that carry a hold_reason (compliance holds and
  // failures waiting for their retry), by task id.
  virtual absl::StatusOr<std::vector<v1::Task>> HeldTasks(int64_t case_id) = 0;
  // A READY task looked at again by compliance (a hold was lifted): its
  // hold_reason and not_before. With no reason left it is claimable from
  // `not_before`, and reported ready (StoreOptions::on_tasks_ready) so that
  // waiting claims wake. FAILED_PRECONDITION when it is not READY.
  virtual absl::Status RecheckHold(const v1::Task& task, const std::string& hold_reason,
                                   absl::Time not_before) = 0;
  // The earliest not_before later than `now` among the READY tasks of
  // `queues`: when a claim that found nothing should look again.
  virtual absl::StatusOr<std::optional<absl::Time>> NextReadyTime(
      const std::vector<std::string>& queues, absl::Time now) = 0;

  // --- Contacts (the caps of ContactRules)
  // ---------------------------------------
  // A call handed out: an attempt, and a reservation against the connected
  // cap until EndContact (see workflow::CallCounts). Once per lease (a
  // (task, lease token) pair is handed out once).
  virtual absl::Status RecordContact(const ContactRecord& contact) = 0;
  // Someone reported how the call of that lease ended: it reached the
  // borrower (`connected`), or it did not (not reached, or failed), which
  // frees its reservation. A lease that lapses is not an end: nobody knows
  // whether the call connected, so it keeps counting.
  virtual absl::Status EndContact(int64_t task_id, int64_t lease_token, bool connected) = 0;
  // The lease was given back untouched: nobody was contacted.
  virtual absl::Status DeleteContact(int64_t task_id, int64_t lease_token) = 0;
  // The borrower's calls (call task types only): attempts, connected and
  // unreported calls since `day_start`, attempts since `week_start`.
  // First takes the borrower's lock row (contact_borrowers) until the
  // transaction ends, so that a claim's count and the calls it records are
  // not interleaved with another transaction's claim for the same borrower:
  // on PostgreSQL a parallel claim waits at this call and then counts what
  // the first one committed (two claims taking two borrowers in opposite
  // order: PostgreSQL detects the deadlock and one fails with ABORTED); on
  // SQLite writers are serialised anyway.
  virtual absl::StatusOr<CallCounts> CountCalls(const std::string& borrower_id,
                                                absl::Time day_start, absl::Time week_start,
                                                absl::Time now) = 0;

  // --- Timers
  // ------------------------------------------------------------------- Up to
  // `limit` timers due on or before `through`, earliest first (locked FOR
  // UPDATE SKIP LOCKED on PostgreSQL). Firing one is a transition that clears
  // it.
  virtual absl::StatusOr<std::vector<DueTimer>> DueTimers(absl::CivilDay through, int limit) = 0;
  // Drops one timer without a transition (one its case no longer needs).
  virtual absl::Status DeleteTimer(int64_t case_id, const workflow::TimerRef& timer) = 0;

  // --- Idempotency
  // ---------------------------------------------------------------- The stored
  // response for (scope, key), if any, and storing one (replacing an earlier
  // one). Responses are opaque bytes (serialized protos); request_digest
  // identifies the request they answer (empty in rows stored before schema
  // version 9, which had none).
  virtual absl::StatusOr<std::optional<StoredResponse>> FindResponse(const std::string& scope,
                                                                     const std::string& key) = 0;
  virtual absl::Status SaveResponse(const std::string& scope, const std::string& key,
                                    const std::string& response,
                                    const std::string& request_digest) = 0;
  // Deletes at most `limit` stored responses saved before `saved_before`,
  // oldest first, and returns how many it deleted (fewer than `limit`: none
  // older is left). Bounded so that one purge never holds the writer long.
  virtual absl::StatusOr<int> PurgeResponses(absl::Time saved_before, int limit) = 0;

  // --- Policies and the business date
  // --------------------------------------------- Stores `policy` as a new
  // version (its version field is set to the one assigned: the highest stored +
  // 1) and returns that version.
  virtual absl::StatusOr<int64_t> PutPolicy(v1::Policy& policy) = 0;
  virtual absl::StatusOr<std::optional<v1::Policy>> LoadPolicy(int64_t version) = 0;

  // --- Handoffs to counsel ------------------------------------------------------
  virtual absl::StatusOr<std::optional<StoredHandoff>> LoadHandoff(int64_t sequence) = 0;
  // Records counsel's acknowledgement once; a later one changes nothing.
  virtual absl::Status AcknowledgeHandoff(int64_t sequence, bool accepted,
                                          const std::string& reason, absl::Time at) = 0;

  // --- Repayment plans ---------------------------------------------------------
  virtual absl::StatusOr<std::optional<v1::Plan>> LoadPlan(int64_t plan_id) = 0;
  // Inserts or replaces the plan (its plan_id must be set).
  virtual absl::Status SavePlan(const v1::Plan& plan) = 0;

  // NOT_FOUND until set once.
  virtual absl::StatusOr<absl::CivilDay> BusinessDate() = 0;
  virtual absl::Status SetBusinessDate(absl::CivilDay day) = 0;

  // --- Replicas -------------------------------------------------------------
  // The leader's fence: OK when `epoch` is 0 (a single server, no
  // leadership) or is still the epoch stored for `role` (see PeerLink);
  // FAILED_PRECONDITION when another replica has taken the role since. On
  // PostgreSQL the role's row is share-locked until the transaction ends,
  // so a new leader's takeover waits for this write to commit.
  virtual absl::Status CheckLeaderEpoch(const std::string& role, int64_t epoch) = 0;
  // Tells the other replicas, with this commit, that shared state outside
  // the ones the store knows (the live experiment, storage/experiments.h)
  // changed: they re-read it, as after a new policy or business date.
  virtual void NoteSharedStateChanged() {}

  // --- The audit log -------------------------------------------------------
  // Appends `entry` to the audit chain, stamped with the store's clock
  // (StoreOptions::now) now. The row commits or rolls back with the rest of
  // the unit of work; it gets its id and its place in the chain when its
  // batch commits (the chain is written last, so that parallel writers hold
  // its lock only for their commit).
  virtual absl::Status AppendAudit(const AuditEntry& entry) = 0;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_STORE_H_
