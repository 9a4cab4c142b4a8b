#include "workflow/state_machine.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "workflow/classify.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"

namespace collections::workflow {
namespace {

using K = v1::CaseEvent::KindCase;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
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

std::string StageName(v1::Stage s) { return v1::Stage_Name(s); }

// Everything one decision reads and writes.
struct Ctx {
  const v1::Policy& policy;
  absl::Time now;
  absl::CivilDay today;
  Transition& t;
  v1::Case& c;
  std::string summary;

  void Say(absl::string_view s) {
    if (!summary.empty()) summary += "; ";
    summary += std::string(s);
  }
};

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

bool LegalHold(const v1::Holds& h) {
  return h.hardship() || h.dispute_open() || h.bankruptcy() || h.deceased();
}

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

void AddReview(Ctx& x, const std::string& script_key) {
  AddTask(x, v1::TASK_TYPE_SUPERVISOR_REVIEW, x.policy.tasks().review_queue(), absl::ZeroDuration(),
          48, script_key);
}

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
    default:
      return absl::InvalidArgumentError("event: one kind of event is required");
  }
}

}  // namespace

namespace {

absl::Status CheckLength(const std::string& value, size_t max, absl::string_view field) {
  if (value.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is too long (", value.size(), " bytes, at most ", max, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateDelinquencyRecord(const v1::DelinquencyRecord& r, const v1::Policy& policy,
                                       absl::CivilDay business_date) {
  if (r.loan_id().empty()) return absl::InvalidArgumentError("loan_id is required");
  RETURN_IF_ERROR(CheckLength(r.loan_id(), kMaxIdLength, "loan_id"));
  RETURN_IF_ERROR(CheckLength(r.product(), kMaxIdLength, "product"));
  const v1::Borrower& b = r.borrower();
  if (b.borrower_id().empty()) {
    return absl::InvalidArgumentError("borrower.borrower_id is required");
  }
  RETURN_IF_ERROR(CheckLength(b.borrower_id(), kMaxIdLength, "borrower.borrower_id"));
  RETURN_IF_ERROR(CheckLength(b.name(), kMaxTextLength, "borrower.name"));
  RETURN_IF_ERROR(CheckLength(b.address(), kMaxTextLength, "borrower.address"));
  RETURN_IF_ERROR(CheckLength(b.time_zone(), kMaxIdLength, "borrower.time_zone"));
  RETURN_IF_ERROR(CheckLength(b.region(), kMaxIdLength, "borrower.region"));
  if (b.phones_size() > 10) {
    return absl::InvalidArgumentError("borrower.phones: at most 10 numbers");
  }
  for (const std::string& phone : b.phones()) {
    RETURN_IF_ERROR(CheckLength(phone, 32, "borrower.phones"));
  }
  ASSIGN_OR_RETURN(absl::CivilDay as_of, DayFromProto(r.as_of(), "as_of"));
  ASSIGN_OR_RETURN(absl::CivilDay due,
                   DayFromProto(r.oldest_unpaid_due_date(), "oldest_unpaid_due_date"));
  if (due > as_of) {
    return absl::InvalidArgumentError(absl::StrCat("oldest_unpaid_due_date ", FormatDay(due),
                                                   " is after as_of ", FormatDay(as_of)));
  }
  // Plausibility: a placeholder or garbled date would otherwise open a case
  // tens of thousands of days past due, or age a case into the far future.
  const int ahead = MaxAsOfDaysAhead(policy);
  if (as_of - business_date > ahead) {
    return absl::InvalidArgumentError(absl::StrCat(
        "as_of ", FormatDay(as_of), " is more than ", ahead, " days after the business date ",
        FormatDay(business_date), " (policy intake.max_as_of_days_ahead); check the feed's dates"));
  }
  const absl::CivilDay lands_on = std::max(as_of, business_date);
  const int years = MaxYearsOverdue(policy);
  const absl::CivilDay earliest(lands_on.year() - years, lands_on.month(), lands_on.day());
  if (due < earliest) {
    return absl::InvalidArgumentError(
        absl::StrCat("oldest_unpaid_due_date ", FormatDay(due), " is more than ", years,
                     " years before ", FormatDay(lands_on), " (", lands_on - due,
                     " days past due; policy intake.max_years_overdue); check the feed's dates"));
  }
  RETURN_IF_ERROR(ValidateAmounts(r.overdue(), "overdue"));
  RETURN_IF_ERROR(ValidateFen(r.principal_outstanding_fen(), "principal_outstanding_fen"));
  if (r.credit().prior_delinquencies() < 0) {
    return absl::InvalidArgumentError("credit.prior_delinquencies must not be negative");
  }
  if (!v1::CreditBand_IsValid(r.credit().score_band())) {
    return absl::InvalidArgumentError("credit.score_band is not a known band");
  }
  return absl::OkStatus();
}

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
      current.policy_version() != policy.version()) {
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

  *x.c.mutable_updated_at() = ToProto(now);
  t.event.set_case_id(x.c.case_id());
  t.event.set_sequence(x.c.version());
  *t.event.mutable_occurred_at() = ToProto(now);
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
    absl::Time at = absl::FromUnixMicros(
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(e.occurred_at()));
    ASSIGN_OR_RETURN(Transition t, Decide(c, e, *policy, at));
    c = std::move(t.next);
  }
  return c;
}

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
