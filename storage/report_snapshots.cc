// The daily report snapshots, their retention, and the policy figures
// PolicyService reads (declared in reports.h).
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/report_sql.h"
#include "storage/reports.h"
#include "workflow/dates.h"

namespace collections::storage {

using workflow::DayFromNumber;
using workflow::DayNumber;
using workflow::DayToProto;
using workflow::FormatDay;

// --- Snapshots -----------------------------------------------------------------------

absl::Status TakeReportSnapshot(Store& store, absl::CivilDay day) {
  const long long d = DayNumber(day);
  const long long base = SnapBase(day);
  long long max_case_id = 0;
  RETURN_IF_ERROR(ReadForReport(store, [&](soci::session& sql) {
    sql << "SELECT COALESCE(MAX(case_id), 0) FROM cases", soci::into(max_case_id);
    return absl::OkStatus();
  }));
  // Start afresh: the day's summary is rebuilt chunk by chunk.
  RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
    return RunReportStep(uow, [&](soci::session& sql, Backend) {
      sql << "DELETE FROM report_snapshot_days WHERE day = " << d;
      sql << "DELETE FROM report_portfolio WHERE day = " << d;
    });
  }));
  const std::string bucket = BucketSql(d, "oldest_due_day");
  for (long long lo = 0; lo < max_case_id; lo += kSnapshotChunk) {
    const long long hi = std::min(lo + kSnapshotChunk, max_case_id);
    const std::string keys = absl::StrCat("snap_key > ", base + lo, " AND snap_key <= ", base + hi);
    RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
      return RunReportStep(uow, [&](soci::session& sql, Backend) {
        sql << "DELETE FROM report_snapshots WHERE " << keys;
        sql << "INSERT INTO report_snapshots (snap_key, bucket, stage, case_class, overdue_fen, "
               "principal_fen, policy_version, product, region, queue) SELECT "
            << base << " + case_id, " << bucket
            << ", stage, case_class, overdue_total_fen, principal_outstanding_fen, "
               "policy_version, product, region, assigned_queue FROM cases WHERE case_id > "
            << lo << " AND case_id <= " << hi << " AND stage IN " << kOpenStages;
        sql << "INSERT INTO report_portfolio (day, stage, case_class, bucket, policy_version, "
               "product, region, queue, cases, overdue_fen, principal_fen) SELECT "
            << d
            << ", stage, case_class, bucket, policy_version, product, region, queue, "
               "COUNT(*), SUM(overdue_fen), SUM(principal_fen) FROM report_snapshots WHERE "
            << keys
            << " GROUP BY stage, case_class, bucket, policy_version, product, region, queue "
               "ON CONFLICT (day, stage, case_class, bucket, policy_version, product, region, "
               "queue) DO UPDATE SET cases = report_portfolio.cases + excluded.cases, "
               "overdue_fen = report_portfolio.overdue_fen + excluded.overdue_fen, "
               "principal_fen = report_portfolio.principal_fen + excluded.principal_fen";
      });
    }));
  }
  const long long now = absl::ToUnixMicros(StoreNow(store));
  RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
    return RunReportStep(uow, [&](soci::session& sql, Backend) {
      sql << "INSERT INTO report_snapshot_days (day, cases, per_case, taken_at_us) SELECT " << d
          << ", CAST(COALESCE(SUM(cases), 0) AS BIGINT), 1, " << now
          << " FROM report_portfolio WHERE day = " << d;
    });
  }));

  // Retention: per-case rows of old days go, but for the first and last
  // day of each month (the usual roll-rate periods).
  ASSIGN_OR_RETURN(std::vector<SnapshotDay> days, ListSnapshotDays(store));
  for (const SnapshotDay& old : days) {
    if (!old.per_case || day - old.day <= kDailySnapshotDays) continue;
    if (old.day.day() == 1 || (old.day + 1).day() == 1) continue;
    const long long old_base = SnapBase(old.day);
    for (long long lo = 0; lo < max_case_id; lo += kSnapshotChunk) {
      const long long hi = std::min(lo + kSnapshotChunk, max_case_id);
      RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
        return RunReportStep(uow, [&](soci::session& sql, Backend) {
          sql << "DELETE FROM report_snapshots WHERE snap_key > " << old_base + lo
              << " AND snap_key <= " << old_base + hi;
        });
      }));
    }
    RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
      return RunReportStep(uow, [&](soci::session& sql, Backend) {
        sql << "UPDATE report_snapshot_days SET per_case = 0 WHERE day = " << DayNumber(old.day);
      });
    }));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SnapshotDay>> ListSnapshotDays(Store& store) {
  return ReadReport<std::vector<SnapshotDay>>(
      store, [&](soci::session& sql, std::vector<SnapshotDay>& out) -> absl::Status {
        Sql q;
        q << "SELECT day, cases, per_case FROM report_snapshot_days ORDER BY day";
        for (const Sql::Row& r : q.Rows(sql, 0, 3)) {
          out.push_back({DayFromNumber(r.n[0]), r.n[1], r.n[2] != 0});
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::optional<absl::CivilDay>> FirstReportDay(Store& store) {
  return ReadReport<std::optional<absl::CivilDay>>(
      store, [&](soci::session& sql, std::optional<absl::CivilDay>& out) -> absl::Status {
        Sql q;
        q << "SELECT COALESCE(MIN(day), -1) FROM report_snapshot_days";
        std::vector<Sql::Row> rows = q.Rows(sql, 0, 1);
        if (!rows.empty() && rows[0].n[0] >= 0) out = DayFromNumber(rows[0].n[0]);
        return absl::OkStatus();
      });
}

// --- Policies ------------------------------------------------------------------------

absl::StatusOr<std::map<int64_t, int64_t>> OpenCasesByPolicyVersion(Store& store) {
  return ReadReport<std::map<int64_t, int64_t>>(
      store, [&](soci::session& sql, std::map<int64_t, int64_t>& out) -> absl::Status {
        Sql q;
        q << "SELECT policy_version, COUNT(*) FROM cases WHERE stage IN " << kOpenStages
          << " GROUP BY policy_version";
        for (const Sql::Row& r : q.Rows(sql, 0, 2)) out[r.n[0]] = r.n[1];
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<PolicyVersionInfo>> ListPolicyVersionInfo(Store& store) {
  return ReadReport<std::vector<PolicyVersionInfo>>(
      store, [&](soci::session& sql, std::vector<PolicyVersionInfo>& out) -> absl::Status {
        Sql q;
        q << "SELECT name, version, created_at_us FROM policies ORDER BY version";
        for (const Sql::Row& r : q.Rows(sql, 1, 2)) {
          out.push_back({r.n[0], r.s[0], absl::FromUnixMicros(r.n[1])});
        }
        return absl::OkStatus();
      });
}

}  // namespace collections::storage
