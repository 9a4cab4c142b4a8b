// Signals: what the borrower or an agent reports (promises, hardship,
// disputes, cease-contact, bankruptcy, death).
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/transition_internal.h"

namespace collections::workflow::internal {

absl::Status RecordPromise(Ctx& x, const v1::PromiseToPay& promise, absl::string_view field) {
  if (promise.amount_fen() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".amount_fen must be positive"));
  }
  RETURN_IF_ERROR(ValidateFen(promise.amount_fen(), absl::StrCat(field, ".amount_fen")));
  ASSIGN_OR_RETURN(absl::CivilDay due,
                   DayFromProto(promise.due_date(), absl::StrCat(field, ".due_date")));
  if (due < x.today) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".due_date ", FormatDay(due), " is before the business date ", FormatDay(x.today)));
  }
  if (due - x.today > x.policy.promises().max_days_ahead()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".due_date is more than ", x.policy.promises().max_days_ahead(), " days ahead"));
  }
  for (auto& p : *x.c.mutable_promises()) {
    if (p.state() == v1::PROMISE_STATE_PENDING) {
      p.set_state(v1::PROMISE_STATE_SUPERSEDED);
      x.t.clear_timers.push_back({TimerKind::kPromiseDue, p.promise_id()});
    }
  }
  v1::Promise& p = *x.c.add_promises();
  p.set_promise_id(x.c.version());  // the version recording it: deterministic
  p.set_amount_fen(promise.amount_fen());
  *p.mutable_due_date() = promise.due_date();
  *p.mutable_made_on() = DayToProto(x.today);
  p.set_state(v1::PROMISE_STATE_PENDING);
  x.t.set_timers.push_back(
      {{TimerKind::kPromiseDue, p.promise_id()}, due + x.policy.promises().grace_days() + 1});
  x.Say(absl::StrCat("promise to pay ", FormatFen(promise.amount_fen()), " by ", FormatDay(due)));
  return absl::OkStatus();
}

void ApplyHardship(Ctx& x) {
  if (x.c.holds().hardship()) return;  // already being assessed
  x.c.mutable_holds()->set_hardship(true);
  x.c.mutable_holds()->set_hardship_genuine(false);
  const auto& h = x.policy.hardship();
  AddTask(x, v1::TASK_TYPE_HARDSHIP_ASSESSMENT, h.assessment_queue(), absl::ZeroDuration(),
          h.assessment_deadline_hours(), "hardship.assessment");
  x.Say("hardship declared: legal action on hold pending assessment");
}

absl::Status OnSignal(Ctx& x, const v1::Case& before) {
  const v1::Signal& s = x.t.event.signal();
  const bool terminal = !IsOpenStage(before.stage());
  if (terminal && s.signal_case() != v1::Signal::kNote) {
    return absl::FailedPreconditionError(absl::StrCat(
        "case ", before.case_id(), " is ", StageName(before.stage()), ": only notes may be added"));
  }
  v1::Holds& holds = *x.c.mutable_holds();
  switch (s.signal_case()) {
    case v1::Signal::kPromiseToPay:
      return RecordPromise(x, s.promise_to_pay(), "signal.promise_to_pay");
    case v1::Signal::kHardshipDeclared:
      ApplyHardship(x);
      break;
    case v1::Signal::kDisputeOpened:
      if (holds.dispute_open()) {
        return absl::FailedPreconditionError("a dispute is already open");
      }
      holds.set_dispute_open(true);
      x.Say("dispute opened: contact and legal action on hold");
      if (x.c.legal().phase() == v1::LEGAL_PHASE_HANDED_OFF) {
        Handoff(x, v1::HANDOFF_KIND_DISPUTED, s.dispute_opened().reason());
      }
      break;
    case v1::Signal::kDisputeResolved:
      if (!holds.dispute_open()) {
        return absl::FailedPreconditionError("no dispute is open");
      }
      holds.set_dispute_open(false);
      x.Say("dispute resolved");
      break;
    case v1::Signal::kCeaseContact:
      holds.set_cease_contact(true);
      x.Say("cease-contact requested: contact tasks held");
      break;
    case v1::Signal::kBankruptcy:
      holds.set_bankruptcy(true);
      AddReview(x, "review.bankruptcy");
      x.Say("bankruptcy: legal action on hold, supervisor review");
      break;
    case v1::Signal::kDeceased:
      if (!IsUnset(s.deceased().date_of_death())) {
        RETURN_IF_ERROR(
            DayFromProto(s.deceased().date_of_death(), "signal.deceased.date_of_death").status());
      }
      holds.set_deceased(true);
      x.t.cancel_open_tasks = true;
      AddReview(x, "review.deceased");
      x.Say("borrower deceased: work stopped, supervisor review");
      break;
    case v1::Signal::kNote:
      if (s.note().text().empty()) {
        return absl::InvalidArgumentError("signal.note.text is required");
      }
      {
        // A bounded number per business date keeps the case file readable
        // and small enough to hand over; the next date takes more.
        const int cap = MaxNotesPerDay(x.policy);
        auto day = DayFromProto(before.notes_day(), "notes_day");
        const int today = day.ok() && *day == x.today ? before.notes_on_day() : 0;
        if (today >= cap) {
          return absl::FailedPreconditionError(absl::StrCat(
              "case ", before.case_id(), " already has ", today, " notes on ", FormatDay(x.today),
              ", the most one business date takes (policy case_file.max_notes_per_day); "
              "write more in one note (up to 4096 bytes) or add it on the next business date"));
        }
        *x.c.mutable_notes_day() = DayToProto(x.today);
        x.c.set_notes_on_day(today + 1);
      }
      x.Say("note");
      break;
    default:
      return absl::InvalidArgumentError("signal: one kind of signal is required");
  }
  return absl::OkStatus();
}

}  // namespace collections::workflow::internal
