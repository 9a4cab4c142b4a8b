// Money: imports (new arrears on a case) and payments, allocated in the
// policy's order.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/classify.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/transition_internal.h"

namespace collections::workflow::internal {

// Pays the overdue components in the policy's order; returns what was left.
int64_t Allocate(Ctx& x, int64_t amount, v1::OverdueAmounts* allocated) {
  v1::OverdueAmounts& o = *x.c.mutable_overdue();
  for (int component : x.policy.payment_allocation()) {
    int64_t owed = 0;
    switch (component) {
      case v1::AMOUNT_COMPONENT_PENALTY:
        owed = o.penalty_fen();
        break;
      case v1::AMOUNT_COMPONENT_INTEREST:
        owed = o.interest_fen();
        break;
      case v1::AMOUNT_COMPONENT_PRINCIPAL:
        owed = o.principal_fen();
        break;
      default:
        continue;
    }
    const int64_t take = std::min(amount, owed);
    amount -= take;
    switch (component) {
      case v1::AMOUNT_COMPONENT_PENALTY:
        o.set_penalty_fen(owed - take);
        allocated->set_penalty_fen(allocated->penalty_fen() + take);
        break;
      case v1::AMOUNT_COMPONENT_INTEREST:
        o.set_interest_fen(owed - take);
        allocated->set_interest_fen(allocated->interest_fen() + take);
        break;
      default:
        o.set_principal_fen(owed - take);
        allocated->set_principal_fen(allocated->principal_fen() + take);
        break;
    }
  }
  return amount;
}

}  // namespace collections::workflow::internal

namespace collections::workflow::internal {
namespace {

// Money that paid something owed: promises, then cure or re-classification.
// `plan_ran`: a tracked plan ran before this money, so only its completion
// (PlanCompleted) ends the case, not the arrears being paid.
void ApplyMoney(Ctx& x, int64_t applied, bool plan_ran) {
  for (auto& p : *x.c.mutable_promises()) {
    if (p.state() != v1::PROMISE_STATE_PENDING) continue;
    p.set_paid_fen(p.paid_fen() + applied);
    if (p.paid_fen() >= p.amount_fen()) {
      p.set_state(v1::PROMISE_STATE_KEPT);
      x.t.clear_timers.push_back({TimerKind::kPromiseDue, p.promise_id()});
      x.Say(absl::StrCat("promise ", p.promise_id(), " kept"));
    }
  }
  if (OverdueTotal(x.c.overdue()) == 0) {
    x.c.set_days_past_due(0);
    Refresh(x);
    if (plan_ran) {
      if (x.c.active_plan_outstanding_fen() > 0) {
        x.Say("nothing overdue; the case stays in its plan until the last instalment");
      }
      return;
    }
    // A plan approved before plans tracked their balance: arrears paid off
    // end it. Under a restructuring the loan runs on its new terms, so the
    // case closes as restructured rather than cured.
    if (x.c.active_plan_kind() == v1::PLAN_KIND_RESTRUCTURING) {
      Terminate(x, v1::STAGE_CLOSED, v1::CLOSE_REASON_RESTRUCTURED);
    } else {
      Terminate(x, v1::STAGE_RESOLVED, v1::CLOSE_REASON_CURED);
    }
    return;
  }
  Refresh(x);
  MaybeEscalate(x);
}

}  // namespace
}  // namespace collections::workflow::internal

namespace collections::workflow::internal {

absl::Status OnImported(Ctx& x, const v1::Case& before) {
  const v1::DelinquencyRecord& r = x.t.event.imported();
  RETURN_IF_ERROR(ValidateDelinquencyRecord(r, x.policy, x.today));
  const bool opening = before.stage() == v1::STAGE_UNSPECIFIED;
  if (!opening) {
    if (r.loan_id() != before.loan_id()) {
      return absl::InvalidArgumentError("loan_id does not match the case");
    }
    auto last = DayFromProto(before.as_of(), "as_of");
    auto now_as_of = DayFromProto(r.as_of(), "as_of");
    if (last.ok() && *now_as_of <= *last) {
      return absl::FailedPreconditionError(
          absl::StrCat("loan ", r.loan_id(), " already imported as of ", FormatDay(*last)));
    }
  } else if (OverdueTotal(r.overdue()) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("loan ", r.loan_id(), " has nothing overdue; no case opened"));
  }

  v1::Case& c = x.c;
  c.set_loan_id(r.loan_id());
  c.set_product(r.product());
  *c.mutable_borrower() = r.borrower();
  if (c.borrower().time_zone().empty()) {
    c.mutable_borrower()->set_time_zone(x.policy.contact().default_time_zone());
  }
  *c.mutable_credit() = r.credit();
  c.set_principal_outstanding_fen(r.principal_outstanding_fen());
  *c.mutable_overdue() = r.overdue();
  *c.mutable_oldest_unpaid_due_date() = r.oldest_unpaid_due_date();
  *c.mutable_as_of() = r.as_of();

  if (opening) {
    c.set_case_id(x.t.event.case_id());
    c.set_policy_version(x.policy.version());
    *c.mutable_opened_on() = DayToProto(x.today);
    Refresh(x);
    x.Say(absl::StrCat("opened: ", c.classification().explanation()));
    EnterStage(x, ClassPolicyFor(x.policy, c.classification().case_class()).stage());
    return absl::OkStatus();
  }
  if (before.stage() == v1::STAGE_RESOLVED) {
    Refresh(x);
    if (OverdueTotal(c.overdue()) == 0) return absl::OkStatus();
    c.clear_close_reason();
    c.clear_legal();
    x.Say(absl::StrCat("overdue again: ", c.classification().explanation()));
    EnterStage(x, ClassPolicyFor(x.policy, c.classification().case_class()).stage());
    return absl::OkStatus();
  }
  if (OverdueTotal(c.overdue()) == 0) {
    Refresh(x);
    if (PlanRuns(c)) {
      // Only the plan's completion ends it (core banking may show nothing
      // overdue once it has booked a restructuring).
      x.Say(absl::StrCat("nothing overdue; plan ", c.active_plan_id(), " still owed ",
                         FormatFen(c.active_plan_outstanding_fen())));
      return absl::OkStatus();
    }
    Terminate(x, v1::STAGE_RESOLVED, v1::CLOSE_REASON_CURED);
    return absl::OkStatus();
  }
  const v1::CaseClass old_class = before.classification().case_class();
  Refresh(x);
  if (c.classification().case_class() != old_class) {
    x.Say(absl::StrCat("re-classified: ", c.classification().explanation()));
  }
  MaybeEscalate(x);
  return absl::OkStatus();
}

absl::Status OnPayment(Ctx& x) {
  v1::Payment& pay = *x.t.event.mutable_payment();
  if (pay.payment_id().empty()) {
    return absl::InvalidArgumentError("payment.payment_id is required");
  }
  if (pay.amount_fen() <= 0) {
    return absl::InvalidArgumentError("payment.amount_fen must be positive");
  }
  RETURN_IF_ERROR(ValidateFen(pay.amount_fen(), "payment.amount_fen"));
  if (!IsUnset(pay.paid_on())) {
    RETURN_IF_ERROR(DayFromProto(pay.paid_on(), "payment.paid_on").status());
  }
  pay.clear_allocated();
  pay.clear_plan_fen();
  const int64_t amount = pay.amount_fen();
  // Everything received counts in paid_total_fen; what pays nothing owed is
  // also held in unallocated_fen for core banking to refund or apply.
  x.c.set_paid_total_fen(x.c.paid_total_fen() + amount);
  if (!IsOpenStage(x.c.stage())) {
    // Core banking posts what it received, sometimes late: the money is
    // recorded, never refused, and re-opens nothing.
    pay.set_unallocated_fen(amount);
    x.c.set_unallocated_fen(x.c.unallocated_fen() + amount);
    x.Say(absl::StrCat("payment ", FormatFen(amount), " received after the case was ",
                       x.c.stage() == v1::STAGE_RESOLVED ? "resolved" : "closed", " (",
                       v1::CloseReason_Name(x.c.close_reason()),
                       "): held as unallocated for core banking to refund or apply"));
    return absl::OkStatus();
  }
  x.Say(absl::StrCat("payment ", FormatFen(amount)));
  // A running plan is paid first; its part lowers the overdue amounts by as
  // much, up to what is overdue (the plan's own interest was never overdue).
  // What is left pays any overdue amount beyond the plan; the rest is
  // unallocated.
  const bool plan_ran = PlanRuns(x.c);
  int64_t to_plan = 0;
  if (plan_ran) {
    to_plan = std::min(amount, x.c.active_plan_outstanding_fen());
    x.c.set_active_plan_outstanding_fen(x.c.active_plan_outstanding_fen() - to_plan);
    pay.set_plan_fen(to_plan);
    x.Say(absl::StrCat(
        FormatFen(to_plan), " to plan ", x.c.active_plan_id(),
        x.c.active_plan_outstanding_fen() == 0
            ? ", now paid in full"
            : absl::StrCat(", ", FormatFen(x.c.active_plan_outstanding_fen()), " still owed")));
    Allocate(x, to_plan, pay.mutable_allocated());
  }
  const int64_t left = Allocate(x, amount - to_plan, pay.mutable_allocated());
  pay.set_unallocated_fen(left);
  if (left > 0) {
    x.c.set_unallocated_fen(x.c.unallocated_fen() + left);
    x.Say(absl::StrCat(FormatFen(left),
                       " beyond what is owed: held as unallocated for core "
                       "banking to refund or apply"));
  }
  ApplyMoney(x, amount - left, plan_ran);
  return absl::OkStatus();
}

}  // namespace collections::workflow::internal
