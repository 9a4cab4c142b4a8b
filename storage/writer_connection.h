// WriterConnection: the writer thread's database session, the statements it
// prepares once and re-executes per row (prepared_statements.h), and the
// transaction and savepoint control that group commit drives. Run hands each
// command a Transaction (writer_transaction.h), the UnitOfWork on the open
// transaction. Internal to storage/.
//
// Thread-safety: none. Only the writer thread (and Store::Open before the
// thread starts) touches a WriterConnection.
#ifndef COLLECTIONS_STORAGE_WRITER_CONNECTION_H_
#define COLLECTIONS_STORAGE_WRITER_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "soci/soci.h"
#include "storage/report_facts.h"
#include "storage/store.h"

namespace collections::storage {

class WriterConnection {
 public:
  // Connects, configures the session (WAL on SQLite), applies the
  // migrations and prepares the writer's statements.
  static absl::StatusOr<std::unique_ptr<WriterConnection>> Open(const StoreOptions& options,
                                                                Backend backend);
  ~WriterConnection();

  Backend backend() const { return backend_; }
  int schema_version() const { return schema_version_; }

  // Transaction control. Each returns the database error as a Status.
  absl::Status Begin();  // BEGIN IMMEDIATE on SQLite: take the write lock now
  absl::Status Commit();
  void Rollback();  // best effort: the transaction is gone either way
  absl::Status Savepoint();
  absl::Status RollbackToSavepoint();
  absl::Status ReleaseSavepoint();

  // Runs `command` on a fresh UnitOfWork in the open transaction. Its status
  // is the command's, or the first database error one of its UnitOfWork
  // calls met (its writes are then rolled back by the caller). Exceptions
  // are caught: INTERNAL.
  absl::Status Run(const Command& command);

  // False once the connection is lost; the writer then reconnects.
  bool Alive();

  // The tasks made ready by the commands that succeeded since the last call
  // (see StoreOptions::on_tasks_ready); the caller drops them when the
  // transaction rolls back.
  bool HasReady() const { return !ready_.empty(); }
  std::vector<ReadyTask> TakeReady() {
    std::vector<ReadyTask> out;
    out.swap(ready_);
    return out;
  }
  // How many handoffs the commands that succeeded created since the last
  // call (see StoreOptions::on_handoffs).
  int TakeHandoffs() { return std::exchange(handoffs_, 0); }

  // Reserves `n` consecutive ids of a sequence in a transaction of its own,
  // committed at once (on another connection), and returns the first.
  using IdReserver = std::function<absl::StatusOr<int64_t>(const std::string& sequence, int64_t n)>;
  // On PostgreSQL the store sets one: case and task id blocks are then
  // reserved outside the writers' transactions, so that a writer never
  // waits, with its own transaction open, for another writer's commit to
  // release the sequence's row; and a block stays valid whatever rolls
  // back. Set before the first command runs.
  void set_id_reserver(IdReserver reserver) { id_reserver_ = std::move(reserver); }

  // SQLite: after each commit, `hook` hears how many frames the WAL holds;
  // when it answers true, the writer checkpoints then and there (PASSIVE).
  // Replaces SQLite's own automatic checkpoint (wal_autocheckpoint), which
  // made the writer checkpoint inside a commit (see WalCheckpointer). No
  // effect on PostgreSQL.
  using WalHook = std::function<bool(int frames)>;
  void set_wal_hook(WalHook hook);

  // An audit entry of a command that succeeded, waiting for its commit.
  struct PendingAudit {
    AuditEntry entry;
    absl::Time at;
  };

 private:
  friend class StoreInternals;  // RunReportStep (store_internal.h)
  struct Statements;
  class Transaction;
  WriterConnection(Backend backend, const StoreOptions& options);
  absl::Status Execute(const char* sql, const char* what);
  // PostgreSQL with StoreOptions::replica_id: tells the other replicas, in
  // the open transaction, what the commands since the last commit changed.
  absl::Status NotifyPeers();
  // Appends the audit entries of the commands since the last commit to the
  // chain, in the open transaction (audit_log.cc).
  absl::Status AppendPendingAudit();
  // Adds the stage changes of the commands since the last commit to
  // report_stage_change_deltas, in the open transaction.
  absl::Status WritePendingStageChanges();
  // Runs `prepared` when there is one, else `sql` as a one-off statement.
  absl::Status Execute(soci::statement* prepared, const char* sql, const char* what);

  // Ids of a sequence reserved ahead in one statement and handed out one
  // command at a time: [next, end). See Transaction::Allocate.
  struct IdBlock {
    int64_t next = 0;
    int64_t end = 0;
  };
  // Forgets every reserved block: their reservation may have been rolled
  // back with the savepoint or transaction that made it. Blocks reserved
  // by id_reserver_ were committed on their own and stay.
  void DropIdBlocks() {
    if (!id_reserver_) id_blocks_.clear();
  }

  const Backend backend_;
  const StoreOptions options_;
  int schema_version_ = 0;
  soci::session sql_;
  std::unique_ptr<Statements> st_;  // after sql_: destroyed before it
  std::vector<ReadyTask> ready_;
  int handoffs_ = 0;
  bool shared_state_changed_ = false;
  std::vector<PendingAudit> audit_pending_;
  StageChangeTally stage_changes_pending_;
  std::map<std::string, IdBlock> id_blocks_;
  IdReserver id_reserver_;
  WalHook wal_hook_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_WRITER_CONNECTION_H_
