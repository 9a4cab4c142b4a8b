#include "storage/access_rules.h"

#include <string>
#include <utility>

#include "common/status_macros.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/store_internal.h"

namespace collections::storage {
namespace {

constexpr char kNewest[] = "SELECT body FROM access_rules ORDER BY version DESC LIMIT 1";

absl::StatusOr<std::optional<v1::AccessRules>> Decoded(bool found, const std::string& body) {
  if (!found) return std::nullopt;
  v1::AccessRules rules;
  RETURN_IF_ERROR(DecodeMessage(body, &rules, "access rules"));
  return rules;
}

}  // namespace

absl::StatusOr<std::optional<v1::AccessRules>> NewestAccessRulesLocked(UnitOfWork& uow) {
  std::string body;
  bool found = false;
  RETURN_IF_ERROR(RunReportStep(uow, [&](soci::session& sql, Backend) {
    sql << kNewest, soci::into(body);
    found = sql.got_data();
  }));
  return Decoded(found, body);
}

absl::Status InsertAccessRules(UnitOfWork& uow, v1::AccessRules& rules) {
  long long newest = 0;
  RETURN_IF_ERROR(RunReportStep(uow, [&](soci::session& sql, Backend) {
    sql << "SELECT COALESCE(MAX(version), 0) FROM access_rules", soci::into(newest);
  }));
  rules.set_version(newest + 1);
  const long long version = rules.version();
  const long long created_at_us = MicrosOf(rules.created_at());
  const std::string created_by = rules.created_by();
  const std::string body = EncodeMessage(rules);
  long long inserted = 0;
  RETURN_IF_ERROR(RunReportStep(uow, [&](soci::session& sql, Backend) {
    // A parallel writer (another replica's) that stored this version first
    // makes this one insert nothing rather than fail the whole batch.
    soci::statement st =
        (sql.prepare << "INSERT INTO access_rules (version, created_at_us, created_by, body) "
                        "VALUES (:v, :at, :by, :body) ON CONFLICT (version) DO NOTHING",
         soci::use(version), soci::use(created_at_us), soci::use(created_by), soci::use(body));
    st.execute(true);
    inserted = st.get_affected_rows();
  }));
  if (inserted != 1) {
    return absl::AbortedError("another server stored an access rules version meanwhile");
  }
  // The other replicas admit by the newest version: they re-read it.
  uow.NoteSharedStateChanged();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::AccessRules>> GetAccessRules(Store& store, int64_t version) {
  std::string body;
  bool found = false;
  RETURN_IF_ERROR(ReadForReport(store, [&](soci::session& sql) -> absl::Status {
    if (version == 0) {
      sql << kNewest, soci::into(body);
    } else {
      const long long wanted = version;
      sql << "SELECT body FROM access_rules WHERE version = :v", soci::use(wanted),
          soci::into(body);
    }
    found = sql.got_data();
    return absl::OkStatus();
  }));
  return Decoded(found, body);
}

absl::StatusOr<int64_t> NewestAccessRulesVersion(Store& store) {
  long long newest = 0;
  RETURN_IF_ERROR(ReadForReport(store, [&](soci::session& sql) -> absl::Status {
    sql << "SELECT COALESCE(MAX(version), 0) FROM access_rules", soci::into(newest);
    return absl::OkStatus();
  }));
  return newest;
}

}  // namespace collections::storage
