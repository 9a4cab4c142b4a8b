// Reports: the aggregates behind ReportService, computed by the database
// (GROUP BY over the report tables of migration 5), never by reading cases
// one by one. Two sources:
// - report_events / report_promises: one row per event that matters to a
//   report, written with the event (report_facts.h). Flows come from here.
// - report_book / report_portfolio: the book as each day's run left it,
//   written by TakeReportSnapshot: each case's figures as validity
//   intervals (migration 13), and each day's sums. The portfolio and roll
//   rates come from here.
// - Kept by the day's run too (migration 21): the stage changes counted by
//   day (the funnel's entries, the effectiveness flow) and the current
//   figures summed by due day and filter (roll rates), so that neither
//   reads every change of a period or every case of the book.
//
// Migration 11 indexes each report's rows (stage changes, completed tasks,
// money, promises, open tasks) so that none reads a period's other events,
// and links each case's stage changes (report_facts.h) so that the stage
// funnel needs no ordering of a period's changes by case: on 1,000,000
// cases every report answers in about a second or less (bench/RESULTS.md).
//
// The book of a day keeps its case figures for kDailySnapshotDays days, and
// for the first and last day of every month after that (an interval goes
// once no such day falls in it); the per-day portfolio summaries are kept
// for good.
//
// Thread-safety: the functions are thread-safe (reads use the store's reader
// pool, writes its writer). TakeReportSnapshot blocks; run it off gRPC's
// threads.
#ifndef COLLECTIONS_STORAGE_REPORTS_H_
#define COLLECTIONS_STORAGE_REPORTS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collections/v1/report_service.pb.h"
#include "storage/store.h"

namespace collections::storage {

inline constexpr int kDailySnapshotDays = 100;

// What a report covers. Days are inclusive; empty strings and 0 do not
// filter. See ReportRequest in report_service.proto for the meaning of each
// filter.
struct ReportQuery {
  absl::CivilDay from;
  absl::CivilDay to;
  std::string product;
  std::string region;
  int64_t policy_version = 0;
  std::string queue;
  int cure_window_days = 30;
  absl::Time now;  // SlaBreaches: the instant open work is counted at
  // The current business date. The book of this day is read from the
  // cases as they stand (live), never from its snapshot: the day's run
  // took that before the day's imports and payments. Unset: snapshots only.
  std::optional<absl::CivilDay> today;
};

// The reports. `as_of`, `from`, `to`, `data_from` and `data_to` are left
// for the caller to fill except where the data decides them (the book
// reports: the snapshot days, or `today` when live). FAILED_PRECONDITION
// when a book report has no snapshot to use.
absl::StatusOr<v1::PortfolioReport> ReadPortfolio(Store& store, const ReportQuery& q);
absl::StatusOr<v1::StageFunnelReport> ReadStageFunnel(Store& store, const ReportQuery& q);
absl::StatusOr<v1::RollRateReport> ReadRollRates(Store& store, const ReportQuery& q);
absl::StatusOr<v1::EffectivenessReport> ReadEffectiveness(Store& store, const ReportQuery& q);
absl::StatusOr<v1::OverdueReasonsReport> ReadOverdueReasons(Store& store, const ReportQuery& q);
absl::StatusOr<v1::AgentProductivityReport> ReadAgentProductivity(Store& store,
                                                                  const ReportQuery& q);
absl::StatusOr<v1::SlaReport> ReadSlaBreaches(Store& store, const ReportQuery& q);

// The days-past-due bucket names, in order ("current", "1-30", ...).
const std::vector<std::string>& DpdBuckets();

// Records the book as it stands now as the snapshot of `day`, replacing an
// earlier one of that day, then applies the retention rule. Only the cases
// marked as changed since the last run (report_changed, kept by the
// database's triggers) are compared and written, in chunks, each its own
// command, so other writes are never held up for long; the day's portfolio
// is the previous day's moved by their difference and by the cases the
// date moved to another bucket. A crash leaves the day incomplete (reports
// ignore it) until the day's run is repeated. FAILED_PRECONDITION when a
// later day's book was recorded already (the book only moves forward).
// On SQLite the writer's page cache is given back afterwards.
absl::Status TakeReportSnapshot(Store& store, absl::CivilDay day);

// A stored snapshot.
struct SnapshotDay {
  absl::CivilDay day;
  int64_t cases = 0;
  bool per_case = false;  // false once retention dropped its case rows
};
absl::StatusOr<std::vector<SnapshotDay>> ListSnapshotDays(Store& store);

// The first business date whose run this database recorded (its first
// snapshot day, kept for good): report data starts there. nullopt when no
// day has run yet.
absl::StatusOr<std::optional<absl::CivilDay>> FirstReportDay(Store& store);

// For PolicyService: open cases per policy version, and each stored
// version's name and creation time.
absl::StatusOr<std::map<int64_t, int64_t>> OpenCasesByPolicyVersion(Store& store);
struct PolicyVersionInfo {
  int64_t version = 0;
  std::string name;
  absl::Time created_at;
};
absl::StatusOr<std::vector<PolicyVersionInfo>> ListPolicyVersionInfo(Store& store);

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_REPORTS_H_
