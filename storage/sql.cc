#include "storage/sql.h"

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "soci/postgresql/soci-postgresql.h"
#include "soci/sqlite3/soci-sqlite3.h"
#include "storage/page_cache.h"
#include "storage/wal_write_buffer.h"

namespace collections::storage {

absl::StatusOr<Backend> BackendOf(const std::string& connection) {
  if (absl::StartsWith(connection, "sqlite3://")) return Backend::kSqlite;
  if (absl::StartsWith(connection, "postgresql://")) return Backend::kPostgres;
  return absl::InvalidArgumentError(
      absl::StrCat("database connection must start with sqlite3:// or postgresql://, got \"",
                   connection.substr(0, connection.find("://")), "\""));
}

void RegisterBackends() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Process-wide SQLite settings, before any connection opens (SQLite
    // refuses them, harmlessly, once it is initialized). Debian's SQLite is
    // built without lookaside memory, so every small allocation of a
    // statement goes to malloc; by default each one also takes a global
    // mutex to keep memory statistics nobody reads. And each connection
    // here is used by one thread at a time (the writer's by its thread, a
    // reader by whoever borrowed it from the pool), so SQLite's own mutex
    // around every call on a connection ("serialized" mode) only costs.
    sqlite_api::sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite_api::sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    InstallPageCache();  // see storage/page_cache.h
    // After the settings above: finding the default VFS initializes SQLite.
    // Without it (no default VFS to wrap) SQLite's own is used as it is.
    RegisterWalWriteBuffer();
    soci::register_factory_sqlite3();
    soci::register_factory_postgresql();
  });
}

void ConfigureSession(soci::session& sql, Backend backend, const StoreOptions& options,
                      bool reader) {
  if (backend == Backend::kPostgres) {
    sql << "SET client_min_messages TO WARNING";
    // No JIT compilation. PostgreSQL compiles any statement its planner
    // costs above jit_above_cost, and its estimates for a join over a
    // key range are far too high: the day's run's read of the changed
    // cases' intervals (5,000 cases, 42 ms to run) spent 364 ms compiling
    // with LLVM, three times a day. No statement here runs long enough to
    // repay a compilation.
    sql << "SET jit = off";
    return;
  }
  // SOCI sets sqlite3_busy_timeout from "timeout=" (seconds); without it
  // SQLite fails at once with SQLITE_BUSY instead of waiting.
  if (options.connection.find("timeout=") == std::string::npos) {
    sql << "PRAGMA busy_timeout = " << options.sqlite_busy_timeout_ms;
  }
  sql << "PRAGMA synchronous = FULL";
  if (reader) {
    sql << "PRAGMA query_only = ON";
    return;
  }
  // No foreign-key checks on the writer: SQLite compiles an immediate
  // foreign key of a statement that may write several rows (any insert
  // into a table with a trigger, any update) into "this statement may
  // abort halfway", and such a statement keeps a statement journal (see
  // WriterSql). The references still hold: the writer writes a child row
  // only for a case it has just read or written in the same transaction,
  // cases are never deleted, and PostgreSQL checks the same foreign keys
  // under the same storage suite, whose SQLite runs end with
  // PRAGMA foreign_key_check.
  sql << "PRAGMA foreign_keys = OFF";
  // The writer (see StoreOptions): its page cache, how often it
  // checkpoints, and that it never shrinks the WAL file (below).
  sql << "PRAGMA cache_size = -" << options.sqlite_writer_cache_kib;
  // Savepoint journals (one per command of a group commit: the original of
  // every page the command changes) in memory. By default SQLite keeps
  // 64 KiB in memory and then writes the rest to a temporary file, page by
  // page, for every command that touches more than 16 pages. In memory
  // they have no size limit but memory. (Raising the spill size instead,
  // SQLITE_CONFIG_STMTJRNL_SPILL, is faster still but broken in SQLite
  // 3.40.1: a journal that outgrows it fails with SQLITE_FULL and rolls back
  // the whole group commit; see bench/RESULTS.md.)
  sql << "PRAGMA temp_store = MEMORY";
  sql << "PRAGMA wal_autocheckpoint = " << options.sqlite_wal_autocheckpoint_pages;
  // The WAL file keeps the size it grew to: SQLite truncates it, when
  // asked to, in the commit that restarts the log, on the writer's thread,
  // and freeing a large file's cached pages there held every caller for
  // 280-520 ms (one-task deliveries, bench/RESULTS.md); the restarted log
  // then writes into pages the kernel already holds. The checkpoint
  // threshold bounds the file (docs/operations-notes.md), and the last
  // connection to close removes it.
  sql << "PRAGMA journal_size_limit = -1";
}

absl::Status EnableWal(soci::session& sql) {
  std::string mode;
  sql << "PRAGMA journal_mode = WAL", soci::into(mode);
  if (absl::AsciiStrToLower(mode) != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("SQLite refused WAL journaling (journal_mode is \"", mode,
                     "\"); the database must be a file on a local file system"));
  }
  return absl::OkStatus();
}

absl::Status StatusFromCurrentException(absl::string_view context) {
  auto with_context = [&](const char* what) { return absl::StrCat(context, ": ", what); };
  try {
    throw;
  } catch (const soci::sqlite3_soci_error& e) {
    // Extended result codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary
    // code in their low byte.
    switch (e.result() & 0xff) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return absl::AbortedError(with_context(e.what()));
      case SQLITE_CANTOPEN:
      case SQLITE_IOERR:
        return absl::UnavailableError(with_context(e.what()));
      case SQLITE_FULL:
        return absl::ResourceExhaustedError(with_context(e.what()));
      default:
        return absl::InternalError(with_context(e.what()));
    }
  } catch (const soci::postgresql_soci_error& e) {
    const std::string state = e.sqlstate();
    // 40001 serialization_failure, 40P01 deadlock_detected,
    // 55P03 lock_not_available.
    if (state == "40001" || state == "40P01" || state == "55P03") {
      return absl::AbortedError(with_context(e.what()));
    }
    // Class 08: connection exceptions; 57P01-03: the server is shutting
    // down or starting up.
    if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P") ||
        e.get_error_category() == soci::soci_error::connection_error) {
      return absl::UnavailableError(with_context(e.what()));
    }
    return absl::InternalError(with_context(e.what()));
  } catch (const soci::soci_error& e) {
    if (e.get_error_category() == soci::soci_error::connection_error) {
      return absl::UnavailableError(with_context(e.what()));
    }
    return absl::InternalError(with_context(e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(with_context(e.what()));
  } catch (...) {
    return absl::InternalError(with_context("unknown exception"));
  }
}

bool SessionAlive(soci::session& sql) {
  try {
    return sql.is_connected();
  } catch (...) {
    return false;
  }
}

bool FetchOne(soci::statement& st) {
  if (!st.execute(true)) return false;
  st.fetch();  // steps past the last row: SQLite resets nothing until then
  return true;
}

std::string WriterSql(absl::string_view sql, Backend backend) {
  std::string text = Dialect(sql, backend);
  if (backend != Backend::kSqlite) return text;
  for (absl::string_view verb : {"INSERT INTO ", "UPDATE "}) {
    if (absl::StartsWith(text, verb)) {
      text.insert(verb.find(' '), " OR FAIL");
      break;
    }
  }
  return text;
}

std::string Dialect(absl::string_view sql, Backend backend) {
  const bool pg = backend == Backend::kPostgres;
  return absl::StrReplaceAll(sql, {{"{id_pk}", pg ? "BIGINT PRIMARY KEY" : "INTEGER PRIMARY KEY"},
                                   {"{skip_locked}", pg ? " FOR UPDATE SKIP LOCKED" : ""}});
}

}  // namespace collections::storage
