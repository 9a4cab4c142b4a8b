#include "storage/writer_connection.h"

#include <memory>
#include <utility>

#include "common/status_macros.h"
#include "soci/sqlite3/soci-sqlite3.h"
#include "storage/peer_link.h"
#include "storage/prepared_statements.h"
#include "storage/schema.h"
#include "storage/sql.h"
#include "storage/writer_transaction.h"

namespace collections::storage {

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
  ASSIGN_OR_RETURN(w->schema_version_, Migrate(w->sql_, backend, options.now()));
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
  return Execute(st_->begin.get(), backend_ == Backend::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN",
                 "begin transaction");
}
absl::Status WriterConnection::Commit() {
  RETURN_IF_ERROR(WritePendingStageChanges());
  RETURN_IF_ERROR(AppendPendingAudit());
  RETURN_IF_ERROR(NotifyPeers());
  shared_state_changed_ = false;  // told; only the peers needed to hear it
  return Execute(st_->commit.get(), "COMMIT", "commit");
}

absl::Status WriterConnection::NotifyPeers() {
  if (backend_ != Backend::kPostgres || options_.replica_id.empty()) return absl::OkStatus();
  if (ready_.empty() && handoffs_ == 0 && !shared_state_changed_) return absl::OkStatus();
  std::string payload =
      EncodePeerNotice(options_.replica_id, ready_, handoffs_ > 0, shared_state_changed_);
  try {
    sql_ << "SELECT pg_notify('" << kPeerChannel << "', :p)", soci::use(payload);
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException("notify the other replicas");
  }
}
absl::Status WriterConnection::WritePendingStageChanges() {
  if (stage_changes_pending_.empty()) return absl::OkStatus();
  try {
    WriteStageChanges(stage_changes_pending_, st_->inserts);
  } catch (...) {
    return StatusFromCurrentException("count the stage changes");
  }
  // Written: a COMMIT that fails now rolls them back with the rest.
  stage_changes_pending_.clear();
  return absl::OkStatus();
}
void WriterConnection::Rollback() {
  DropIdBlocks();
  stage_changes_pending_.clear();
  shared_state_changed_ = false;
  audit_pending_.clear();
  Execute(st_->rollback.get(), "ROLLBACK", "rollback").IgnoreError();
}
absl::Status WriterConnection::Execute(soci::statement* prepared, const char* sql,
                                       const char* what) {
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
  return Execute(st_->rollback_to_savepoint.get(), "ROLLBACK TO SAVEPOINT command",
                 "rollback to savepoint");
}
absl::Status WriterConnection::ReleaseSavepoint() {
  return Execute(st_->release_savepoint.get(), "RELEASE SAVEPOINT command", "release savepoint");
}

absl::Status WriterConnection::Run(const Command& command) {
  Transaction uow(*this);
  absl::Status status;
  try {
    status = command(uow);
    if (status.ok()) status = uow.WritePendingRows();
  } catch (...) {
    status = StatusFromCurrentException("command");
  }
  if (status.ok() && !uow.poisoned().ok()) status = uow.poisoned();
  // Taken whatever the outcome: a failed command's counts go with it.
  StageChangeTally counted = st_->report_facts.TakeStageChanges();
  if (status.ok()) {
    for (ReadyTask& r : uow.ready()) ready_.push_back(std::move(r));
    handoffs_ += uow.handoffs();
    shared_state_changed_ = shared_state_changed_ || uow.shared_state_changed();
    for (PendingAudit& a : uow.audit()) audit_pending_.push_back(std::move(a));
    for (auto& [key, n] : counted) stage_changes_pending_[key] += n;
  }
  return status;
}

bool WriterConnection::Alive() { return SessionAlive(sql_); }

void WriterConnection::set_wal_hook(WalHook hook) {
  if (backend_ != Backend::kSqlite) return;
  wal_hook_ = std::move(hook);
  auto* native = static_cast<soci::sqlite3_session_backend*>(sql_.get_backend())->conn_;
  sqlite_api::sqlite3_wal_hook(
      native,
      [](void* self, sqlite_api::sqlite3* db, const char* name, int frames) -> int {
        auto* w = static_cast<WriterConnection*>(self);
        if (w->wal_hook_ && w->wal_hook_(frames)) {
          sqlite_api::sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                                nullptr);
        }
        return SQLITE_OK;
      },
      this);
}

}  // namespace collections::storage
