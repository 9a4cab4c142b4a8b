#include "workflow/plan.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/classify.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/state_machine.h"

namespace collections::workflow {
namespace {

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

bool KindAllowed(const v1::Case& c, v1::PlanKind kind, const v1::Policy& policy) {
  for (const auto& rule : policy.plans().kinds()) {
    if (rule.case_class() != c.classification().case_class()) continue;
    for (int k : rule.plan_kinds()) {
      if (k == kind) return true;
    }
  }
  if (c.holds().hardship_genuine()) {
    for (const std::string& name : policy.hardship().divert_to()) {
      v1::PlanKind k;
      if (v1::PlanKind_Parse(absl::StrCat("PLAN_KIND_", name), &k) && k == kind) return true;
    }
  }
  return false;
}

// round(numerator / denominator), halves up; inputs are non-negative and
// small enough (fen below 10^15 times basis points below 10^5) not to
// overflow.
int64_t DivideRounded(int64_t numerator, int64_t denominator) {
  return (numerator + denominator / 2) / denominator;
}

}  // namespace

absl::CivilDay AddMonths(absl::CivilDay day, int months) {
  const absl::CivilMonth month = absl::CivilMonth(day) + months;
  const absl::CivilDay last = absl::CivilDay(month + 1) - 1;
  return std::min(absl::CivilDay(month) + (day.day() - 1), last);
}

std::vector<v1::Instalment> SpreadEvenly(int64_t total, int periods, absl::CivilDay anchor,
                                         int month_offset) {
  std::vector<v1::Instalment> out;
  if (periods <= 0) return out;
  const int64_t base = total / periods;
  const int64_t extra = total % periods;
  for (int i = 0; i < periods; ++i) {
    v1::Instalment& inst = out.emplace_back();
    inst.set_number(i + 1);
    *inst.mutable_due_date() = DayToProto(AddMonths(anchor, month_offset + i));
    inst.set_amount_fen(base + (i < extra ? 1 : 0));
  }
  return out;
}

absl::StatusOr<v1::Plan> BuildPlan(const v1::Case& c, const v1::ProposePlanRequest& r,
                                   const v1::Policy& policy, absl::CivilDay today) {
  if (!IsOpenStage(c.stage())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "case ", c.case_id(), " is ", v1::Stage_Name(c.stage()), ": no plan can be offered"));
  }
  if (c.active_plan_id() != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("case ", c.case_id(), " already runs plan ", c.active_plan_id()));
  }
  if (r.kind() == v1::PLAN_KIND_UNSPECIFIED || !v1::PlanKind_IsValid(r.kind())) {
    return Invalid("kind is required");
  }
  if (!KindAllowed(c, r.kind(), policy)) {
    return Invalid(absl::StrCat("kind ", v1::PlanKind_Name(r.kind()), " is not offered to ",
                                v1::CaseClass_Name(c.classification().case_class()), " cases",
                                c.holds().hardship_genuine() ? "" : " without a genuine hardship"));
  }
  const int max_months = policy.concessions().max_plan_months();
  if (r.periods() < 1 || r.periods() > max_months) {
    return Invalid(absl::StrCat("periods must be 1..", max_months));
  }
  ASSIGN_OR_RETURN(absl::CivilDay first_due, DayFromProto(r.first_due_date(), "first_due_date"));
  if (first_due < today || first_due - today > 60) {
    return Invalid(absl::StrCat("first_due_date must be within 60 days from ", FormatDay(today)));
  }

  // The waiver: an amount or a share of the penalty interest, never more
  // than the penalty overdue.
  const int64_t penalty = c.overdue().penalty_fen();
  if (r.waiver_fen() != 0 && r.waiver_percent() != 0) {
    return Invalid("waiver_fen and waiver_percent are alternatives: give one");
  }
  if (r.waiver_percent() < 0 || r.waiver_percent() > 100) {
    return Invalid("waiver_percent must be 0..100");
  }
  RETURN_IF_ERROR(ValidateFen(r.waiver_fen(), "waiver_fen"));
  const int64_t waiver =
      r.waiver_percent() != 0 ? penalty * r.waiver_percent() / 100 : r.waiver_fen();
  if (waiver > penalty) {
    return Invalid(absl::StrCat("waiver_fen ", FormatFen(waiver),
                                " exceeds the penalty interest overdue ", FormatFen(penalty)));
  }
  const int64_t arrears = OverdueTotal(c.overdue()) - waiver;

  v1::Plan plan;
  plan.set_case_id(c.case_id());
  plan.set_kind(r.kind());
  plan.set_state(v1::PLAN_STATE_PROPOSED);
  plan.set_periods(r.periods());
  plan.set_waiver_fen(waiver);
  switch (r.kind()) {
    case v1::PLAN_KIND_CATCH_UP:
      // The arrears on top of the regular payment.
      for (auto& i : SpreadEvenly(arrears, r.periods(), first_due)) *plan.add_instalments() = i;
      break;
    case v1::PLAN_KIND_TERM_EXTENSION:
      // The arrears over a longer term. Never the principal not yet due:
      // re-amortising the loan is core banking's, which books it; the plan
      // tracks what the borrower owes the collections case.
      for (auto& i : SpreadEvenly(arrears, r.periods(), first_due)) *plan.add_instalments() = i;
      break;
    case v1::PLAN_KIND_DEFERRAL: {
      if (r.deferral_months() < 1 || r.deferral_months() > 12) {
        return Invalid("deferral_months must be 1..12");
      }
      plan.set_deferral_months(r.deferral_months());
      // Interest for the holiday per policy (0 bp: a zero-interest deferral).
      const int64_t interest = DivideRounded(
          arrears * policy.plans().deferral_interest_bp() * r.deferral_months(), 120'000);
      for (auto& i :
           SpreadEvenly(arrears + interest, r.periods(), first_due, r.deferral_months())) {
        *plan.add_instalments() = i;
      }
      break;
    }
    case v1::PLAN_KIND_RESTRUCTURING: {
      if (r.new_rate_basis_points() < 0 || r.new_rate_basis_points() > 3600) {
        return Invalid("new_rate_basis_points must be 0..3600");
      }
      plan.set_new_rate_basis_points(r.new_rate_basis_points());
      // Equal principal parts; each instalment adds a month's interest on
      // what is still owed before it.
      std::vector<v1::Instalment> parts = SpreadEvenly(arrears, r.periods(), first_due);
      int64_t owed = arrears;
      for (auto& part : parts) {
        const int64_t interest = DivideRounded(owed * r.new_rate_basis_points(), 120'000);
        owed -= part.amount_fen();
        part.set_amount_fen(part.amount_fen() + interest);
        *plan.add_instalments() = part;
      }
      break;
    }
    default:
      return Invalid("kind is not known");
  }
  int64_t total = 0;
  for (const auto& i : plan.instalments()) {
    if (i.amount_fen() < policy.concessions().min_instalment_fen()) {
      return Invalid(absl::StrCat("instalment ", i.number(), " of ", FormatFen(i.amount_fen()),
                                  " is below the minimum instalment ",
                                  FormatFen(policy.concessions().min_instalment_fen())));
    }
    total += i.amount_fen();
  }
  if (total <= 0) return Invalid("the plan covers nothing");
  plan.set_total_fen(total);
  return plan;
}

bool NeedsSupervisor(const v1::Plan& plan, const v1::Case& c, const v1::Policy& policy) {
  const auto& limits = policy.concessions();
  if (plan.waiver_fen() > limits.agent_max_waiver_fen()) return true;
  // Compare shares without division: waiver / penalty > percent / 100.
  return plan.waiver_fen() * 100 > c.overdue().penalty_fen() * limits.agent_max_waiver_percent();
}

std::vector<int> ApplyToInstalments(v1::Plan& plan, int64_t amount) {
  std::vector<int> paid;
  for (auto& i : *plan.mutable_instalments()) {
    if (amount <= 0) break;
    const int64_t owed = i.amount_fen() - i.paid_fen();
    if (owed <= 0) continue;
    const int64_t take = std::min(owed, amount);
    i.set_paid_fen(i.paid_fen() + take);
    amount -= take;
    if (i.paid_fen() == i.amount_fen()) paid.push_back(i.number());
  }
  return paid;
}

bool FullyPaid(const v1::Plan& plan) {
  for (const auto& i : plan.instalments()) {
    if (i.paid_fen() < i.amount_fen()) return false;
  }
  return !plan.instalments().empty();
}

int64_t InstalmentTimerRef(int64_t plan_id, int number) { return plan_id * 1000 + number; }

}  // namespace collections::workflow
