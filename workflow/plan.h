// Repayment plans: building a plan's schedule from a case and the terms an
// agent proposes, checking it against the policy, matching payments to
// instalments, and who may approve it. Pure; thread-safe.
//
// A plan covers the case's arrears (what is overdue, less the waiver) plus
// the interest the plan itself adds (deferral, restructuring); never the
// contractual principal not yet due, whose re-amortisation core banking
// books. Rounding never loses a fen: a plan's instalments sum exactly to its
// total; the first (total mod n) instalments carry one fen more.
#ifndef COLLECTIONS_WORKFLOW_PLAN_H_
#define COLLECTIONS_WORKFLOW_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "collections/v1/case.pb.h"
#include "collections/v1/plan_service.pb.h"
#include "collections/v1/policy.pb.h"

namespace collections::workflow {

// `day` plus `months` calendar months, clamped to the month's last day
// (31 January + 1 month = 28 or 29 February).
absl::CivilDay AddMonths(absl::CivilDay day, int months);

// `total` in `periods` monthly instalments, summing exactly to `total`;
// instalment i (from 0) falls due `month_offset + i` months after `anchor`,
// counted from the anchor each time so that a month end stays a month end.
std::vector<v1::Instalment> SpreadEvenly(int64_t total, int periods, absl::CivilDay anchor,
                                         int month_offset = 0);

// A proposed plan for `c` on business date `today`: kind allowed for the
// case's class (or its genuine hardship), periods within policy, waiver
// within the penalty interest, every instalment at least the policy's
// minimum, first due date from today to 60 days ahead. INVALID_ARGUMENT
// naming the field, or FAILED_PRECONDITION when the case cannot take a plan.
absl::StatusOr<v1::Plan> BuildPlan(const v1::Case& c, const v1::ProposePlanRequest& request,
                                   const v1::Policy& policy, absl::CivilDay today);

// Whether an agent may approve `plan` (its waiver within the agent's limits)
// or it needs a supervisor.
bool NeedsSupervisor(const v1::Plan& plan, const v1::Case& c, const v1::Policy& policy);

// Pays instalments in due-date order with `amount`; returns the numbers of
// instalments this paid in full.
std::vector<int> ApplyToInstalments(v1::Plan& plan, int64_t amount);
bool FullyPaid(const v1::Plan& plan);

// The timer ref of instalment `number` of plan `plan_id` (see TimerKind).
int64_t InstalmentTimerRef(int64_t plan_id, int number);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_PLAN_H_
