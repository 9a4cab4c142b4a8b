// Contact compliance (docs/design.md, decision 8): whether a contact task may be
// handed out now, from the policy's contact rules, the case's holds, the
// borrower's local time and the borrower's recent calls. The server asks
// this for every contact task it is about to lease; a task held back stays
// in its queue with the reason, until `recheck`.
//
// Pure; thread-safe. Time zones are passed in (loading one reads tzdata).
#ifndef COLLECTIONS_WORKFLOW_COMPLIANCE_H_
#define COLLECTIONS_WORKFLOW_COMPLIANCE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collections/v1/case.pb.h"
#include "collections/v1/common.pb.h"
#include "collections/v1/policy.pb.h"

namespace collections::workflow {

// A borrower's calls (all loans), counted on the borrower's local days:
// "today" starts at local midnight, "7 days" at local midnight six days
// before. Every call handed out counts as an attempt from that moment (a
// released one was never made and does not count at all).
//
// A call handed out is also a reservation against the connected cap until
// someone reports how it ended: in progress, or its lease lapsed
// unreported, it may have reached the borrower, so it counts as if it did
// (`unreported_today`). Reported as reached it moves to `connected_today`;
// reported otherwise (not reached, or failed) it stops counting there.
// So connected_today + unreported_today never exceeds the cap, however
// claims are batched.
struct CallCounts {
  int attempts_today = 0;
  int connected_today = 0;
  int attempts_in_7_days = 0;
  int unreported_today = 0;
};

// A call handed out now: an attempt today and in the 7 days, and a
// reservation against the connected cap.
void ReserveCall(CallCounts& calls);
// A reserved call reported as ended: its reservation becomes a connected
// call, or goes.
void EndCall(CallCounts& calls, bool connected);

// A call held by a cap while some of the borrower's calls are not yet
// reported is looked at again this soon: a report that a call did not
// connect, or a release, frees its place at any moment.
inline constexpr absl::Duration kUnreportedCallRecheck = absl::Minutes(1);

struct ContactDecision {
  // Empty: the task may be handed out now. Otherwise why not, for people.
  std::string hold;
  // When the hold may lift: the window's next opening, or the next local
  // day's (when the window is open) for a cap; kUnreportedCallRecheck from
  // now for a cap while calls are unreported. InfiniteFuture for a case hold
  // (cease-contact, dispute, bankruptcy, deceased), which only an event
  // lifts.
  absl::Time recheck;
};

// Reminder, counselling and plan follow-up calls: the tasks the call caps
// count.
bool IsCallTask(v1::TaskType type);

// The instant the borrower's local day starts `days` days after the one
// holding `t` (negative: before).
absl::Time LocalDayStart(absl::Time t, absl::TimeZone zone, int days = 0);

// The first instant at or after `t` inside the contact window
// [window_start_minute, window_end_minute) local time.
absl::Time NextWindowOpening(const v1::ContactRules& rules, absl::TimeZone zone, absl::Time t);

// Case holds first, then the window (every contact task), then the caps
// (calls only; `calls` is ignored for other types): connected calls plus
// unreported ones against max_connected_calls_per_day, then attempts
// today, then attempts in 7 days. `type` must be a contact task
// (IsContactTask).
ContactDecision CheckContact(const v1::ContactRules& rules, const v1::Holds& holds,
                             v1::TaskType type, absl::Time now, absl::TimeZone zone,
                             const CallCounts& calls);

// Whether `after` lifts a case hold on contact that `before` had (a
// dispute resolved, ...): the case's held contact tasks are then looked at
// again at once rather than at their next recheck.
bool ContactHoldLifted(const v1::Holds& before, const v1::Holds& after);

// Whether a task's hold_reason is one CheckContact gives for a case hold
// (not the window, a cap or a failure's retry wait).
bool IsCaseHoldReason(absl::string_view hold_reason);

// The beginning of a failed task's hold_reason while it waits for its
// retry ("attempt 1 of 3 failed: ...").
inline constexpr char kRetryHoldPrefix[] = "attempt ";

// Hold reasons are free text (times, counts); their first
// kHoldKindPrefixLength characters name their kind, a bounded label for
// figures: "deceased", "bankruptcy", "dispute", "cease_contact",
// "contact_window", "call_cap", "retry", else "other"; "" for no hold.
// `hold_reason` may be the whole reason or its first
// kHoldKindPrefixLength characters.
inline constexpr int kHoldKindPrefixLength = 16;
absl::string_view HoldKindOf(absl::string_view hold_reason);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_COMPLIANCE_H_
