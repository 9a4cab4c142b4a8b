#include "workflow/compliance.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"

namespace collections::workflow {
namespace {

// The reasons of the case holds, in the order CheckContact applies them.
constexpr char kDeceased[] = "borrower deceased: no contact";
constexpr char kBankruptcy[] = "bankruptcy: no contact";
constexpr char kDispute[] = "open dispute: no contact until it is resolved";
constexpr char kCeaseContact[] = "cease-contact requested by the borrower";
// The beginnings of the reasons the window and the caps give.
constexpr char kOutsideWindow[] = "outside the contact window ";
constexpr char kCallCap[] = "call cap reached for this borrower: ";

std::string Hhmm(int minute) { return absl::StrFormat("%02d:%02d", minute / 60, minute % 60); }

bool InWindow(const v1::ContactRules& rules, const absl::CivilSecond& local) {
  const int minute = local.hour() * 60 + local.minute();
  return minute >= rules.window_start_minute() && minute < rules.window_end_minute();
}

std::string Local(absl::Time t, absl::TimeZone zone) {
  return absl::FormatTime("%Y-%m-%d %H:%M %Z", t, zone);
}

}  // namespace

bool IsCallTask(v1::TaskType type) {
  return type == v1::TASK_TYPE_REMINDER_CALL || type == v1::TASK_TYPE_COUNSELLING_CALL ||
         type == v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL;
}

absl::Time LocalDayStart(absl::Time t, absl::TimeZone zone, int days) {
  const absl::CivilDay day = absl::ToCivilDay(t, zone) + days;
  return absl::FromCivil(day, zone);
}

absl::Time NextWindowOpening(const v1::ContactRules& rules, absl::TimeZone zone, absl::Time t) {
  const absl::CivilSecond local = absl::ToCivilSecond(t, zone);
  if (InWindow(rules, local)) return t;
  const int start = rules.window_start_minute();
  absl::CivilDay day(local);
  if (local.hour() * 60 + local.minute() >= start) ++day;  // past today's
  // A start inside a DST gap opens when the gap ends.
  return absl::FromCivil(
      absl::CivilMinute(day.year(), day.month(), day.day(), start / 60, start % 60), zone);
}

ContactDecision CheckContact(const v1::ContactRules& rules, const v1::Holds& holds,
                             v1::TaskType type, absl::Time now, absl::TimeZone zone,
                             const CallCounts& calls) {
  ContactDecision d;
  d.recheck = absl::InfiniteFuture();
  if (holds.deceased()) {
    d.hold = kDeceased;
  } else if (holds.bankruptcy()) {
    d.hold = kBankruptcy;
  } else if (holds.dispute_open()) {
    d.hold = kDispute;
  } else if (holds.cease_contact()) {
    d.hold = kCeaseContact;
  }
  if (!d.hold.empty()) return d;

  const absl::Time open = NextWindowOpening(rules, zone, now);
  if (open > now) {
    d.hold = absl::StrCat(kOutsideWindow, Hhmm(rules.window_start_minute()), "-",
                          Hhmm(rules.window_end_minute()), " ", zone.name(), " (now ",
                          Local(now, zone), "); opens ", Local(open, zone));
    d.recheck = open;
    return d;
  }
  if (!IsCallTask(type)) return d;

  std::string cap;
  if (calls.connected_today + calls.unreported_today >= rules.max_connected_calls_per_day()) {
    // Unreported calls may have connected: they hold their place.
    cap = absl::StrCat(calls.connected_today, " connected calls today",
                       calls.unreported_today > 0
                           ? absl::StrCat(" + ", calls.unreported_today, " not yet reported")
                           : "",
                       " (cap ", rules.max_connected_calls_per_day(), ")");
  } else if (calls.attempts_today >= rules.max_call_attempts_per_day()) {
    cap = absl::StrCat(calls.attempts_today, " call attempts today (cap ",
                       rules.max_call_attempts_per_day(), ")");
  } else if (calls.attempts_in_7_days >= rules.max_call_attempts_per_7_days()) {
    cap = absl::StrCat(calls.attempts_in_7_days, " call attempts in 7 days (cap ",
                       rules.max_call_attempts_per_7_days(), ")");
  }
  if (cap.empty()) return d;
  // Counts move on with the local day; look again when the window opens on
  // the next one. While calls are out, a report or a release may free a
  // place any moment: look again soon.
  d.recheck = NextWindowOpening(rules, zone, LocalDayStart(now, zone, 1));
  if (calls.unreported_today > 0) {
    d.recheck = std::min(d.recheck, now + kUnreportedCallRecheck);
  }
  d.hold = absl::StrCat(kCallCap, cap, "; next try ", Local(d.recheck, zone));
  return d;
}

void ReserveCall(CallCounts& calls) {
  ++calls.attempts_today;
  ++calls.attempts_in_7_days;
  ++calls.unreported_today;
}

void EndCall(CallCounts& calls, bool connected) {
  if (calls.unreported_today > 0) --calls.unreported_today;
  if (connected) ++calls.connected_today;
}

bool ContactHoldLifted(const v1::Holds& before, const v1::Holds& after) {
  return (before.deceased() && !after.deceased()) || (before.bankruptcy() && !after.bankruptcy()) ||
         (before.dispute_open() && !after.dispute_open()) ||
         (before.cease_contact() && !after.cease_contact());
}

bool IsCaseHoldReason(absl::string_view hold_reason) {
  for (const char* reason : {kDeceased, kBankruptcy, kDispute, kCeaseContact}) {
    if (hold_reason == reason) return true;
  }
  return false;
}

absl::string_view HoldKindOf(absl::string_view hold_reason) {
  if (hold_reason.empty()) return "";
  struct Kind {
    const char* label;
    absl::string_view text;
  };
  static constexpr Kind kKinds[] = {
      {"deceased", kDeceased},          {"bankruptcy", kBankruptcy},        {"dispute", kDispute},
      {"cease_contact", kCeaseContact}, {"contact_window", kOutsideWindow}, {"call_cap", kCallCap},
      {"retry", kRetryHoldPrefix},
  };
  for (const Kind& kind : kKinds) {
    const absl::string_view start = kind.text.substr(0, kHoldKindPrefixLength);
    if (absl::StartsWith(hold_reason, start)) return kind.label;
  }
  return "other";
}

}  // namespace collections::workflow
