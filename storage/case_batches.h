// Steps of a command that works on many cases at once, such as a batch of
// the day's aging (server/case_engine.cc): one statement for the batch
// where UnitOfWork has one per case. Public: the server's engines use it.
//
// Thread-safety: as UnitOfWork: only inside the command the unit of work
// was passed to, on the writer thread that runs it.
#ifndef COLLECTIONS_STORAGE_CASE_BATCHES_H_
#define COLLECTIONS_STORAGE_CASE_BATCHES_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "collections/v1/case.pb.h"
#include "storage/store.h"

namespace collections::storage {

// The cases of `case_ids`, read with one statement (locked as
// UnitOfWork::LoadCase locks them, on PostgreSQL in case id order), one
// entry per id in `case_ids`' order, empty for an id with no case.
absl::StatusOr<std::vector<std::optional<v1::Case>>> LoadCases(
    UnitOfWork& uow, const std::vector<int64_t>& case_ids);

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_CASE_BATCHES_H_
