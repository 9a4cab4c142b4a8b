#include "workflow/classify.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "workflow/money.h"

namespace collections::workflow {
namespace {

v1::CaseClass FromRank(int rank) {
  switch (std::clamp(rank, 1, 3)) {
    case 1:
      return v1::CASE_CLASS_MILD;
    case 2:
      return v1::CASE_CLASS_MODERATE;
    default:
      return v1::CASE_CLASS_SEVERE;
  }
}

std::string ShortName(v1::CaseClass c) {
  switch (c) {
    case v1::CASE_CLASS_MILD:
      return "mild";
    case v1::CASE_CLASS_MODERATE:
      return "moderate";
    case v1::CASE_CLASS_SEVERE:
      return "severe";
    default:
      return "unspecified";
  }
}

bool IsPoor(const v1::CreditRecord& credit, const v1::CreditRule& rule) {
  for (int band : rule.poor_bands()) {
    if (credit.score_band() == band) return true;
  }
  return rule.poor_min_prior_delinquencies() > 0 &&
         credit.prior_delinquencies() >= rule.poor_min_prior_delinquencies();
}

}  // namespace

int ClassRank(v1::CaseClass c) {
  switch (c) {
    case v1::CASE_CLASS_MILD:
      return 1;
    case v1::CASE_CLASS_MODERATE:
      return 2;
    case v1::CASE_CLASS_SEVERE:
      return 3;
    default:
      return 0;
  }
}

v1::Classification Classify(const LoanFacts& facts, const v1::Policy& policy) {
  const auto& days = policy.day_bands();
  const auto& amounts = policy.amount_bands();
  const v1::CaseClass day_class = facts.days_past_due <= days.mild_max_days() ? v1::CASE_CLASS_MILD
                                  : facts.days_past_due <= days.moderate_max_days()
                                      ? v1::CASE_CLASS_MODERATE
                                      : v1::CASE_CLASS_SEVERE;
  const v1::CaseClass amount_class =
      facts.overdue_total_fen < amounts.moderate_from_fen()   ? v1::CASE_CLASS_MILD
      : facts.overdue_total_fen <= amounts.severe_above_fen() ? v1::CASE_CLASS_MODERATE
                                                              : v1::CASE_CLASS_SEVERE;

  const int d = ClassRank(day_class), a = ClassRank(amount_class);
  int rank = 0;
  std::string rule;
  switch (policy.combination_rule()) {
    case v1::COMBINATION_RULE_LESS_SEVERE:
      rank = std::min(d, a);
      rule = "the milder of the two";
      break;
    case v1::COMBINATION_RULE_DAYS_ONLY:
      rank = d;
      rule = "days only";
      break;
    case v1::COMBINATION_RULE_AMOUNT_ONLY:
      rank = a;
      rule = "amount only";
      break;
    default:
      rank = std::max(d, a);
      rule = "the more severe of the two";
      break;
  }

  const bool poor = IsPoor(facts.credit, policy.credit_rule());
  const int raised = poor ? std::min(3, rank + policy.credit_rule().raise_levels()) : rank;

  v1::Classification out;
  out.set_day_class(day_class);
  out.set_amount_class(amount_class);
  out.set_days_past_due(facts.days_past_due);
  out.set_overdue_total_fen(facts.overdue_total_fen);
  out.set_rule(policy.combination_rule());
  out.set_credit_raised(raised > rank);
  out.set_case_class(FromRank(raised));
  std::string why =
      absl::StrCat("days past due ", facts.days_past_due, " -> ", ShortName(day_class),
                   "; overdue ", FormatFen(facts.overdue_total_fen), " -> ",
                   ShortName(amount_class), "; ", rule, " -> ", ShortName(FromRank(rank)));
  if (poor) {
    absl::StrAppend(
        &why,
        raised > rank ? "; poor credit record raises it to " : "; poor credit record, already ",
        ShortName(FromRank(raised)));
  }
  out.set_explanation(why);
  return out;
}

}  // namespace collections::workflow
