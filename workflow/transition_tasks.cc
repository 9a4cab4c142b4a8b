// Task outcomes, and the payload and priority every new task is given.
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
namespace {

// Which outcome member each task type takes.
v1::TaskOutcome::OutcomeCase OutcomeFor(v1::TaskType type) {
  switch (type) {
    case v1::TASK_TYPE_SMS_REMINDER:
      return v1::TaskOutcome::kSms;
    case v1::TASK_TYPE_REMINDER_CALL:
    case v1::TASK_TYPE_COUNSELLING_CALL:
    case v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL:
      return v1::TaskOutcome::kCall;
    case v1::TASK_TYPE_HOME_VISIT:
      return v1::TaskOutcome::kVisit;
    case v1::TASK_TYPE_LEGAL_LETTER:
      return v1::TaskOutcome::kLetter;
    case v1::TASK_TYPE_HARDSHIP_ASSESSMENT:
      return v1::TaskOutcome::kHardshipAssessment;
    case v1::TASK_TYPE_SUPERVISOR_REVIEW:
      return v1::TaskOutcome::kReview;
    default:
      return v1::TaskOutcome::OUTCOME_NOT_SET;
  }
}

// The queue a retried call goes to: the stage's own action for that type.
std::string QueueForRetry(const Ctx& x, v1::TaskType type) {
  const auto* actions = StageActions(x.policy, x.c.stage(), x.c.classification().case_class());
  if (actions != nullptr) {
    for (const auto& a : *actions) {
      if (a.task_type() == type) return a.queue();
    }
  }
  return x.policy.promises().follow_up_queue();
}

absl::Status OnCall(Ctx& x, v1::TaskType type, const v1::CallOutcome& call) {
  if (call.result() == v1::CALL_RESULT_UNSPECIFIED || !v1::CallResult_IsValid(call.result())) {
    return absl::InvalidArgumentError("outcome.call.result is required");
  }
  if (!v1::OverdueReason_IsValid(call.overdue_reason())) {
    return absl::InvalidArgumentError("outcome.call.overdue_reason is unknown");
  }
  const bool reached = call.result() == v1::CALL_RESULT_REACHED;
  if (!reached && (call.promise().amount_fen() != 0 || call.hardship_indicated())) {
    return absl::InvalidArgumentError("outcome.call: a promise or hardship needs a reached call");
  }
  x.c.set_call_attempts_in_stage(x.c.call_attempts_in_stage() + 1);
  x.Say(absl::StrCat(v1::TaskType_Name(type), ": ", v1::CallResult_Name(call.result())));
  switch (call.result()) {
    case v1::CALL_RESULT_REACHED:
      if (call.overdue_reason() != v1::OVERDUE_REASON_UNSPECIFIED) {
        x.c.set_overdue_reason(call.overdue_reason());
      }
      if (call.has_promise()) {
        RETURN_IF_ERROR(RecordPromise(x, call.promise(), "outcome.call.promise"));
      }
      if (call.hardship_indicated()) ApplyHardship(x);
      break;
    case v1::CALL_RESULT_NO_ANSWER:
      if (x.c.call_attempts_in_stage() <= x.policy.tasks().no_answer_retries()) {
        AddTask(x, type, QueueForRetry(x, type),
                absl::Hours(x.policy.tasks().no_answer_retry_hours()), 48, "retry.call");
      }
      break;
    case v1::CALL_RESULT_WRONG_NUMBER:
      AddReview(x, "review.contact_details");
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace collections::workflow::internal

namespace collections::workflow::internal {

absl::Status OnTaskCompleted(Ctx& x) {
  const v1::TaskCompleted& done = x.t.event.task_completed();
  const v1::TaskOutcome& outcome = done.outcome();
  const auto want = OutcomeFor(done.task_type());
  if (want == v1::TaskOutcome::OUTCOME_NOT_SET) {
    return absl::InvalidArgumentError("task_completed.task_type is required");
  }
  if (outcome.outcome_case() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("outcome does not fit a ", v1::TaskType_Name(done.task_type()), " task"));
  }
  switch (want) {
    case v1::TaskOutcome::kCall:
      return OnCall(x, done.task_type(), outcome.call());
    case v1::TaskOutcome::kVisit: {
      const auto& v = outcome.visit();
      if (v.result() == v1::VISIT_RESULT_UNSPECIFIED || !v1::VisitResult_IsValid(v.result())) {
        return absl::InvalidArgumentError("outcome.visit.result is required");
      }
      if (!v1::OverdueReason_IsValid(v.overdue_reason())) {
        return absl::InvalidArgumentError("outcome.visit.overdue_reason is unknown");
      }
      x.c.mutable_legal()->set_home_visit_done(true);
      x.Say(absl::StrCat("home visit: ", v1::VisitResult_Name(v.result())));
      if (v.overdue_reason() != v1::OVERDUE_REASON_UNSPECIFIED) {
        x.c.set_overdue_reason(v.overdue_reason());
      }
      if (v.has_promise()) {
        if (v.result() != v1::VISIT_RESULT_MET) {
          return absl::InvalidArgumentError(
              "outcome.visit: a promise needs a visit that met the borrower");
        }
        RETURN_IF_ERROR(RecordPromise(x, v.promise(), "outcome.visit.promise"));
      }
      if (v.hardship_indicated()) ApplyHardship(x);
      if (v.result() == v1::VISIT_RESULT_MOVED) AddReview(x, "review.moved");
      return absl::OkStatus();
    }
    case v1::TaskOutcome::kLetter:
      if (outcome.letter().sent()) {
        if (outcome.letter().reference().empty()) {
          return absl::InvalidArgumentError(
              "outcome.letter.reference is required for a sent letter");
        }
        *x.c.mutable_legal()->mutable_letter_sent_on() = DayToProto(x.today);
        x.c.mutable_legal()->set_letter_reference(outcome.letter().reference());
        x.Say(absl::StrCat("legal letter sent, ref ", outcome.letter().reference()));
      } else {
        x.Say("legal letter not sent");
      }
      return absl::OkStatus();
    case v1::TaskOutcome::kSms:
      x.Say(outcome.sms().delivered() ? "SMS delivered" : "SMS not delivered");
      return absl::OkStatus();
    case v1::TaskOutcome::kHardshipAssessment:
      if (!x.c.holds().hardship()) {
        return absl::FailedPreconditionError("no hardship is being assessed");
      }
      if (outcome.hardship_assessment().genuine()) {
        x.c.mutable_holds()->set_hardship_genuine(true);
        x.Say("hardship genuine: restructuring or deferral instead of legal action");
      } else {
        x.c.mutable_holds()->set_hardship(false);
        x.Say("hardship not genuine: hold released");
      }
      return absl::OkStatus();
    case v1::TaskOutcome::kReview:
      x.c.mutable_legal()->set_awaiting_review(false);
      if (outcome.review().write_off()) {
        Terminate(x, v1::STAGE_CLOSED, v1::CLOSE_REASON_WRITTEN_OFF);
      } else {
        x.Say(absl::StrCat("review: ", outcome.review().decision()));
      }
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError("outcome is required");
  }
}

}  // namespace collections::workflow::internal

namespace collections::workflow {

std::string AssignFirm(const v1::Case& c, const v1::Policy& policy) {
  const int64_t overdue = OverdueTotal(c.overdue());
  const auto& refused = c.legal().refused_by();
  auto available = [&](const v1::FirmRule& f) {
    return std::find(refused.begin(), refused.end(), f.firm_id()) == refused.end();
  };
  for (const v1::FirmRule& f : policy.legal().firms()) {
    if (!available(f)) continue;
    const bool region = f.regions().empty() ||
                        std::find(f.regions().begin(), f.regions().end(), c.borrower().region()) !=
                            f.regions().end();
    const bool amount = overdue >= f.min_overdue_fen() &&
                        (f.max_overdue_fen() == 0 || overdue <= f.max_overdue_fen());
    if (region && amount) return f.firm_id();
  }
  for (const v1::FirmRule& f : policy.legal().firms()) {
    if (available(f)) return f.firm_id();
  }
  // Every firm refused it: the first one, for a supervisor to sort out.
  return policy.legal().firms().empty() ? "" : policy.legal().firms(0).firm_id();
}

v1::TaskPayload BuildTaskPayload(const v1::Case& c, v1::TaskType type,
                                 const std::string& script_key) {
  v1::TaskPayload p;
  p.set_borrower_name(c.borrower().name());
  p.set_time_zone(c.borrower().time_zone());
  p.set_overdue_total_fen(OverdueTotal(c.overdue()));
  p.set_days_past_due(c.days_past_due());
  p.set_case_class(c.classification().case_class());
  p.set_prior_contacts(c.call_attempts_in_stage());
  p.set_script_key(script_key);
  switch (type) {
    case v1::TASK_TYPE_SMS_REMINDER:
    case v1::TASK_TYPE_REMINDER_CALL:
    case v1::TASK_TYPE_COUNSELLING_CALL:
    case v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL:
    case v1::TASK_TYPE_HARDSHIP_ASSESSMENT:
      if (!c.borrower().phones().empty()) p.set_phone(c.borrower().phones(0));
      break;
    case v1::TASK_TYPE_HOME_VISIT:
    case v1::TASK_TYPE_LEGAL_LETTER:
      p.set_address(c.borrower().address());
      break;
    default:
      break;
  }
  return p;
}

int64_t TaskPriority(const v1::Case& c) {
  const int64_t cls = ClassRank(c.classification().case_class());
  const int64_t dpd = std::min<int64_t>(c.days_past_due(), 99'999);
  const int64_t cny = std::min<int64_t>(OverdueTotal(c.overdue()) / 100, 9'999'999);
  return cls * 1'000'000'000'000 + dpd * 10'000'000 + cny;
}

}  // namespace collections::workflow
