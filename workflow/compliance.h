// Contact compliance (DESIGN.md decision 8): whether a contact task may be
// handed out now, from the policy's contact rules, the case's holds, the
// borrower's local time and the borrower's recent calls. The server asks
// this for every contact task it is about to lease; a task held back stays
// in its queue with the reason, until `recheck`.
//
// Pure; thread-safe. Time zones are passed in (loading one reads tzdata).
#ifndef COLLECTIONS_WORKFLOW_COMPLIANCE_H_
#define COLLECTIONS_WORKFLOW_COMPLIANCE_H_

#include <string>

#include "absl/time/time.h"
#include "collections/v1/case.pb.h"
#include "collections/v1/common.pb.h"
#include "collections/v1/policy.pb.h"

namespace collections::workflow {

// A borrower's calls (all loans), counted on the borrower's local days:
// "today" starts at local midnight, "7 days" at local midnight six days
// before. Calls handed out but not yet completed count as attempts.
struct CallCounts {
  int attempts_today = 0;
  int connected_today = 0;
  int attempts_in_7_days = 0;
};

struct ContactDecision {
  // Empty: the task may be handed out now. Otherwise why not, for people.
  std::string hold;
  // When the hold may lift: the window's next opening, or the next local
  // day (when the window is open) for a cap. InfiniteFuture for a case hold
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
absl::Time NextWindowOpening(const v1::ContactRules& rules,
                             absl::TimeZone zone, absl::Time t);

// Case holds first, then the window (every contact task), then the caps
// (calls only; `calls` is ignored for other types). `type` must be a
// contact task (IsContactTask).
ContactDecision CheckContact(const v1::ContactRules& rules,
                             const v1::Holds& holds, v1::TaskType type,
                             absl::Time now, absl::TimeZone zone,
                             const CallCounts& calls);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_COMPLIANCE_H_
