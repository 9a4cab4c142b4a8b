// DailyAging: moves the business date forward once a day, at a configured
// local time in the institution's time zone, by running the same aging as
// CaseService.AdvanceBusinessDate.
//
// It catches up at most `max_catch_up_days` days by itself (a weekend's
// outage, not a wall clock that jumped a year): beyond that it refuses,
// logs an error at every check, and leaves the move to an administrator
// (CaseService.AdvanceBusinessDate, `collectionsctl date advance`), since
// business dates never go back.
//
// With several replicas on one database only the leader moves the date
// (`leadership` says whether this replica leads, and with which epoch); a
// replica that takes the lead first finishes whatever day's run the one
// before it left unfinished.
//
// Thread-safe. Its thread checks the injectable clock every `poll` of real
// time, and at once after Wake(); tests call Tick() with a fake clock
// instead of waiting.
#ifndef COLLECTIONS_SERVER_DAILY_AGING_H_
#define COLLECTIONS_SERVER_DAILY_AGING_H_

#include <functional>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/case_engine.h"
#include "server/clock.h"
#include "server/logging.h"
#include "workflow/dates.h"

namespace collections::server {

class DailyAging {
 public:
  static constexpr int kDefaultMaxCatchUpDays = 3;

  // Whether this replica leads, and its leader epoch (0: a single server,
  // no fencing); nullopt: another replica leads.
  using Leadership = std::function<std::optional<int64_t>()>;

  DailyAging(
      CaseEngine* engine, const Clock* clock, absl::TimeZone zone, int minute_of_day,
      int max_catch_up_days = kDefaultMaxCatchUpDays,
      Leadership leadership = [] { return std::optional<int64_t>(0); })
      : engine_(engine),
        clock_(clock),
        zone_(zone),
        minute_of_day_(minute_of_day),
        max_catch_up_days_(max_catch_up_days),
        leadership_(std::move(leadership)) {}
  ~DailyAging() { Stop(); }

  // The local day the business date should be on now, and whether it is
  // behind it: after the configured time the business date is today.
  absl::StatusOr<bool> Tick() {
    const std::optional<int64_t> epoch = leadership_();
    if (!epoch.has_value()) return false;  // another replica leads
    if (*epoch != 0 && *epoch != resumed_epoch_) {
      // Just took the lead: finish the day the last leader may have left
      // half done (aging skips the cases already aged).
      auto resumed = engine_->AdvanceTo(engine_->BusinessDate(), By(), *epoch);
      if (!resumed.ok()) return resumed.status();
      resumed_epoch_ = *epoch;
      LogInfo(
          "daily aging: leading (epoch %d); business date %s: %d cases aged, %d timers fired "
          "in finishing its run",
          *epoch, workflow::FormatDay(engine_->BusinessDate()), resumed->cases_aged(),
          resumed->timers_fired());
    }
    const absl::CivilSecond local = absl::ToCivilSecond(clock_->Now(), zone_);
    const int minute = local.hour() * 60 + local.minute();
    const absl::CivilDay today(local);
    const absl::CivilDay due = minute >= minute_of_day_ ? today : today - 1;
    const absl::CivilDay business_date = engine_->BusinessDate();
    if (due <= business_date) return false;
    if (due - business_date > max_catch_up_days_) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the clock says the business date should be %s, %d days after %s: more than the %d "
          "days daily aging catches up by itself; not moving it (if the clock is right, an "
          "administrator moves it: collectionsctl date advance --to=%s)",
          workflow::FormatDay(due), due - business_date, workflow::FormatDay(business_date),
          max_catch_up_days_, workflow::FormatDay(due)));
    }
    LogInfo("daily aging: advancing the business date to %s", workflow::FormatDay(due));
    auto result = engine_->AdvanceTo(due, By(), *epoch);
    if (!result.ok()) return result.status();
    LogInfo("daily aging: %d cases aged, %d stage changes, %d timers fired", result->cases_aged(),
            result->stage_changes(), result->timers_fired());
    return true;
  }

  void Start(absl::Duration poll = absl::Seconds(30)) {
    thread_ = std::thread([this, poll] {
      absl::MutexLock lock(&mu_);
      while (!stopping_) {
        mu_.Unlock();
        if (auto ticked = Tick(); !ticked.ok()) {
          LogError("daily aging failed (will retry): %s", ticked.status().ToString());
        }
        mu_.Lock();
        auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || woken_; };
        mu_.AwaitWithTimeout(absl::Condition(&woken), poll);
        woken_ = false;
      }
    });
  }

  // Checks at once (this replica just took the lead).
  void Wake() {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  // Who the audit log says moved the date.
  static storage::AuditEntry By() {
    storage::AuditEntry by;
    by.principal = "system:daily-aging";
    by.action = "DailyAging";
    return by;
  }

  CaseEngine* const engine_;
  const Clock* const clock_;
  const absl::TimeZone zone_;
  const int minute_of_day_;
  const int max_catch_up_days_;
  const Leadership leadership_;
  int64_t resumed_epoch_ = 0;  // Tick's thread only
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_DAILY_AGING_H_
