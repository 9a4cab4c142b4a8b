// Entering and leaving stages, re-classifying a case, and the tasks a stage
// asks for.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "workflow/classify.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/transition_internal.h"

namespace collections::workflow::internal {

std::string StageName(v1::Stage s) { return v1::Stage_Name(s); }

void AddTask(Ctx& x, const v1::Action& a) {
  TaskSpec task;
  task.type = a.task_type();
  task.queue = a.queue();
  task.not_before = x.now + absl::Hours(24) * a.start_after_days();
  task.deadline = task.not_before + absl::Hours(a.deadline_hours());
  task.priority = TaskPriority(x.c);
  task.cost_fen = a.cost_fen();
  task.payload = BuildTaskPayload(x.c, a.task_type(), a.script_key());
  x.t.create_tasks.push_back(std::move(task));
}

void AddTask(Ctx& x, v1::TaskType type, const std::string& queue, absl::Duration start_after,
             int deadline_hours, const std::string& script_key) {
  v1::Action a;
  a.set_task_type(type);
  a.set_queue(queue);
  a.set_deadline_hours(deadline_hours);
  a.set_script_key(script_key);
  AddTask(x, a);
  x.t.create_tasks.back().not_before = x.now + start_after;
  x.t.create_tasks.back().deadline = x.now + start_after + absl::Hours(deadline_hours);
}

// The actions a stage asks for: the plan actions, or those of the class
// whose stage it is (the case's own class first).
const google::protobuf::RepeatedPtrField<v1::Action>* StageActions(const v1::Policy& policy,
                                                                   v1::Stage stage,
                                                                   v1::CaseClass own) {
  if (stage == v1::STAGE_REPAYMENT_PLAN) return &policy.plan_actions();
  const v1::ClassPolicy& mine = ClassPolicyFor(policy, own);
  if (mine.stage() == stage) return &mine.actions();
  for (const auto& cp : policy.classes()) {
    if (cp.stage() == stage) return &cp.actions();
  }
  return nullptr;
}

void EnterStage(Ctx& x, v1::Stage stage) {
  x.Say(absl::StrCat(StageName(x.c.stage()), " -> ", StageName(stage)));
  x.c.set_stage(stage);
  *x.c.mutable_stage_entered_on() = DayToProto(x.today);
  x.c.set_call_attempts_in_stage(0);
  x.c.clear_assigned_queue();
  x.t.cancel_open_tasks = true;
  if (stage == v1::STAGE_LEGAL_ACTION && x.c.legal().phase() == v1::LEGAL_PHASE_UNSPECIFIED) {
    x.c.mutable_legal()->set_phase(v1::LEGAL_PHASE_PRE_LEGAL);
  }
  const auto* actions = StageActions(x.policy, stage, x.c.classification().case_class());
  if (actions == nullptr) return;
  for (const auto& a : *actions) {
    if (x.c.assigned_queue().empty()) x.c.set_assigned_queue(a.queue());
    // A deceased borrower is not contacted; a supervisor decides instead.
    if (x.c.holds().deceased() && IsContactTask(a.task_type())) continue;
    AddTask(x, a);
  }
}

// Re-derives days past due and the class from the amounts and dates.
void Refresh(Ctx& x) {
  const int64_t total = OverdueTotal(x.c.overdue());
  int32_t dpd = 0;
  if (total > 0 && !IsUnset(x.c.oldest_unpaid_due_date())) {
    auto due = DayFromProto(x.c.oldest_unpaid_due_date(), "oldest_unpaid_due_date");
    if (due.ok()) dpd = DaysPastDue(*due, x.today);
  }
  x.c.set_days_past_due(dpd);
  LoanFacts facts;
  facts.days_past_due = dpd;
  facts.overdue_total_fen = total;
  facts.credit = x.c.credit();
  *x.c.mutable_classification() = Classify(facts, x.policy);
}

// A rising class moves an open, plan-less case on; stages never move back.
void MaybeEscalate(Ctx& x) {
  if (StageRank(x.c.stage()) == 0) return;
  const v1::Stage target = ClassPolicyFor(x.policy, x.c.classification().case_class()).stage();
  if (StageRank(target) > StageRank(x.c.stage())) EnterStage(x, target);
}

// Leaves the open stages for good (until a new delinquency reopens it).
void Terminate(Ctx& x, v1::Stage stage, v1::CloseReason reason) {
  x.Say(absl::StrCat(StageName(x.c.stage()), " -> ", StageName(stage), " (",
                     v1::CloseReason_Name(reason), ")"));
  if (x.c.legal().phase() == v1::LEGAL_PHASE_HANDED_OFF &&
      reason != v1::CLOSE_REASON_LEGAL_CONCLUDED) {
    Handoff(x, v1::HANDOFF_KIND_WITHDRAW,
            reason == v1::CLOSE_REASON_CURED ? "paid in full" : v1::CloseReason_Name(reason));
  }
  x.c.set_stage(stage);
  x.c.set_close_reason(reason);
  ClearPlan(x.c);
  *x.c.mutable_stage_entered_on() = DayToProto(x.today);
  x.c.clear_assigned_queue();
  x.t.cancel_open_tasks = true;
  x.t.clear_all_timers = true;
  for (auto& p : *x.c.mutable_promises()) {
    if (p.state() != v1::PROMISE_STATE_PENDING) continue;
    p.set_state(p.paid_fen() >= p.amount_fen() ? v1::PROMISE_STATE_KEPT
                                               : v1::PROMISE_STATE_SUPERSEDED);
  }
}

void AddReview(Ctx& x, const std::string& script_key) {
  AddTask(x, v1::TASK_TYPE_SUPERVISOR_REVIEW, x.policy.tasks().review_queue(), absl::ZeroDuration(),
          48, script_key);
}

}  // namespace collections::workflow::internal
