// CaseEngine: what CaseService does, without the gRPC plumbing. Each write
// is a storage Command (load the case, Decide, Apply) handed to the store's
// writer; its callback runs once the commit is durable. Reads and aging
// block, so callers run them off gRPC's threads.
//
// Business dates: the current one lives in the database. Aging for a day
// visits only the cases whose next aging day has come (see
// workflow::Transition::next_aging_day) and then fires the durable timers due
// that day. A run records the new date first and is idempotent per case, so
// running it twice, or again after a crash, finishes what is left.
//
// Thread-safe. AdvanceTo runs one at a time.
#ifndef COLLECTIONS_SERVER_CASE_ENGINE_H_
#define COLLECTIONS_SERVER_CASE_ENGINE_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "collections/v1/case_service.pb.h"
#include "server/clock.h"
#include "server/commands.h"
#include "server/experiment_registry.h"
#include "server/policy_registry.h"
#include "storage/store.h"

namespace collections::server {

enum class ImportKind { kOpened, kUpdated, kUnchanged };

class CaseEngine {
 public:
  // Idempotent answers older than `idempotency_retention` are purged by each
  // business-date run. New cases join the live experiment of `experiments`
  // (null: none) when in its scope (experiment_assignment.h). A run ages
  // up to `aging_batch` due cases per storage command (1: one per case).
  static constexpr int kAgingBatch = 128;
  CaseEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
             absl::Duration idempotency_retention = absl::Hours(7 * 24),
             const ExperimentRegistry* experiments = nullptr, int aging_batch = kAgingBatch);

  // Loads the business date (the first start sets it to today in
  // `time_zone`). Quick at any book size: one read (one write the first
  // time).
  absl::Status Start(const std::string& time_zone);

  // Blocking, after Start: finishes the business date's run (aging any case
  // still due, firing due timers, today's report snapshot), whatever a
  // crash interrupted. Minutes at a large book; the server runs it in the
  // background while it serves.
  absl::Status CatchUp();

  absl::CivilDay BusinessDate() const;
  // The institution's time zone (Start's), in which business dates turn.
  absl::TimeZone zone() const { return zone_; }
  // The time the events and tasks of business date `day` are stamped with:
  // the clock's, unless the day is already over in the institution's time
  // zone (a back-filled day of a catch-up), then the same local time on
  // that day (workflow::TimeOnBusinessDay), so that a task's not-before and
  // deadline follow the business calendar, not the day the run happens.
  absl::Time TimeOfBusinessDay(absl::CivilDay day) const;

  // Opens or updates the case of one feed row. Bad rows fail with
  // INVALID_ARGUMENT (message starting with the field) and write nothing.
  // Imports go to the store's bulk lane (storage::WriteLane::kBulk): other
  // commands do not queue behind an import's rows.
  void Import(v1::DelinquencyRecord record, const std::string& actor,
              std::function<void(absl::StatusOr<ImportKind>)> done, CallAlive alive = nullptr);
  // The same for many rows in one command: their cases read with one
  // statement and the new ones written with multi-row statements.
  // done(i, outcome) once per row i of `records`, in no particular order.
  // Each row's outcome is what Import would give it: when the command
  // fails as a whole, its rows are imported one by one instead.
  // Fewer than kFewRows rows are imported one by one (Import).
  static constexpr size_t kFewRows = 8;
  void ImportMany(std::vector<v1::DelinquencyRecord> records, const std::string& actor,
                  std::function<void(size_t, absl::StatusOr<ImportKind>)> done,
                  CallAlive alive = nullptr);

  void RecordPayment(v1::RecordPaymentRequest request, const std::string& actor,
                     std::function<void(absl::StatusOr<v1::RecordPaymentResponse>)> done,
                     CallAlive alive = nullptr);

  void Signal(v1::SignalCaseRequest request, const std::string& actor,
              std::function<void(absl::StatusOr<v1::SignalCaseResponse>)> done,
              CallAlive alive = nullptr);

  // Events per GetCase page: the default and the most a request may ask
  // for (500 notes of 4 KB stay well inside gRPC's 4 MB message limit).
  static constexpr int kDefaultEventsPage = 100;
  static constexpr int kMaxEventsPage = 500;

  // Blocking reads.
  absl::StatusOr<v1::GetCaseResponse> GetCase(const v1::GetCaseRequest& request);
  absl::StatusOr<v1::ListCasesResponse> ListCases(const v1::ListCasesRequest& request);

  // Blocking: moves the business date to `to` day by day, aging and firing
  // timers for each. `to` equal to the current date finishes that day's run.
  // `by` says who moves it: its principal is the events' actor, and each
  // day the date moves is recorded in the audit log as `by` with the move
  // in its detail, in the same transaction as the new date.
  // Then purges the idempotent answers older than the retention (by the
  // clock), so that the table stops growing.
  //
  // After Stop() it moves no further day: the days done stay done, and the
  // call answers UNAVAILABLE naming where it stopped (call again, or let
  // the next start resume), so that a long move never holds a shutdown
  // past its grace.
  //
  // It starts from the business date stored now (another replica may have
  // moved it). `leader_epoch` fences the moves of the replicas' leader (see
  // storage::PeerLink): non-zero, each move of the date is refused
  // (FAILED_PRECONDITION) once another replica has taken the lead.
  absl::StatusOr<v1::AdvanceBusinessDateResponse> AdvanceTo(absl::CivilDay to,
                                                            const storage::AuditEntry& by,
                                                            int64_t leader_epoch = 0);
  // Re-reads the business date from the store (another replica moved it).
  absl::Status RefreshBusinessDate();
  // For shutdown: any running or later AdvanceTo stops before its next day.
  void Stop() { stopping_.store(true); }

  // The last AdvanceTo that finished (daily aging's or an administrator's):
  // how many days it moved the business date (0: it only re-ran the
  // current day) and how long it took in real time. runs == 0 until one has.
  struct AgingRun {
    int64_t runs = 0;  // finished runs since start
    int64_t days = 0;
    absl::Duration took;
  };
  AgingRun LastAgingRun() const;

 private:
  // Checks a feed row before anything is written: the business date it
  // lands on, or INVALID_ARGUMENT naming the field.
  absl::StatusOr<absl::CivilDay> ImportDay(const v1::DelinquencyRecord& record) const;
  // Inside a command: one checked row against its case as read (none
  // yet: the row opens one). With `openings`, a new case outside any
  // running experiment is decided but left to the caller's OpenCases.
  absl::StatusOr<ImportKind> ImportRow(storage::UnitOfWork& uow,
                                       const v1::DelinquencyRecord& record,
                                       const std::string& actor, absl::CivilDay today,
                                       const std::optional<v1::Case>& current,
                                       std::vector<workflow::Transition>* openings);
  struct DayCounts {
    int64_t aged = 0;
    int64_t stage_changes = 0;
    int64_t timers_fired = 0;
  };
  absl::Status RunDay(absl::CivilDay day, const std::string& actor, DayCounts& counts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(aging_mu_);
  absl::Status AgeCases(absl::CivilDay day, const std::string& actor, DayCounts& counts);
  // Inside a command: ages one listed case as read (none, closed, or aged
  // already since it was listed: nothing), adding to `counts`.
  absl::Status AgeCase(storage::UnitOfWork& uow, const std::optional<v1::Case>& c,
                       absl::CivilDay day, absl::Time at, const std::string& actor,
                       DayCounts& counts);
  absl::Status FireTimers(absl::CivilDay day, DayCounts& counts);
  // Deletes the expired idempotent answers in bounded batches (each its own
  // commit, so the writer is never held long); returns how many.
  absl::StatusOr<int64_t> PurgeExpiredAnswers();

  storage::Store* const store_;
  const Clock* const clock_;
  PolicyRegistry* const policies_;
  const ExperimentRegistry* const experiments_;
  const absl::Duration idempotency_retention_;
  const int aging_batch_;
  absl::TimeZone zone_ = absl::UTCTimeZone();  // set by Start, before any aging

  absl::Mutex aging_mu_;  // one AdvanceTo at a time
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex date_mu_;
  absl::CivilDay business_date_ ABSL_GUARDED_BY(date_mu_);
  AgingRun last_aging_run_ ABSL_GUARDED_BY(date_mu_);
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_CASE_ENGINE_H_
