#include "workflow/compliance.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"

namespace collections::workflow {
namespace {

std::string Hhmm(int minute) {
  return absl::StrFormat("%02d:%02d", minute / 60, minute % 60);
}

bool InWindow(const v1::ContactRules& rules, const absl::CivilSecond& local) {
  const int minute = local.hour() * 60 + local.minute();
  return minute >= rules.window_start_minute() &&
         minute < rules.window_end_minute();
}

std::string Local(absl::Time t, absl::TimeZone zone) {
  return absl::FormatTime("%Y-%m-%d %H:%M %Z", t, zone);
}

}  // namespace

bool IsCallTask(v1::TaskType type) {
  return type == v1::TASK_TYPE_REMINDER_CALL ||
         type == v1::TASK_TYPE_COUNSELLING_CALL ||
         type == v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL;
}

absl::Time LocalDayStart(absl::Time t, absl::TimeZone zone, int days) {
  const absl::CivilDay day = absl::ToCivilDay(t, zone) + days;
  return absl::FromCivil(day, zone);
}

absl::Time NextWindowOpening(const v1::ContactRules& rules,
                             absl::TimeZone zone, absl::Time t) {
  const absl::CivilSecond local = absl::ToCivilSecond(t, zone);
  if (InWindow(rules, local)) return t;
  const int start = rules.window_start_minute();
  absl::CivilDay day(local);
  if (local.hour() * 60 + local.minute() >= start) ++day;  // past today's
  // A start inside a DST gap opens when the gap ends.
  return absl::FromCivil(absl::CivilMinute(day.year(), day.month(), day.day(),
                                           start / 60, start % 60),
                         zone);
}

ContactDecision CheckContact(const v1::ContactRules& rules,
                             const v1::Holds& holds, v1::TaskType type,
                             absl::Time now, absl::TimeZone zone,
                             const CallCounts& calls) {
  ContactDecision d;
  d.recheck = absl::InfiniteFuture();
  if (holds.deceased()) {
    d.hold = "borrower deceased: no contact";
  } else if (holds.bankruptcy()) {
    d.hold = "bankruptcy: no contact";
  } else if (holds.dispute_open()) {
    d.hold = "open dispute: no contact until it is resolved";
  } else if (holds.cease_contact()) {
    d.hold = "cease-contact requested by the borrower";
  }
  if (!d.hold.empty()) return d;

  const absl::Time open = NextWindowOpening(rules, zone, now);
  if (open > now) {
    d.hold = absl::StrCat("outside the contact window ",
                          Hhmm(rules.window_start_minute()), "-",
                          Hhmm(rules.window_end_minute()), " ", zone.name(),
                          " (now ", Local(now, zone), "); opens ",
                          Local(open, zone));
    d.recheck = open;
    return d;
  }
  if (!IsCallTask(type)) return d;

  std::string cap;
  if (calls.connected_today >= rules.max_connected_calls_per_day()) {
    cap = absl::StrCat(calls.connected_today, " connected calls today (cap ",
                       rules.max_connected_calls_per_day(), ")");
  } else if (calls.attempts_today >= rules.max_call_attempts_per_day()) {
    cap = absl::StrCat(calls.attempts_today, " call attempts today (cap ",
                       rules.max_call_attempts_per_day(), ")");
  } else if (calls.attempts_in_7_days >= rules.max_call_attempts_per_7_days()) {
    cap = absl::StrCat(calls.attempts_in_7_days,
                       " call attempts in 7 days (cap ",
                       rules.max_call_attempts_per_7_days(), ")");
  }
  if (cap.empty()) return d;
  // Counts move on with the local day; look again when the window opens on
  // the next one.
  d.recheck = NextWindowOpening(rules, zone, LocalDayStart(now, zone, 1));
  d.hold = absl::StrCat("call cap reached for this borrower: ", cap,
                        "; next try ", Local(d.recheck, zone));
  return d;
}

}  // namespace collections::workflow
