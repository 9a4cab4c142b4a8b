// SOCI plumbing shared by the writer, the readers and the migrations:
// opening and configuring sessions per backend, turning SOCI exceptions into
// absl::Status, and small statement helpers. Internal to storage/.
#ifndef COLLECTIONS_STORAGE_SQL_H_
#define COLLECTIONS_STORAGE_SQL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/store.h"

namespace collections::storage {

// kSqlite for "sqlite3://...", kPostgres for "postgresql://..." (SOCI's
// backend names); INVALID_ARGUMENT otherwise.
absl::StatusOr<Backend> BackendOf(const std::string& connection);

// Registers SOCI's sqlite3 and postgresql factories (once per process).
void RegisterBackends();

// Sets what every connection needs. SQLite: busy timeout,
// synchronous=FULL (a commit is on disk before it is acknowledged), for
// readers query_only, for the writer its cache, its checkpoints and no
// foreign-key checks (see WriterSql). PostgreSQL: client_min_messages
// WARNING, no JIT compilation.
// Throws soci_error.
void ConfigureSession(soci::session& sql, Backend backend, const StoreOptions& options,
                      bool reader);

// Turns SQLite's journal into WAL (readers never block the writer) and
// checks that it took. Throws soci_error.
absl::Status EnableWal(soci::session& sql);

// Call from a catch block: the exception in flight as a Status.
// SQLITE_BUSY/LOCKED and PostgreSQL serialization failures and deadlocks are
// ABORTED, lost or refused connections UNAVAILABLE, the rest INTERNAL.
absl::Status StatusFromCurrentException(absl::string_view context);

// Whether the session still has a usable connection (PostgreSQL can lose
// it; an SQLite file connection cannot).
bool SessionAlive(soci::session& sql);

// Runs a prepared single-row SELECT (a lookup by a unique key) and steps it
// to its end, so that SQLite does not keep the statement, and with it a read
// snapshot, open between executions. True when a row was found.
bool FetchOne(soci::statement& st);

// The SQL text for the backend: "{id_pk}" becomes the 64-bit primary key
// (SQLite's INTEGER PRIMARY KEY rowid alias, PostgreSQL's BIGINT PRIMARY
// KEY), "{skip_locked}" becomes " FOR UPDATE SKIP LOCKED" on PostgreSQL and
// nothing on SQLite (one writer: nothing to skip).
std::string Dialect(absl::string_view sql, Backend backend);

// Dialect(sql) as the writer runs it: on SQLite an INSERT or UPDATE becomes
// INSERT OR FAIL / UPDATE OR FAIL; other statements and PostgreSQL's are
// Dialect(sql). Why: an SQLite statement that may fail a constraint
// after writing part of its rows (a NOT NULL column, a unique index, a
// trigger's insert) keeps a statement journal, a copy of every page it is
// about to change, so that the failure can undo that statement alone. The
// writer never needs that: a failed statement fails its command, and the
// command's writes are undone with it (its savepoint, or the transaction of
// a batch run without savepoints). OR FAIL (for the statement and the
// triggers it fires) lets SQLite skip the journal; the copies and their
// allocations were a tenth of an import's time.
std::string WriterSql(absl::string_view sql, Backend backend);

// Binds every column of kTaskColumns into `row`; `q` is the temporary of
// `sql.prepare << ...` or `sql << ...`.
template <typename Q>
void IntoTaskRow(Q& q, TaskRow& row) {
  q, soci::into(row.task_id), soci::into(row.case_id), soci::into(row.task_type),
      soci::into(row.queue), soci::into(row.state), soci::into(row.priority),
      soci::into(row.not_before_us), soci::into(row.deadline_us), soci::into(row.attempts),
      soci::into(row.lease_owner), soci::into(row.lease_token), soci::into(row.lease_expires_us),
      soci::into(row.payload), soci::into(row.hold_reason), soci::into(row.lease_key);
}

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_SQL_H_
