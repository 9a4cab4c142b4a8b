// WriterConnection::Transaction: the UnitOfWork a command sees, the
// writer's prepared statements (prepared_statements.h) on the open
// transaction. Any database error "poisons" it: later calls fail at once
// (PostgreSQL refuses statements after an error until the savepoint is rolled
// back anyway) and the command fails whatever it returns. Its task
// operations (claims, leases, holds, contacts and call counts) are defined in
// writer_tasks.cc, everything else in writer_transaction.cc. Internal to
// storage/.
//
// Thread-safety: none. A Transaction lives on the writer thread for the one
// command WriterConnection::Run made it for.
#ifndef COLLECTIONS_STORAGE_WRITER_TRANSACTION_H_
#define COLLECTIONS_STORAGE_WRITER_TRANSACTION_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "soci/soci.h"
#include "storage/prepared_statements.h"
#include "storage/sql.h"
#include "storage/store.h"
#include "storage/writer_connection.h"

namespace collections::storage {

class WriterConnection::Transaction final : public UnitOfWork {
 public:
  explicit Transaction(WriterConnection& writer)
      : w_(writer),
        s_(*writer.st_),
        pending_(s_.insert_event, &s_.e, s_.insert_task, &s_.t_new, s_.cancel_tasks, &s_.key_id,
                 &s_.t_now_us) {}
  const absl::Status& poisoned() const { return poisoned_; }
  // Writes the rows Apply left pending (WriterConnection::Run calls it when
  // the command's body has returned OK).
  absl::Status WritePendingRows() {
    return Guard("write events and tasks", [] { return absl::OkStatus(); });
  }
  // Tasks this unit of work made ready (see StoreOptions::on_tasks_ready).
  std::vector<ReadyTask>& ready() { return ready_; }
  int handoffs() const { return handoffs_; }
  // Whether it moved the business date, stored a policy or noted another
  // shared change (NoteSharedStateChanged).
  bool shared_state_changed() const { return shared_state_changed_; }
  // The audit entries it appended, for the chain at commit time.
  std::vector<PendingAudit>& audit() { return audit_; }

  // --- Cases, events, payments, ids (writer_transaction.cc) -----------------
  absl::StatusOr<std::optional<v1::Case>> LoadCase(int64_t case_id) override;
  absl::StatusOr<std::optional<v1::Case>> ReadCase(int64_t case_id) override;
  absl::StatusOr<std::optional<v1::Case>> LoadCaseByLoan(const std::string& loan_id) override;
  absl::StatusOr<std::vector<std::optional<v1::Case>>> LoadCasesByLoans(
      const std::vector<std::string>& loan_ids) override;
  absl::StatusOr<int64_t> AllocateIds(const std::string& sequence, int64_t n) override;
  absl::Status SetNextId(const std::string& sequence, int64_t next_id) override;
  absl::Status Apply(const workflow::Transition& t, int64_t expected_version) override;
  absl::Status OpenCases(const std::vector<workflow::Transition>& openings) override;
  absl::StatusOr<std::optional<StoredPayment>> FindPayment(const std::string& payment_id) override;

  // --- Tasks, contacts and call counts (writer_tasks.cc) --------------------
  absl::StatusOr<std::optional<v1::Task>> LoadTask(int64_t task_id) override;
  absl::StatusOr<std::vector<v1::Task>> ClaimTasks(const ClaimSpec& spec) override;
  absl::StatusOr<v1::Task> CheckLease(int64_t task_id, int64_t lease_token, absl::Time now,
                                      std::string* lease_key) override;
  absl::StatusOr<v1::Task> CompleteTask(int64_t task_id, int64_t lease_token,
                                        const v1::TaskOutcome& outcome, absl::Time now) override;
  absl::StatusOr<v1::Task> ReturnTask(int64_t task_id, int64_t lease_token, absl::Time not_before,
                                      bool incident, const std::string& reason,
                                      absl::Time now) override;
  absl::StatusOr<v1::Task> ExtendLease(int64_t task_id, int64_t lease_token, absl::Time new_expiry,
                                       absl::Time now) override;
  absl::StatusOr<std::vector<int64_t>> ExpireLeases(absl::Time now, int limit) override;
  absl::StatusOr<v1::Task> ReleaseTask(int64_t task_id, int64_t lease_token,
                                       absl::Time now) override;
  absl::Status DeferTask(int64_t task_id, absl::Time not_before) override;
  absl::StatusOr<std::optional<absl::Time>> NextReadyTime(const std::vector<std::string>& queues,
                                                          absl::Time now) override;
  absl::StatusOr<std::vector<v1::Task>> HeldTasks(int64_t case_id) override;
  absl::Status RecheckHold(const v1::Task& task, const std::string& hold_reason,
                           absl::Time not_before) override;
  absl::Status RecordContact(const ContactRecord& c) override;
  absl::Status EndContact(int64_t task_id, int64_t lease_token, bool connected) override;
  absl::Status DeleteContact(int64_t task_id, int64_t lease_token) override;
  absl::StatusOr<CallCounts> CountCalls(const std::string& borrower_id, absl::Time day_start,
                                        absl::Time week_start, absl::Time now) override;

  // --- Timers, idempotency, policies, handoffs, plans, business date,
  // reports (writer_transaction.cc) ------------------------------------------
  absl::StatusOr<std::vector<DueTimer>> DueTimers(absl::CivilDay through, int limit) override;
  absl::Status DeleteTimer(int64_t case_id, const workflow::TimerRef& timer) override;
  absl::StatusOr<std::optional<StoredResponse>> FindResponse(const std::string& scope,
                                                             const std::string& key) override;
  absl::Status SaveResponse(const std::string& scope, const std::string& key,
                            const std::string& response,
                            const std::string& request_digest) override;
  absl::StatusOr<int> PurgeResponses(absl::Time saved_before, int limit) override;
  absl::StatusOr<int64_t> PutPolicy(v1::Policy& policy) override;
  absl::StatusOr<std::optional<StoredHandoff>> LoadHandoff(int64_t sequence) override;
  absl::Status AcknowledgeHandoff(int64_t sequence, bool accepted, const std::string& reason,
                                  absl::Time at) override;
  // Plans are few and written rarely: plain statements, not prepared ones.
  absl::StatusOr<std::optional<v1::Plan>> LoadPlan(int64_t plan_id) override;
  absl::Status SavePlan(const v1::Plan& plan) override;
  absl::StatusOr<std::optional<v1::Policy>> LoadPolicy(int64_t version) override;
  absl::StatusOr<absl::CivilDay> BusinessDate() override;
  absl::Status SetBusinessDate(absl::CivilDay day) override;
  absl::Status CheckLeaderEpoch(const std::string& role, int64_t epoch) override;
  void NoteSharedStateChanged() override { shared_state_changed_ = true; }
  // The audit log (audit_log.cc).
  absl::Status AppendAudit(const AuditEntry& entry) override;
  // The cases of many ids at once, as LoadCasesByLoans reads loans (see
  // case_batches.h).
  absl::StatusOr<std::vector<std::optional<v1::Case>>> LoadCases(
      const std::vector<int64_t>& case_ids);
  // Runs one step of a report snapshot on the writer's session (see
  // store_internal.h's RunReportStep).
  absl::Status RunReportStep(const std::function<void(soci::session&, Backend)>& step);

 private:
  // LoadCasesByLoans and LoadCases: the cases whose `column` is one of
  // `keys`, in one statement, one entry per key in the keys' order.
  template <typename Key, typename KeyOf>
  absl::StatusOr<std::vector<std::optional<v1::Case>>> LoadCasesIn(const char* what,
                                                                   const char* column,
                                                                   const std::vector<Key>& keys,
                                                                   KeyOf key_of);
  // Runs `f`, turning a SOCI exception into a Status that also poisons this
  // unit of work. The rows Apply left pending are written first, so that
  // whatever `f` reads or writes sees them; Apply itself passes
  // write_pending = false.
  template <typename F>
  auto Guard(const char* what, F&& f, bool write_pending = true) -> decltype(f()) {
    if (!poisoned_.ok()) return poisoned_;
    just_checked_ = std::exchange(checked_task_, 0);
    try {
      if (write_pending && !pending_.empty()) pending_.Write(s_.inserts);
      return f();
    } catch (...) {
      poisoned_ = StatusFromCurrentException(what);
      return poisoned_;
    }
  }

  absl::StatusOr<std::optional<v1::Case>> CaseFrom(soci::statement& st);
  // Reserves n consecutive ids of `sequence`; throws. Case and task ids
  // come from blocks of kIdBlock reserved in one statement, instead of one
  // UPDATE of id_sequences per case or task. A block's reservation is a
  // write of the transaction like any other, and WriterConnection forgets
  // every block whenever a savepoint or the transaction rolls back, so an
  // id is never handed out twice; the cost is a gap in the ids after a
  // rollback or a restart. On PostgreSQL the blocks are reserved outside
  // the transaction instead (WriterConnection::set_id_reserver). Other sequences (handoffs,
  // policies, plans) are bumped per call: handoff sequences follow commit order, which the handoff
  // stream relies on.
  long long Allocate(const std::string& sequence, int64_t n);
  // Bumps the sequence's row by n in one statement; throws.
  long long Reserve(const std::string& sequence, int64_t n);
  // The task as leased under lease_token at `now`, or why not. Reads its row
  // into s_.t_out, unless `reuse_checked` and the call just before this one
  // was CheckLease of the same task: that row is still in s_.t_out, and the
  // UPDATE that follows (its WHERE on state and token, OneRow) still
  // catches a change since, so the lease's change pays one read, not two.
  absl::StatusOr<v1::Task> Leased(int64_t task_id, int64_t lease_token, absl::Time now,
                                  bool reuse_checked = false);
  // The row Leased() just checked changed under us only if another writer
  // got there first (PostgreSQL replicas).
  absl::Status OneRow(soci::statement& st, int64_t task_id);
  void SetCaseRow(const v1::Case& c, const std::optional<absl::CivilDay>& next_aging_day);
  static EventRow EventRowOf(const v1::CaseEvent& event);
  static NewTaskRow TaskRowOf(const workflow::TaskSpec& spec, long long task_id, long long case_id,
                              long long created_at_us);
  // A transition's case_events row and new tasks rows: pending on
  // PostgreSQL (pending_), written at once with the prepared one-row
  // statements on SQLite. Throw soci_error.
  void WriteEvent(EventRow row);
  void WriteTask(NewTaskRow row);
  // Everything of a transition after the case row. Throws soci_error.
  absl::Status ApplyEffects(const workflow::Transition& t);
  // Which of kCaseUpdateColumns the row set by SetCaseRow changes in `was`
  // (bit i: kCaseUpdateColumns[i]).
  uint32_t ChangedColumns(const StoredCaseRow& was) const;
  // The case row set by SetCaseRow as a StoredCaseRow.
  StoredCaseRow RowBeingWritten() const;
  // Updates the case row set by SetCaseRow, setting version, body and the
  // `changed` columns only; returns the rows updated. Throws soci_error.
  long long UpdateCaseColumns(uint32_t changed);

  WriterConnection& w_;
  Statements& s_;
  absl::Status poisoned_;
  // The task CheckLease read and checked last (0: none), and the same as
  // seen by the current call: Guard moves the one into the other, so the
  // row is reused only by the call right after the check (Leased).
  int64_t checked_task_ = 0;
  int64_t just_checked_ = 0;
  std::vector<ReadyTask> ready_;
  int handoffs_ = 0;  // handoffs this unit of work created
  bool shared_state_changed_ = false;
  std::vector<PendingAudit> audit_;
  // The cases rows LoadCases and LoadCasesByLoans read in this command, as
  // stored, by case id: Apply then writes only the columns a transition
  // changes (an aged case's update leaves the indexes on its unchanged
  // columns alone).
  absl::flat_hash_map<int64_t, StoredCaseRow> loaded_rows_;
  // The case_events rows, task cancellations and new tasks rows of this
  // command's transitions not yet written. On PostgreSQL Apply leaves them
  // here, and they are written together, one statement per table, before
  // anything else this command does (Guard) and when it ends: an aging
  // batch of 128 cases then costs three round trips for them instead of
  // 250 to 500. On SQLite,
  // which has no round trips to save, each transition writes its own with
  // the prepared one-row statements. An import's openings (OpenCases)
  // go through it on both.
  PendingRows pending_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_WRITER_TRANSACTION_H_
