// Decide: checks an event against the case's stage, dispatches it to the
// handler of its topic (the transition_*.cc files) and seals the transition;
// plus replay and the public helpers of state_machine.h.
#include "workflow/state_machine.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/transition_internal.h"

namespace collections::workflow::internal {
namespace {

// The (stage, event) pairs the machine accepts. Anything else is
// FAILED_PRECONDITION before any handler runs.
bool Allowed(v1::Stage stage, K kind) {
  switch (stage) {
    case v1::STAGE_UNSPECIFIED:
      return kind == K::kImported;
    case v1::STAGE_REMINDER:
    case v1::STAGE_COUNSELLING:
    case v1::STAGE_LEGAL_ACTION:
      switch (kind) {
        case K::kImported:
        case K::kAged:
        case K::kPayment:
        case K::kSignal:
        case K::kPromiseBroken:
        case K::kTaskCompleted:
        case K::kPlanProposed:
        case K::kPlanApproved:
        case K::kPlanRejected:
        case K::kWrittenOff:
        case K::kPolicyMigrated:
        case K::kPenaltyWaived:
        case K::kExperimentAssigned:
          return true;
        case K::kLegalMilestone:
          return stage == v1::STAGE_LEGAL_ACTION;
        default:
          return false;
      }
    case v1::STAGE_REPAYMENT_PLAN:
      switch (kind) {
        case K::kImported:
        case K::kAged:
        case K::kPayment:
        case K::kSignal:
        case K::kPromiseBroken:
        case K::kTaskCompleted:
        case K::kPlanCompleted:
        case K::kPlanBroken:
        case K::kWrittenOff:
        case K::kPolicyMigrated:
        case K::kPenaltyWaived:
        case K::kExperimentAssigned:
          return true;
        default:
          return false;
      }
    case v1::STAGE_RESOLVED:
      // A cured loan may fall overdue again; notes may still be added; money
      // that comes in late is held as unallocated, never refused.
      return kind == K::kImported || kind == K::kSignal || kind == K::kPayment;
    case v1::STAGE_CLOSED:
      // Notes only (checked below), and late money as above.
      return kind == K::kSignal || kind == K::kPayment;
    default:
      return false;
  }
}

absl::Status Dispatch(Ctx& x, const v1::Case& before) {
  const v1::CaseEvent& e = x.t.event;
  switch (e.kind_case()) {
    case K::kImported:
      return OnImported(x, before);
    case K::kAged: {
      auto last = DayFromProto(before.business_date(), "business_date");
      if (last.ok() && x.today <= *last) {
        return absl::FailedPreconditionError(
            absl::StrCat("case ", before.case_id(), " already aged to ", FormatDay(*last)));
      }
      Refresh(x);
      MaybeEscalate(x);
      return absl::OkStatus();
    }
    case K::kPayment:
      return OnPayment(x);
    case K::kSignal:
      return OnSignal(x, before);
    case K::kPromiseBroken: {
      for (auto& p : *x.c.mutable_promises()) {
        if (p.promise_id() != e.promise_broken().promise_id()) continue;
        if (p.state() != v1::PROMISE_STATE_PENDING) break;
        p.set_state(v1::PROMISE_STATE_BROKEN);
        x.c.set_promises_broken(x.c.promises_broken() + 1);
        x.Say(absl::StrCat("promise ", p.promise_id(), " broken"));
        if (x.c.promises_broken() >= x.policy.promises().broken_to_escalate() &&
            x.c.stage() == v1::STAGE_REMINDER) {
          EnterStage(x, v1::STAGE_COUNSELLING);
        } else {
          AddTask(x,
                  x.c.stage() == v1::STAGE_COUNSELLING ? v1::TASK_TYPE_COUNSELLING_CALL
                                                       : v1::TASK_TYPE_REMINDER_CALL,
                  x.policy.promises().follow_up_queue(), absl::ZeroDuration(), 24,
                  "promise.broken.follow_up");
        }
        return absl::OkStatus();
      }
      return absl::FailedPreconditionError(
          absl::StrCat("promise ", e.promise_broken().promise_id(), " is not pending"));
    }
    case K::kTaskCompleted:
      return OnTaskCompleted(x);
    case K::kPlanProposed:
    case K::kPlanApproved:
    case K::kPlanRejected:
    case K::kPlanCompleted:
    case K::kPlanBroken:
    case K::kPenaltyWaived:
      return OnPlan(x);
    case K::kLegalMilestone:
      return OnLegalMilestone(x);
    case K::kWrittenOff:
      Terminate(x, v1::STAGE_CLOSED, v1::CLOSE_REASON_WRITTEN_OFF);
      return absl::OkStatus();
    case K::kPolicyMigrated: {
      const auto& m = e.policy_migrated();
      if (m.from_version() != before.policy_version() || m.to_version() != x.policy.version() ||
          m.to_version() <= m.from_version()) {
        return absl::FailedPreconditionError(
            absl::StrCat("case ", before.case_id(), " is on policy ", before.policy_version(),
                         "; cannot migrate from ", m.from_version(), " to ", m.to_version()));
      }
      x.c.set_policy_version(m.to_version());
      x.Say(absl::StrCat("policy ", m.from_version(), " -> ", m.to_version()));
      Refresh(x);
      MaybeEscalate(x);
      return absl::OkStatus();
    }
    case K::kExperimentAssigned: {
      // Decided under to_version's policy. A roll-back may move a case to
      // an older version than its own: the champion's.
      const auto& a = e.experiment_assigned();
      if (a.experiment_id() <= 0 || a.arm().empty()) {
        return absl::InvalidArgumentError(
            "experiment_assigned: experiment_id and arm are required");
      }
      if (a.from_version() != before.policy_version() || a.to_version() != x.policy.version()) {
        return absl::FailedPreconditionError(
            absl::StrCat("case ", before.case_id(), " is on policy ", before.policy_version(),
                         "; cannot assign it from ", a.from_version(), " to ", a.to_version()));
      }
      x.c.set_experiment_id(a.experiment_id());
      x.c.set_experiment_arm(a.arm());
      x.Say(absl::StrCat("experiment ", a.experiment_id(), " arm ", a.arm()));
      if (a.to_version() != a.from_version()) {
        x.c.set_policy_version(a.to_version());
        x.Say(absl::StrCat("policy ", a.from_version(), " -> ", a.to_version()));
        Refresh(x);
        MaybeEscalate(x);
      }
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("event: one kind of event is required");
  }
}

}  // namespace
}  // namespace collections::workflow::internal

namespace collections::workflow {

using internal::Allowed;
using internal::Ctx;
using internal::Dispatch;
using internal::K;
using internal::StageName;
using internal::UpdateLegal;

bool IsOpenStage(v1::Stage stage) {
  return stage == v1::STAGE_REMINDER || stage == v1::STAGE_COUNSELLING ||
         stage == v1::STAGE_REPAYMENT_PLAN || stage == v1::STAGE_LEGAL_ACTION;
}

bool IsContactTask(v1::TaskType type) {
  switch (type) {
    case v1::TASK_TYPE_SMS_REMINDER:
    case v1::TASK_TYPE_REMINDER_CALL:
    case v1::TASK_TYPE_COUNSELLING_CALL:
    case v1::TASK_TYPE_HOME_VISIT:
    case v1::TASK_TYPE_LEGAL_LETTER:
    case v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<Transition> Decide(const v1::Case& current, const v1::CaseEvent& event,
                                  const v1::Policy& policy, absl::Time now) {
  const K kind = event.kind_case();
  if (kind == K::KIND_NOT_SET) {
    return absl::InvalidArgumentError("event: one kind of event is required");
  }
  if (event.actor().empty()) return absl::InvalidArgumentError("event.actor is required");
  ASSIGN_OR_RETURN(absl::CivilDay event_day,
                   DayFromProto(event.business_date(), "event.business_date"));
  if (!Allowed(current.stage(), kind)) {
    return absl::FailedPreconditionError(
        absl::StrCat(EventKindName(event), " is not allowed in stage ", StageName(current.stage()),
                     current.stage() == v1::STAGE_UNSPECIFIED ? " (no such case)" : ""));
  }
  if (current.stage() != v1::STAGE_UNSPECIFIED && kind != K::kPolicyMigrated &&
      kind != K::kExperimentAssigned && current.policy_version() != policy.version()) {
    return absl::FailedPreconditionError(absl::StrCat("case ", current.case_id(), " runs policy ",
                                                      current.policy_version(), ", not ",
                                                      policy.version()));
  }
  if (current.stage() == v1::STAGE_UNSPECIFIED && event.case_id() <= 0) {
    return absl::InvalidArgumentError("event.case_id is required to open a case");
  }

  Transition t;
  t.next = current;
  t.event = event;
  absl::CivilDay today = event_day;
  if (!IsUnset(current.business_date())) {
    auto last = DayFromProto(current.business_date(), "business_date");
    if (last.ok() && *last > today && kind != K::kAged) today = *last;
  }
  Ctx x{policy, now, today, t, t.next, {}};
  x.c.set_version(current.version() + 1);
  *x.c.mutable_business_date() = DayToProto(today);

  RETURN_IF_ERROR(Dispatch(x, current));
  UpdateLegal(x);

  *x.c.mutable_updated_at() = TimeToProto(now);
  t.event.set_case_id(x.c.case_id());
  t.event.set_sequence(x.c.version());
  *t.event.mutable_occurred_at() = TimeToProto(now);
  t.event.set_policy_version(x.c.policy_version());
  t.event.set_stage_before(current.stage());
  t.event.set_stage_after(x.c.stage());
  t.event.set_summary(x.summary);
  t.next_aging_day = NextAgingDay(x.c, policy);
  // Tasks created before a cancel in the same decision describe the case
  // before it moved; give every new task the final payload and priority.
  for (TaskSpec& task : t.create_tasks) {
    task.priority = TaskPriority(x.c);
    task.payload = BuildTaskPayload(x.c, task.type, task.payload.script_key());
  }
  return t;
}

std::optional<absl::CivilDay> NextAgingDay(const v1::Case& c, const v1::Policy& policy) {
  if (!IsOpenStage(c.stage()) || OverdueTotal(c.overdue()) == 0) return std::nullopt;
  auto today = DayFromProto(c.business_date(), "business_date");
  auto due = DayFromProto(c.oldest_unpaid_due_date(), "oldest_unpaid_due_date");
  if (!today.ok() || !due.ok()) return std::nullopt;
  std::optional<absl::CivilDay> next;
  auto consider = [&](absl::CivilDay day) {
    if (day > *today && (!next || day < *next)) next = day;
  };
  // The first day past each band edge and past the legal day.
  consider(*due + policy.day_bands().mild_max_days() + 1);
  consider(*due + policy.day_bands().moderate_max_days() + 1);
  consider(*due + policy.legal().min_days_past_due() + 1);
  if (c.stage() == v1::STAGE_LEGAL_ACTION && !IsUnset(c.legal().letter_sent_on())) {
    auto sent = DayFromProto(c.legal().letter_sent_on(), "letter_sent_on");
    if (sent.ok()) consider(*sent + policy.legal().letter_wait_days());
  }
  return next;
}

int32_t DaysPastDueOn(const v1::Case& c, absl::CivilDay today) {
  if (OverdueTotal(c.overdue()) == 0) return 0;
  auto due = DayFromProto(c.oldest_unpaid_due_date(), "oldest_unpaid_due_date");
  return due.ok() ? DaysPastDue(*due, today) : c.days_past_due();
}

v1::CaseEvent EventForTimer(const TimerRef& timer) {
  v1::CaseEvent e;
  e.set_actor("system:timer");
  switch (timer.kind) {
    case TimerKind::kPromiseDue:
      e.mutable_promise_broken()->set_promise_id(timer.ref);
      break;
    case TimerKind::kInstalmentDue:
      e.mutable_plan_broken()->set_plan_id(timer.ref / 1000);
      e.mutable_plan_broken()->set_instalment(static_cast<int32_t>(timer.ref % 1000));
      break;
  }
  return e;
}

std::string EventKindName(const v1::CaseEvent& event) {
  switch (event.kind_case()) {
    case K::kImported:
      return "imported";
    case K::kAged:
      return "aged";
    case K::kPayment:
      return "payment";
    case K::kSignal: {
      const auto* field = v1::Signal::descriptor()->FindFieldByNumber(event.signal().signal_case());
      return field ? absl::StrCat("signal.", field->name()) : "signal";
    }
    case K::kPromiseBroken:
      return "promise_broken";
    case K::kTaskCompleted:
      return "task_completed";
    case K::kPlanProposed:
      return "plan_proposed";
    case K::kPlanApproved:
      return "plan_approved";
    case K::kPlanRejected:
      return "plan_rejected";
    case K::kPlanCompleted:
      return "plan_completed";
    case K::kPlanBroken:
      return "plan_broken";
    case K::kLegalMilestone:
      return "legal_milestone";
    case K::kWrittenOff:
      return "written_off";
    case K::kPolicyMigrated:
      return "policy_migrated";
    case K::kPenaltyWaived:
      return "penalty_waived";
    case K::kExperimentAssigned:
      return "experiment_assigned";
    default:
      return "unknown";
  }
}

absl::StatusOr<v1::Case> Replay(const std::vector<v1::CaseEvent>& events,
                                const PolicyLookup& policies) {
  v1::Case c;
  for (const v1::CaseEvent& e : events) {
    const v1::Policy* policy = policies(e.policy_version());
    if (policy == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("policy version ", e.policy_version(), " is not stored"));
    }
    const absl::Time at = TimeFromProto(e.occurred_at());
    ASSIGN_OR_RETURN(Transition t, Decide(c, e, *policy, at));
    c = std::move(t.next);
  }
  return c;
}

}  // namespace collections::workflow
