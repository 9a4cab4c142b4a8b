// The steps of case_batches.h: WriterConnection::Transaction's reads for
// a command that works on many cases at once, such as a batch of the day's
// aging: one statement for the batch instead of one per case.
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/case_batches.h"
#include "storage/codec.h"
#include "storage/store_internal.h"
#include "storage/writer_transaction.h"

namespace collections::storage {

absl::StatusOr<std::vector<std::optional<v1::Case>>> WriterConnection::Transaction::LoadCases(
    const std::vector<int64_t>& case_ids) {
  return Guard("load cases", [&]() -> absl::StatusOr<std::vector<std::optional<v1::Case>>> {
    std::vector<std::optional<v1::Case>> found(case_ids.size());
    if (case_ids.empty()) return found;
    // The ids are numbers: written into the text, no binding needed.
    std::string text = "SELECT body FROM cases WHERE case_id IN (";
    for (size_t i = 0; i < case_ids.size(); ++i) {
      absl::StrAppend(&text, i == 0 ? "" : ", ", case_ids[i]);
    }
    // On PostgreSQL locked in one order on every writer, as
    // LoadCasesByLoans does, so that writers take turns instead of
    // deadlocking.
    absl::StrAppend(&text,
                    w_.backend() == Backend::kPostgres ? ") ORDER BY case_id FOR UPDATE" : ")");
    std::string body;
    soci::statement st(w_.sql_);
    st.exchange(soci::into(body));
    st.alloc();
    // One-time: PostgreSQL runs it in one round trip, unprepared.
    st.prepare(text, soci::details::st_one_time_query);
    st.define_and_bind();
    absl::flat_hash_map<int64_t, v1::Case> by_id;
    for (bool row = st.execute(true); row; row = st.fetch()) {
      v1::Case c;
      RETURN_IF_ERROR(DecodeMessage(body, &c, "case"));
      const int64_t id = c.case_id();
      by_id.emplace(id, std::move(c));
    }
    for (size_t i = 0; i < case_ids.size(); ++i) {
      auto it = by_id.find(case_ids[i]);
      if (it != by_id.end()) found[i] = it->second;
    }
    return found;
  });
}

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
