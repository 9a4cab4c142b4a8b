#include "workflow/policy.h"

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collections/v1/case.pb.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "workflow/classify.h"

namespace collections::workflow {
namespace {

// Collects the first parse error with its position.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) {
      error_ = absl::StrFormat("policy line %d column %d: %s", line + 1, column + 1, message);
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("invalid policy: ", what));
}

absl::Status ValidateAction(const v1::Action& a, absl::string_view where) {
  if (a.task_type() == v1::TASK_TYPE_UNSPECIFIED || !v1::TaskType_IsValid(a.task_type())) {
    return Invalid(absl::StrCat(where, ": task_type is required"));
  }
  if (a.queue().empty()) return Invalid(absl::StrCat(where, ": queue is required"));
  if (a.start_after_days() < 0 || a.start_after_days() > 365) {
    return Invalid(absl::StrCat(where, ": start_after_days must be 0..365"));
  }
  if (a.deadline_hours() <= 0) {
    return Invalid(absl::StrCat(where, ": deadline_hours must be positive"));
  }
  if (a.cost_fen() < 0) return Invalid(absl::StrCat(where, ": cost_fen is negative"));
  if (a.handling_minutes() < 0 || a.handling_minutes() > 1440) {
    return Invalid(absl::StrCat(where, ": handling_minutes must be 0..1440"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Policy> ParsePolicy(absl::string_view textproto) {
  v1::Policy policy;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(textproto), &policy)) {
    return absl::InvalidArgumentError(errors.error().empty() ? "policy: cannot parse"
                                                             : errors.error());
  }
  if (auto s = ValidatePolicy(policy); !s.ok()) return s;
  return policy;
}

absl::Status ValidatePolicy(const v1::Policy& p) {
  const auto& days = p.day_bands();
  if (days.mild_max_days() <= 0 || days.moderate_max_days() <= days.mild_max_days()) {
    return Invalid("day_bands must satisfy 0 < mild_max_days < moderate_max_days");
  }
  const auto& amounts = p.amount_bands();
  if (amounts.moderate_from_fen() <= 0 ||
      amounts.severe_above_fen() < amounts.moderate_from_fen()) {
    return Invalid("amount_bands must satisfy 0 < moderate_from_fen <= severe_above_fen");
  }
  if (p.combination_rule() == v1::COMBINATION_RULE_UNSPECIFIED ||
      !v1::CombinationRule_IsValid(p.combination_rule())) {
    return Invalid("combination_rule is required");
  }
  const auto& credit = p.credit_rule();
  if (credit.raise_levels() < 0 || credit.raise_levels() > 2) {
    return Invalid("credit_rule.raise_levels must be 0..2");
  }
  if (credit.poor_min_prior_delinquencies() < 0) {
    return Invalid("credit_rule.poor_min_prior_delinquencies is negative");
  }
  for (int band : credit.poor_bands()) {
    if (band == v1::CREDIT_BAND_UNSPECIFIED || !v1::CreditBand_IsValid(band)) {
      return Invalid("credit_rule.poor_bands holds an unknown band");
    }
  }

  // Exactly one entry per class, each with a stage and actions, and stages
  // that never get milder as the class gets more severe.
  std::set<int> seen;
  int previous_rank = 0;
  for (v1::CaseClass c : {v1::CASE_CLASS_MILD, v1::CASE_CLASS_MODERATE, v1::CASE_CLASS_SEVERE}) {
    const v1::ClassPolicy* found = nullptr;
    for (const auto& cp : p.classes()) {
      if (cp.case_class() == c) {
        if (found != nullptr) {
          return Invalid(absl::StrCat("class ", v1::CaseClass_Name(c), " appears twice"));
        }
        found = &cp;
      }
    }
    const std::string name = v1::CaseClass_Name(c);
    if (found == nullptr) return Invalid(absl::StrCat("class ", name, " is missing"));
    const int rank = StageRank(found->stage());
    if (rank == 0) {
      return Invalid(
          absl::StrCat("class ", name, ": stage must be REMINDER, COUNSELLING or LEGAL_ACTION"));
    }
    if (rank < previous_rank) {
      return Invalid(absl::StrCat("class ", name, ": stage is milder than a milder class's"));
    }
    previous_rank = rank;
    if (found->actions().empty()) {
      return Invalid(absl::StrCat("class ", name, " has no actions"));
    }
    for (int i = 0; i < found->actions_size(); ++i) {
      if (auto s = ValidateAction(found->actions(i), absl::StrCat("class ", name, " action ", i));
          !s.ok()) {
        return s;
      }
    }
  }
  for (const auto& cp : p.classes()) {
    if (cp.case_class() == v1::CASE_CLASS_UNSPECIFIED || !v1::CaseClass_IsValid(cp.case_class())) {
      return Invalid("classes holds an entry without a valid case_class");
    }
  }
  if (p.plan_actions().empty()) return Invalid("plan_actions is empty");
  for (int i = 0; i < p.plan_actions_size(); ++i) {
    if (auto s = ValidateAction(p.plan_actions(i), absl::StrCat("plan action ", i)); !s.ok()) {
      return s;
    }
  }

  for (const auto& rule : p.plans().kinds()) {
    for (int k : rule.plan_kinds()) {
      if (k == v1::PLAN_KIND_UNSPECIFIED || !v1::PlanKind_IsValid(k)) {
        return Invalid("plans.kinds names an unknown plan kind");
      }
    }
  }
  for (const std::string& name : p.hardship().divert_to()) {
    v1::PlanKind k;
    if (!v1::PlanKind_Parse(absl::StrCat("PLAN_KIND_", name), &k)) {
      return Invalid(absl::StrCat("hardship.divert_to names an unknown plan kind ", name));
    }
  }
  if (p.plans().grace_days() < 0 || p.plans().deferral_interest_bp() < 0 ||
      p.plans().reminder_days_before() < 0) {
    return Invalid(
        "plans: grace_days, deferral_interest_bp and reminder_days_before must not be negative");
  }
  if (p.legal().min_days_past_due() <= 0) {
    return Invalid("legal.min_days_past_due must be positive");
  }
  if (p.legal().firms().empty()) return Invalid("legal.firms is empty");
  for (const auto& firm : p.legal().firms()) {
    if (firm.firm_id().empty() || firm.firm_id().size() > 64) {
      return Invalid("legal.firms: firm_id must be 1..64 bytes");
    }
    if (firm.min_overdue_fen() < 0 || firm.max_overdue_fen() < 0 ||
        (firm.max_overdue_fen() > 0 && firm.max_overdue_fen() < firm.min_overdue_fen())) {
      return Invalid(absl::StrCat("legal.firms ", firm.firm_id(), ": amount range out of order"));
    }
  }
  if (p.legal().letter_wait_days() < 0) {
    return Invalid("legal.letter_wait_days is negative");
  }
  if (p.hardship().assessment_queue().empty() || p.hardship().assessment_deadline_hours() <= 0) {
    return Invalid("hardship needs assessment_queue and assessment_deadline_hours");
  }
  if (p.promises().max_days_ahead() <= 0 || p.promises().grace_days() < 0 ||
      p.promises().broken_to_escalate() <= 0 || p.promises().follow_up_queue().empty()) {
    return Invalid(
        "promises needs max_days_ahead > 0, grace_days >= 0, "
        "broken_to_escalate > 0 and a follow_up_queue");
  }

  std::set<int> components(p.payment_allocation().begin(), p.payment_allocation().end());
  if (p.payment_allocation_size() != 3 || components.size() != 3 ||
      components.count(v1::AMOUNT_COMPONENT_UNSPECIFIED) != 0 ||
      *components.rbegin() > v1::AMOUNT_COMPONENT_PRINCIPAL) {
    return Invalid("payment_allocation must name PENALTY, INTEREST and PRINCIPAL once each");
  }

  const auto& contact = p.contact();
  if (contact.window_start_minute() < 0 || contact.window_end_minute() > 24 * 60 ||
      contact.window_start_minute() >= contact.window_end_minute()) {
    return Invalid(
        "contact window must satisfy 0 <= window_start_minute < "
        "window_end_minute <= 1440");
  }
  if (contact.max_connected_calls_per_day() <= 0 || contact.max_call_attempts_per_day() <= 0 ||
      contact.max_call_attempts_per_7_days() < contact.max_call_attempts_per_day()) {
    return Invalid("contact caps must be positive and the 7-day cap at least the daily one");
  }
  if (contact.default_time_zone().empty()) {
    return Invalid("contact.default_time_zone is required");
  }

  const auto& tasks = p.tasks();
  if (tasks.max_attempts() <= 0 || tasks.retry_backoff_seconds() <= 0 ||
      tasks.default_lease_seconds() <= 0 ||
      tasks.max_lease_seconds() < tasks.default_lease_seconds() || tasks.no_answer_retries() < 0 ||
      tasks.no_answer_retry_hours() <= 0 || tasks.review_queue().empty()) {
    return Invalid(
        "tasks needs positive max_attempts, retry_backoff_seconds, "
        "default_lease_seconds <= max_lease_seconds, no_answer_retry_hours and "
        "a review_queue");
  }

  const auto& conc = p.concessions();
  if (conc.agent_max_waiver_fen() < 0 || conc.agent_max_waiver_percent() < 0 ||
      conc.agent_max_waiver_percent() > 100 || conc.max_plan_months() <= 0 ||
      conc.min_instalment_fen() < 0) {
    return Invalid("concessions out of range");
  }

  // 0 means the default (policies written before these existed).
  if (p.intake().max_years_overdue() < 0 || p.intake().max_years_overdue() > 100) {
    return Invalid("intake.max_years_overdue must be 0..100 (0: the default, 30)");
  }
  if (p.intake().max_as_of_days_ahead() < 0 || p.intake().max_as_of_days_ahead() > 366) {
    return Invalid("intake.max_as_of_days_ahead must be 0..366 (0: the default, 31)");
  }
  if (p.audit().retention_years() < 0 || p.audit().retention_years() > 100 ||
      (p.audit().retention_years() > 0 && p.audit().retention_years() < 5)) {
    return Invalid(
        "audit.retention_years must be 5..100 (0: the default, 5): audit records are kept at "
        "least five years");
  }
  if (p.case_file().max_notes_per_day() < 0 || p.case_file().max_notes_per_day() > 1000) {
    return Invalid("case_file.max_notes_per_day must be 0..1000 (0: the default, 50)");
  }
  return absl::OkStatus();
}

int MaxYearsOverdue(const v1::Policy& policy) {
  return policy.intake().max_years_overdue() > 0 ? policy.intake().max_years_overdue() : 30;
}

int MaxAsOfDaysAhead(const v1::Policy& policy) {
  return policy.intake().max_as_of_days_ahead() > 0 ? policy.intake().max_as_of_days_ahead() : 31;
}

int MaxNotesPerDay(const v1::Policy& policy) {
  return policy.case_file().max_notes_per_day() > 0 ? policy.case_file().max_notes_per_day() : 50;
}

int AuditRetentionYears(const v1::Policy& policy) {
  return policy.audit().retention_years() > 0 ? policy.audit().retention_years() : 5;
}

const v1::Policy& DefaultPolicy() {
  static const v1::Policy* const policy = [] {
    auto parsed = ParsePolicy(DefaultPolicyText());
    // The shipped default is covered by tests; a broken one is a build bug.
    if (!parsed.ok()) {
      fprintf(stderr, "default policy is invalid: %s\n",
              std::string(parsed.status().message()).c_str());
      abort();
    }
    return new v1::Policy(*std::move(parsed));
  }();
  return *policy;
}

int StageRank(v1::Stage s) {
  switch (s) {
    case v1::STAGE_REMINDER:
      return 1;
    case v1::STAGE_COUNSELLING:
      return 2;
    case v1::STAGE_LEGAL_ACTION:
      return 3;
    default:
      return 0;
  }
}

const v1::ClassPolicy& ClassPolicyFor(const v1::Policy& policy, v1::CaseClass case_class) {
  for (const auto& cp : policy.classes()) {
    if (cp.case_class() == case_class) return cp;
  }
  return v1::ClassPolicy::default_instance();
}

}  // namespace collections::workflow
