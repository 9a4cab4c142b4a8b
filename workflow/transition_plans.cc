// Repayment plans and penalty waivers: proposed, approved, rejected, paid
// off or broken.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/transition_internal.h"

namespace collections::workflow::internal {

// Whether the case runs a plan whose balance it tracks: approved with its
// total, and not yet paid. The case stays in REPAYMENT_PLAN until the plan
// completes or breaks. A plan approved before PlanApproved carried its total
// is not tracked and ends, as it did then, once nothing is overdue.
bool PlanRuns(const v1::Case& c) {
  return c.active_plan_id() != 0 && c.active_plan_outstanding_fen() > 0;
}

void ClearPlan(v1::Case& c) {
  c.set_active_plan_id(0);
  c.clear_active_plan_kind();
  c.clear_active_plan_outstanding_fen();
}

}  // namespace collections::workflow::internal

namespace collections::workflow::internal {
namespace {

// A plan that ended with money still overdue (broken, or completed with
// arrears beyond it): the case goes where its classification now calls for,
// legal action for a severe case past the legal day, counselling otherwise
// (never back to reminders).
void LeavePlan(Ctx& x, bool say_class) {
  Refresh(x);
  if (say_class) {
    x.Say(absl::StrCat("re-classified: ", x.c.classification().explanation()));
  }
  const bool to_legal = x.c.classification().case_class() == v1::CASE_CLASS_SEVERE &&
                        x.c.days_past_due() > x.policy.legal().min_days_past_due();
  if (to_legal) {
    // Counsel (if it had the case before) gets it anew.
    x.c.mutable_legal()->set_phase(v1::LEGAL_PHASE_PRE_LEGAL);
  }
  EnterStage(x, to_legal ? v1::STAGE_LEGAL_ACTION : v1::STAGE_COUNSELLING);
}

}  // namespace
}  // namespace collections::workflow::internal

namespace collections::workflow::internal {

absl::Status OnPlan(Ctx& x) {
  const v1::CaseEvent& e = x.t.event;
  switch (e.kind_case()) {
    case K::kPlanProposed:
      if (e.plan_proposed().total_fen() <= 0) {
        return absl::InvalidArgumentError("plan_proposed.total_fen must be positive");
      }
      RETURN_IF_ERROR(ValidateFen(e.plan_proposed().total_fen(), "plan_proposed.total_fen"));
      RETURN_IF_ERROR(ValidateFen(e.plan_proposed().waiver_fen(), "plan_proposed.waiver_fen"));
      x.Say(absl::StrCat("plan ", e.plan_proposed().plan_id(), " proposed"));
      return absl::OkStatus();
    case K::kPlanRejected:
      x.Say(absl::StrCat("plan ", e.plan_rejected().plan_id(), " rejected"));
      return absl::OkStatus();
    case K::kPlanApproved: {
      const auto& a = e.plan_approved();
      if (a.plan_id() <= 0) return absl::InvalidArgumentError("plan_approved.plan_id is required");
      if (a.instalment_due_dates().empty()) {
        return absl::InvalidArgumentError("plan_approved.instalment_due_dates is empty");
      }
      if (a.total_fen() < 0) {
        return absl::InvalidArgumentError("plan_approved.total_fen must not be negative");
      }
      RETURN_IF_ERROR(ValidateFen(a.total_fen(), "plan_approved.total_fen"));
      if (x.c.legal().phase() == v1::LEGAL_PHASE_HANDED_OFF) {
        Handoff(x, v1::HANDOFF_KIND_SUSPEND, "approved repayment plan");
      }
      if (x.c.legal().phase() != v1::LEGAL_PHASE_UNSPECIFIED) {
        x.c.mutable_legal()->set_phase(v1::LEGAL_PHASE_ON_HOLD);
      }
      x.Say(absl::StrCat("plan ", a.plan_id(), " approved by ", a.approver()));
      EnterStage(x, v1::STAGE_REPAYMENT_PLAN);
      x.c.set_active_plan_id(a.plan_id());
      x.c.set_active_plan_kind(a.kind());
      x.c.set_active_plan_outstanding_fen(a.total_fen());
      // A durable timer per instalment (missed once the grace days pass) and
      // a reminder call before each falls due.
      const v1::PlanRules& rules = x.policy.plans();
      for (int i = 0; i < a.instalment_due_dates_size(); ++i) {
        ASSIGN_OR_RETURN(absl::CivilDay due, DayFromProto(a.instalment_due_dates(i),
                                                          "plan_approved.instalment_due_dates"));
        x.t.set_timers.push_back({{TimerKind::kInstalmentDue, a.plan_id() * 1000 + i + 1},
                                  due + rules.grace_days() + 1});
        const int64_t days_ahead =
            std::max<int64_t>(0, (due - rules.reminder_days_before()) - x.today);
        AddTask(x, v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL, x.policy.plan_actions(0).queue(),
                absl::Hours(24) * days_ahead, 72, "plan.call.instalment_reminder");
      }
      return absl::OkStatus();
    }
    case K::kPenaltyWaived: {
      const auto& w = e.penalty_waived();
      if (w.amount_fen() <= 0) {
        return absl::InvalidArgumentError("penalty_waived.amount_fen must be positive");
      }
      if (w.approver().empty()) {
        return absl::InvalidArgumentError("penalty_waived.approver is required");
      }
      if (w.amount_fen() > x.c.overdue().penalty_fen()) {
        return absl::InvalidArgumentError(
            "penalty_waived.amount_fen exceeds the penalty interest overdue");
      }
      x.c.mutable_overdue()->set_penalty_fen(x.c.overdue().penalty_fen() - w.amount_fen());
      x.c.set_waived_total_fen(x.c.waived_total_fen() + w.amount_fen());
      x.Say(absl::StrCat("penalty interest of ", FormatFen(w.amount_fen()), " waived by ",
                         w.approver()));
      if (OverdueTotal(x.c.overdue()) == 0 && !PlanRuns(x.c)) {
        Terminate(x, v1::STAGE_RESOLVED, v1::CLOSE_REASON_CURED);
      } else {
        Refresh(x);
      }
      return absl::OkStatus();
    }
    case K::kPlanCompleted: {
      const v1::PlanCompleted& done = e.plan_completed();
      x.Say(absl::StrCat("plan ", done.plan_id(), " completed: every instalment paid"));
      const int64_t still_overdue = OverdueTotal(x.c.overdue());
      if (still_overdue == 0) {
        if (done.kind() == v1::PLAN_KIND_RESTRUCTURING) {
          Terminate(x, v1::STAGE_CLOSED, v1::CLOSE_REASON_RESTRUCTURED);
        } else {
          Terminate(x, v1::STAGE_RESOLVED, v1::CLOSE_REASON_CURED);
        }
        return absl::OkStatus();
      }
      // Arrears beyond the plan (core banking reported more overdue while it
      // ran): the plan is done, but the loan is not cured, and not settled
      // by a restructuring either. The case goes where a broken plan's
      // would, by its classification now.
      x.Say(absl::StrCat(
          FormatFen(still_overdue), " still overdue beyond the plan: not cured",
          done.kind() == v1::PLAN_KIND_RESTRUCTURING ? " nor closed as restructured" : ""));
      ClearPlan(x.c);
      LeavePlan(x, /*say_class=*/true);
      return absl::OkStatus();
    }
    case K::kPlanBroken: {
      x.Say(absl::StrCat("plan ", e.plan_broken().plan_id(), " broken: instalment ",
                         e.plan_broken().instalment(), " missed"));
      ClearPlan(x.c);
      for (int i = 1; i <= e.plan_broken().instalment_count(); ++i) {
        x.t.clear_timers.push_back(
            {TimerKind::kInstalmentDue, e.plan_broken().plan_id() * 1000 + i});
      }
      LeavePlan(x, /*say_class=*/false);
      return absl::OkStatus();
    }
    default:
      return absl::InternalError("not a plan event");
  }
}

}  // namespace collections::workflow::internal
