// The access rules' versions (migration 15): each collections.v1.AccessRules
// (the client-certificate principals and the changes to the method -> roles
// table) as its message, under a version that only grows. The newest
// version is the one every replica admits its callers by (docs/security.md,
// "Access rules in the database"); storing one tells the other replicas
// (UnitOfWork::NoteSharedStateChanged), which re-read it.
//
// Thread-safety: the writes and the Locked read run inside a storage
// command on the writer (UnitOfWork); the other reads use the store's
// reader pool and are thread-safe.
#ifndef COLLECTIONS_STORAGE_ACCESS_RULES_H_
#define COLLECTIONS_STORAGE_ACCESS_RULES_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collections/v1/access_service.pb.h"
#include "storage/store.h"

namespace collections::storage {

// --- On the writer, inside a command -----------------------------------------

// The newest stored version, read in the command's transaction; none before
// the first is stored.
absl::StatusOr<std::optional<v1::AccessRules>> NewestAccessRulesLocked(UnitOfWork& uow);
// Stores `rules` (with its created_at and created_by) as the version after
// the newest stored one, and sets that version on `rules`. ABORTED when
// another transaction stored that version first (the writer runs the
// command again, which then reads the newer one).
absl::Status InsertAccessRules(UnitOfWork& uow, v1::AccessRules& rules);

// --- Reads on the reader pool -------------------------------------------------

// The stored version `version`; 0: the newest. Empty when there is none.
absl::StatusOr<std::optional<v1::AccessRules>> GetAccessRules(Store& store, int64_t version);
// The newest stored version number, 0 when none is stored (one cheap read:
// replicas poll it).
absl::StatusOr<int64_t> NewestAccessRulesVersion(Store& store);

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_ACCESS_RULES_H_
