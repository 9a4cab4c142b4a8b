// The pieces `Decide` is built from, shared by the files that hold the event
// handlers by topic. Internal to collections_workflow: nothing outside
// workflow/ includes this header.
//
//   state_machine.cc       Decide, the allowed (stage, event) pairs, dispatch,
//                          replay and the public helpers
//   transition_stages.cc   entering and leaving stages, re-classifying, tasks
//   transition_money.cc    imports (new arrears) and payments
//   transition_signals.cc  what the borrower or an agent reports
//   transition_tasks.cc    task outcomes, task payloads and priorities
//   transition_plans.cc    repayment plans and waivers
//   transition_legal.cc    the legal phases, handoffs and milestones
//   record_validation.cc   checks on an imported delinquency record
//
// Every function here is pure: it reads the policy and the clock value in
// the context and changes only the transition being built. Not thread-safe;
// each decision has its own context.
#ifndef COLLECTIONS_WORKFLOW_TRANSITION_INTERNAL_H_
#define COLLECTIONS_WORKFLOW_TRANSITION_INTERNAL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "workflow/state_machine.h"

namespace collections::workflow::internal {

using K = v1::CaseEvent::KindCase;

// Everything one decision reads and writes.
struct Ctx {
  const v1::Policy& policy;
  absl::Time now;
  absl::CivilDay today;
  Transition& t;
  v1::Case& c;
  std::string summary;

  void Say(absl::string_view s) {
    if (!summary.empty()) summary += "; ";
    summary += std::string(s);
  }
};

std::string StageName(v1::Stage s);

// Stages (transition_stages.cc).
void AddTask(Ctx& x, const v1::Action& a);
void AddTask(Ctx& x, v1::TaskType type, const std::string& queue, absl::Duration start_after,
             int deadline_hours, const std::string& script_key);
void AddReview(Ctx& x, const std::string& script_key);
// The actions a stage asks for: the plan actions, or those of the class
// whose stage it is (the case's own class first). Null when none.
const google::protobuf::RepeatedPtrField<v1::Action>* StageActions(const v1::Policy& policy,
                                                                   v1::Stage stage,
                                                                   v1::CaseClass own);
void EnterStage(Ctx& x, v1::Stage stage);
// Re-derives days past due and the class from the amounts and dates.
void Refresh(Ctx& x);
// A rising class moves an open, plan-less case on; stages never move back.
void MaybeEscalate(Ctx& x);
// Leaves the open stages for good (until a new delinquency reopens it).
void Terminate(Ctx& x, v1::Stage stage, v1::CloseReason reason);

// Money (transition_money.cc).
// Pays the overdue components in the policy's order; returns what was left.
int64_t Allocate(Ctx& x, int64_t amount, v1::OverdueAmounts* allocated);
absl::Status OnImported(Ctx& x, const v1::Case& before);
absl::Status OnPayment(Ctx& x);

// Signals (transition_signals.cc).
absl::Status RecordPromise(Ctx& x, const v1::PromiseToPay& promise, absl::string_view field);
void ApplyHardship(Ctx& x);
absl::Status OnSignal(Ctx& x, const v1::Case& before);

// Tasks (transition_tasks.cc).
absl::Status OnTaskCompleted(Ctx& x);

// Plans (transition_plans.cc).
// Whether the case runs a plan whose balance it tracks (see the definition).
bool PlanRuns(const v1::Case& c);
void ClearPlan(v1::Case& c);
absl::Status OnPlan(Ctx& x);

// Legal (transition_legal.cc).
// New cases go to the firm the policy assigns; updates to the case's firm.
void Handoff(Ctx& x, v1::HandoffKind kind, std::string reason);
// Moves the legal phase on when the policy's conditions are met; runs after
// every event.
void UpdateLegal(Ctx& x);
absl::Status OnLegalMilestone(Ctx& x);

}  // namespace collections::workflow::internal

#endif  // COLLECTIONS_WORKFLOW_TRANSITION_INTERNAL_H_
