// DecideAndApply: the one way a command turns an event into a stored
// transition (workflow::Decide under the case's own policy version, then
// UnitOfWork::Apply guarded by the case's version, and a re-check of held
// contact tasks when the transition lifted a case hold). Shared by the
// engines' commands; runs on the store's writer thread inside a command.
#ifndef COLLECTIONS_SERVER_TRANSITIONS_H_
#define COLLECTIONS_SERVER_TRANSITIONS_H_

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "collections/v1/case.pb.h"
#include "common/status_macros.h"
#include "server/clock.h"
#include "server/contact_gate.h"
#include "server/policy_registry.h"
#include "storage/store.h"
#include "workflow/compliance.h"
#include "workflow/state_machine.h"

namespace collections::server {

// Decides `event` for `current` (null: the event opens a case) under the
// case's own policy version at `now` and applies the transition in `uow`.
// `also_clear` adds timers to clear (a fired timer).
inline absl::StatusOr<workflow::Transition> DecideAndApply(
    storage::UnitOfWork& uow, PolicyRegistry& policies, absl::Time now, const v1::Case* current,
    v1::CaseEvent event, std::vector<workflow::TimerRef> also_clear = {}) {
  const v1::Policy* policy = nullptr;
  if (current == nullptr) {
    policy = &policies.Current();
  } else {
    ASSIGN_OR_RETURN(policy, policies.Get(current->policy_version()));
  }
  ASSIGN_OR_RETURN(workflow::Transition t,
                   workflow::Decide(current ? *current : v1::Case(), event, *policy, now));
  for (const auto& timer : also_clear) t.clear_timers.push_back(timer);
  RETURN_IF_ERROR(uow.Apply(t, current ? current->version() : 0));
  // A lifted hold (a dispute resolved, ...) frees the case's held contact
  // tasks now, in the same transaction, not at their next recheck.
  if (current != nullptr && workflow::ContactHoldLifted(current->holds(), t.next.holds())) {
    RETURN_IF_ERROR(RecheckLiftedHolds(uow, policies, now, t.next.case_id()));
  }
  return t;
}

// The same at the clock's time (an event that happens now).
inline absl::StatusOr<workflow::Transition> DecideAndApply(
    storage::UnitOfWork& uow, PolicyRegistry& policies, const Clock& clock, const v1::Case* current,
    v1::CaseEvent event, std::vector<workflow::TimerRef> also_clear = {}) {
  return DecideAndApply(uow, policies, clock.Now(), current, std::move(event),
                        std::move(also_clear));
}

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_TRANSITIONS_H_
