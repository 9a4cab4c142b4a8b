// The database schema, as an ordered list of forward migrations. Each
// applied migration is recorded in `schema_migrations` (version, name,
// applied_at_us); opening a database applies the missing ones in one
// transaction. Migrations are never edited once shipped: a change to the
// schema is a new migration appended to the list. Internal to storage/.
#ifndef COLLECTIONS_STORAGE_SCHEMA_H_
#define COLLECTIONS_STORAGE_SCHEMA_H_

#include "absl/status/statusor.h"
#include "soci/soci.h"
#include "storage/store.h"

namespace collections::storage {

// The version of the newest migration this build knows.
int LatestSchemaVersion();

// Brings the schema up to LatestSchemaVersion() and returns it. Concurrent
// servers opening one PostgreSQL database serialize on an advisory lock;
// SQLite serializes on BEGIN IMMEDIATE. FAILED_PRECONDITION when the
// database is newer than this build. `now` is recorded as each migration's
// applied_at_us.
absl::StatusOr<int> Migrate(soci::session& sql, Backend backend, absl::Time now);

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_SCHEMA_H_
