// The legal phases: when a case is handed to a firm, and the firm's
// milestones.
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

bool LegalHold(const v1::Holds& h) {
  return h.hardship() || h.dispute_open() || h.bankruptcy() || h.deceased();
}

}  // namespace
}  // namespace collections::workflow::internal

namespace collections::workflow::internal {

// New cases go to the firm the policy assigns; updates to the case's firm.
void Handoff(Ctx& x, v1::HandoffKind kind, std::string reason) {
  std::string firm =
      kind == v1::HANDOFF_KIND_NEW_CASE ? AssignFirm(x.c, x.policy) : x.c.legal().firm_id();
  if (kind == v1::HANDOFF_KIND_NEW_CASE) x.c.mutable_legal()->set_firm_id(firm);
  x.Say(absl::StrCat("handoff ", v1::HandoffKind_Name(kind), " to ", firm));
  x.t.handoff = HandoffSpec{kind, std::move(reason), std::move(firm)};
}

// Legal proceedings: only past the policy's day, only without a hold, and
// only after the pre-legal steps (visit, letter and its waiting period).
void UpdateLegal(Ctx& x) {
  if (x.c.stage() != v1::STAGE_LEGAL_ACTION) return;
  v1::LegalState& legal = *x.c.mutable_legal();
  if (legal.phase() == v1::LEGAL_PHASE_HANDED_OFF || legal.phase() == v1::LEGAL_PHASE_CONCLUDED ||
      legal.awaiting_review()) {
    return;
  }
  const v1::LegalRule& rule = x.policy.legal();
  v1::LegalPhase phase;
  if (LegalHold(x.c.holds())) {
    phase = v1::LEGAL_PHASE_ON_HOLD;
  } else if (x.c.days_past_due() <= rule.min_days_past_due()) {
    phase = v1::LEGAL_PHASE_PRE_LEGAL;
  } else {
    const bool visited = !rule.require_home_visit() || legal.home_visit_done();
    bool letter_waited = false;
    if (!IsUnset(legal.letter_sent_on())) {
      auto sent = DayFromProto(legal.letter_sent_on(), "letter_sent_on");
      letter_waited = sent.ok() && x.today - *sent >= rule.letter_wait_days();
    }
    phase = visited && letter_waited ? v1::LEGAL_PHASE_HANDED_OFF : v1::LEGAL_PHASE_ELIGIBLE;
  }
  if (phase == legal.phase()) return;
  legal.set_phase(phase);
  x.Say(absl::StrCat("legal ", v1::LegalPhase_Name(phase)));
  if (phase == v1::LEGAL_PHASE_HANDED_OFF) {
    *legal.mutable_handed_off_on() = DayToProto(x.today);
    Handoff(x, v1::HANDOFF_KIND_NEW_CASE,
            absl::StrCat(x.c.days_past_due(), " days past due, ",
                         FormatFen(OverdueTotal(x.c.overdue())),
                         " overdue; home visit and legal letter done"));
  }
}

absl::Status OnLegalMilestone(Ctx& x) {
  const v1::LegalMilestone& m = x.t.event.legal_milestone();
  if (x.c.legal().phase() != v1::LEGAL_PHASE_HANDED_OFF) {
    return absl::FailedPreconditionError(
        absl::StrCat("case ", x.c.case_id(), " is not with counsel"));
  }
  if (m.kind() == v1::LEGAL_MILESTONE_KIND_UNSPECIFIED ||
      !v1::LegalMilestoneKind_IsValid(m.kind())) {
    return absl::InvalidArgumentError("legal_milestone.kind is required");
  }
  if (!m.firm_id().empty() && m.firm_id() != x.c.legal().firm_id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "case ", x.c.case_id(), " is with ", x.c.legal().firm_id(), ", not ", m.firm_id()));
  }
  RETURN_IF_ERROR(ValidateFen(m.amount_fen(), "legal_milestone.amount_fen"));
  x.t.event.mutable_legal_milestone()->clear_unallocated_fen();  // the server fills it
  x.Say(absl::StrCat("legal milestone ", v1::LegalMilestoneKind_Name(m.kind())));
  switch (m.kind()) {
    case v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED: {
      if (m.amount_fen() <= 0) {
        return absl::InvalidArgumentError(
            "legal_milestone.amount_fen must be positive for a recovery");
      }
      // Like a payment: it pays the overdue amounts; money beyond them is
      // never dropped but held as unallocated for core banking. Everything
      // received counts in paid_total_fen; only what paid the overdue
      // amounts counts as recovered.
      v1::OverdueAmounts allocated;
      const int64_t amount = m.amount_fen();
      const int64_t left = Allocate(x, amount, &allocated);
      const int64_t applied = amount - left;
      x.t.event.mutable_legal_milestone()->set_unallocated_fen(left);
      x.c.mutable_legal()->set_recovered_fen(x.c.legal().recovered_fen() + applied);
      x.c.set_paid_total_fen(x.c.paid_total_fen() + amount);
      x.Say(absl::StrCat(FormatFen(amount), " recovered"));
      if (left > 0) {
        x.c.set_unallocated_fen(x.c.unallocated_fen() + left);
        x.Say(absl::StrCat(FormatFen(left),
                           " beyond what is overdue: held as unallocated for "
                           "core banking to refund or apply"));
      }
      Refresh(x);
      return absl::OkStatus();
    }
    case v1::LEGAL_MILESTONE_KIND_ACCEPTED:
      *x.c.mutable_legal()->mutable_accepted_on() = DayToProto(x.today);
      return absl::OkStatus();
    case v1::LEGAL_MILESTONE_KIND_REFUSED: {
      // Back from counsel: a supervisor decides what next; the refusing
      // firm never gets it again.
      v1::LegalState& legal = *x.c.mutable_legal();
      legal.add_refused_by(legal.firm_id());
      legal.clear_firm_id();
      legal.clear_handed_off_on();
      legal.clear_accepted_on();
      legal.set_phase(v1::LEGAL_PHASE_ELIGIBLE);
      legal.set_awaiting_review(true);
      AddReview(x, "review.counsel_refused");
      return absl::OkStatus();
    }
    case v1::LEGAL_MILESTONE_KIND_CONCLUDED:
      x.c.mutable_legal()->set_phase(v1::LEGAL_PHASE_CONCLUDED);
      Terminate(x, v1::STAGE_CLOSED, v1::CLOSE_REASON_LEGAL_CONCLUDED);
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

}  // namespace collections::workflow::internal
