// case_batches.h's steps, on the writer's Transaction (whose statements are
// in writer_transaction.cc).
#include <vector>

#include "storage/case_batches.h"
#include "storage/store_internal.h"
#include "storage/writer_transaction.h"

namespace collections::storage {

absl::StatusOr<std::vector<std::optional<v1::Case>>> StoreInternals::LoadCases(
    UnitOfWork& uow, const std::vector<int64_t>& case_ids) {
  // Every UnitOfWork a command is handed is the writer's Transaction.
  auto* transaction = dynamic_cast<WriterConnection::Transaction*>(&uow);
  if (transaction == nullptr) {
    return absl::InternalError("case batches run only on the store's writer");
  }
  return transaction->LoadCases(case_ids);
}

absl::StatusOr<std::vector<std::optional<v1::Case>>> LoadCases(
    UnitOfWork& uow, const std::vector<int64_t>& case_ids) {
  return StoreInternals::LoadCases(uow, case_ids);
}

}  // namespace collections::storage
