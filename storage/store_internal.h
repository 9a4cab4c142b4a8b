// The SOCI hooks of Store and UnitOfWork, for storage/ only (the report
// queries and snapshots of reports.cc): code outside storage/ sees neither
// SOCI nor these. They reach the internals through StoreInternals, the one
// friend Store (and WriterConnection) has.
//
// Thread-safety: as Store. ReadForReport runs on a pooled reader
// connection; RunReportStep only inside the command its UnitOfWork was
// passed to, on the writer thread.
#ifndef COLLECTIONS_STORAGE_STORE_INTERNAL_H_
#define COLLECTIONS_STORAGE_STORE_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "soci/soci.h"
#include "storage/store.h"

namespace collections::storage {

// Runs `read` on a pooled reader connection; SOCI exceptions become a
// Status.
absl::Status ReadForReport(Store& store, const std::function<absl::Status(soci::session&)>& read);

// Runs one step of a report snapshot on `uow`'s connection; a SOCI
// exception fails the command.
absl::Status RunReportStep(UnitOfWork& uow,
                           const std::function<void(soci::session&, Backend)>& step);

// The time the store records (StoreOptions::now).
absl::Time StoreNow(const Store& store);

// SQLite: asks the store's WAL checkpointer (wal_checkpointer.h) for a
// passive checkpoint on its own connection and thread, now rather than
// when the log reaches StoreOptions::sqlite_wal_autocheckpoint_pages.
// Returns at once. Nothing on PostgreSQL.
void RequestWalCheckpoint(Store& store);

// What the functions above use of Store's and the writer's private parts.
class StoreInternals {
 public:
  static absl::Status Read(Store& store, const std::function<absl::Status(soci::session&)>& read);
  static absl::Time Now(const Store& store);
  static void RequestWalCheckpoint(Store& store);
  // case_batches.h's LoadCases on the writer's Transaction.
  static absl::StatusOr<std::vector<std::optional<v1::Case>>> LoadCases(
      UnitOfWork& uow, const std::vector<int64_t>& case_ids);
  static absl::Status RunStep(UnitOfWork& uow,
                              const std::function<void(soci::session&, Backend)>& step);
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_STORE_INTERNAL_H_
