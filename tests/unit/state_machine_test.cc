// The case state machine as tables: which (stage, event) pairs it accepts,
// and what the accepted ones do.
#include "workflow/state_machine.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"

namespace collections::workflow {
namespace {

using K = v1::CaseEvent::KindCase;
constexpr int64_t CNY = 100;
const absl::Time kNow = absl::FromUnixSeconds(1'795'000'000);

v1::Date D(int y, int m, int d) { return DayToProto(absl::CivilDay(y, m, d)); }

v1::DelinquencyRecord Record(const std::string& loan, v1::Date as_of, v1::Date oldest_due,
                             int64_t principal, int64_t interest = 0, int64_t penalty = 0) {
  v1::DelinquencyRecord r;
  r.set_loan_id(loan);
  *r.mutable_as_of() = as_of;
  *r.mutable_oldest_unpaid_due_date() = oldest_due;
  r.mutable_borrower()->set_borrower_id("B-" + loan);
  r.mutable_borrower()->set_name("Wang Fang");
  r.mutable_borrower()->add_phones("+86 138 0000 0000");
  r.mutable_borrower()->set_address("1 Renmin Rd, Hangzhou");
  r.set_product("mortgage");
  r.set_principal_outstanding_fen(1'000'000 * CNY);
  r.mutable_overdue()->set_principal_fen(principal);
  r.mutable_overdue()->set_interest_fen(interest);
  r.mutable_overdue()->set_penalty_fen(penalty);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  return r;
}

v1::CaseEvent Event(v1::Date day, const std::string& actor = "test") {
  v1::CaseEvent e;
  *e.mutable_business_date() = day;
  e.set_actor(actor);
  return e;
}

// Opens a case from a record through Decide, as the importer does.
v1::Case Open(const v1::DelinquencyRecord& r, const v1::Policy& p = DefaultPolicy()) {
  v1::CaseEvent e = Event(r.as_of(), "ingest");
  e.set_case_id(7);
  *e.mutable_imported() = r;
  auto t = Decide(v1::Case(), e, p, kNow);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? t->next : v1::Case();
}

std::multiset<v1::TaskType> Types(const Transition& t) {
  std::multiset<v1::TaskType> out;
  for (const auto& task : t.create_tasks) out.insert(task.type);
  return out;
}

// --- Which (stage, event) pairs are accepted --------------------------------

// A valid event of every kind for a case in `c`'s situation.
std::map<K, v1::CaseEvent> OneOfEachKind(const v1::Case& c) {
  const v1::Date next = D(2026, 11, 2);
  std::map<K, v1::CaseEvent> m;
  auto add = [&](auto set) {
    v1::CaseEvent e = Event(next);
    set(e);
    m[e.kind_case()] = e;
  };
  add([&](v1::CaseEvent& e) {
    e.set_case_id(c.case_id() ? c.case_id() : 7);
    *e.mutable_imported() = Record("L1", next, D(2026, 10, 20), 3000 * CNY);
  });
  add([](v1::CaseEvent& e) { e.mutable_aged(); });
  add([](v1::CaseEvent& e) {
    e.mutable_payment()->set_payment_id("P1");
    e.mutable_payment()->set_amount_fen(100);
  });
  add([](v1::CaseEvent& e) { e.mutable_signal()->mutable_note()->set_text("hello"); });
  add([](v1::CaseEvent& e) { e.mutable_promise_broken()->set_promise_id(2); });
  add([](v1::CaseEvent& e) {
    e.mutable_task_completed()->set_task_id(1);
    e.mutable_task_completed()->set_task_type(v1::TASK_TYPE_SMS_REMINDER);
    e.mutable_task_completed()->mutable_outcome()->mutable_sms()->set_delivered(true);
  });
  add([](v1::CaseEvent& e) {
    e.mutable_plan_proposed()->set_plan_id(1);
    e.mutable_plan_proposed()->set_total_fen(100);
  });
  add([](v1::CaseEvent& e) {
    e.mutable_plan_approved()->set_plan_id(1);
    *e.mutable_plan_approved()->add_instalment_due_dates() = D(2026, 12, 1);
  });
  add([](v1::CaseEvent& e) {
    e.mutable_penalty_waived()->set_plan_id(1);
    e.mutable_penalty_waived()->set_amount_fen(100);
    e.mutable_penalty_waived()->set_approver("sup");
  });
  add([](v1::CaseEvent& e) { e.mutable_plan_rejected()->set_plan_id(1); });
  add([](v1::CaseEvent& e) { e.mutable_plan_completed()->set_plan_id(1); });
  add([](v1::CaseEvent& e) { e.mutable_plan_broken()->set_plan_id(1); });
  add([](v1::CaseEvent& e) {
    e.mutable_legal_milestone()->set_kind(v1::LEGAL_MILESTONE_KIND_ACCEPTED);
  });
  add([](v1::CaseEvent& e) { e.mutable_written_off()->set_reason("uncollectable"); });
  add([](v1::CaseEvent& e) {
    e.mutable_policy_migrated()->set_from_version(0);
    e.mutable_policy_migrated()->set_to_version(1);
  });
  add([](v1::CaseEvent& e) {
    e.mutable_experiment_assigned()->set_experiment_id(1);
    e.mutable_experiment_assigned()->set_arm("challenger-1");
  });
  return m;
}

// A case in `stage` with a pending promise (id 2) and, in legal action,
// with counsel.
v1::Case CaseIn(v1::Stage stage) {
  if (stage == v1::STAGE_UNSPECIFIED) return v1::Case();
  v1::Case c =
      Open(Record("L1", D(2026, 11, 1), D(2026, 10, 20), 3000 * CNY, 500 * CNY, 100 * CNY));
  c.set_stage(stage);
  v1::Promise* p = c.add_promises();
  p->set_promise_id(2);
  p->set_amount_fen(1000 * CNY);
  p->set_state(v1::PROMISE_STATE_PENDING);
  if (stage == v1::STAGE_LEGAL_ACTION) c.mutable_legal()->set_phase(v1::LEGAL_PHASE_HANDED_OFF);
  if (stage == v1::STAGE_RESOLVED || stage == v1::STAGE_CLOSED) {
    c.set_close_reason(v1::CLOSE_REASON_CURED);
  }
  return c;
}

TEST(StateMachineTable, EveryStageEventPairIsAcceptedOrFailedPrecondition) {
  const std::set<K> open = {
      K::kImported,          K::kAged,          K::kPayment,        K::kSignal,
      K::kPromiseBroken,     K::kTaskCompleted, K::kPlanProposed,   K::kPlanApproved,
      K::kPlanRejected,      K::kWrittenOff,    K::kPolicyMigrated, K::kPenaltyWaived,
      K::kExperimentAssigned};
  std::set<K> legal = open;
  legal.insert(K::kLegalMilestone);
  const std::set<K> plan = {K::kImported,       K::kAged,          K::kPayment,
                            K::kSignal,         K::kPromiseBroken, K::kTaskCompleted,
                            K::kPlanCompleted,  K::kPlanBroken,    K::kWrittenOff,
                            K::kPolicyMigrated, K::kPenaltyWaived, K::kExperimentAssigned};
  const std::map<v1::Stage, std::set<K>> accepted = {
      {v1::STAGE_UNSPECIFIED, {K::kImported}},
      {v1::STAGE_REMINDER, open},
      {v1::STAGE_COUNSELLING, open},
      {v1::STAGE_LEGAL_ACTION, legal},
      {v1::STAGE_REPAYMENT_PLAN, plan},
      // Money is never refused: a late payment is held as unallocated.
      {v1::STAGE_RESOLVED, {K::kImported, K::kSignal, K::kPayment}},
      {v1::STAGE_CLOSED, {K::kSignal, K::kPayment}},
  };
  v1::Policy v1_policy = DefaultPolicy();
  v1_policy.set_version(1);
  int checked = 0;
  for (const auto& [stage, ok_kinds] : accepted) {
    const v1::Case c = CaseIn(stage);
    for (const auto& [kind, event] : OneOfEachKind(c)) {
      const v1::Policy& p = kind == K::kPolicyMigrated ? v1_policy : DefaultPolicy();
      auto t = Decide(c, event, p, kNow);
      const std::string where = v1::Stage_Name(stage) + " + " + EventKindName(event);
      if (ok_kinds.count(kind)) {
        EXPECT_TRUE(t.ok()) << where << ": " << t.status();
        if (t.ok()) {
          EXPECT_EQ(t->next.version(), c.version() + 1) << where;
          EXPECT_EQ(t->event.sequence(), t->next.version()) << where;
          EXPECT_EQ(t->event.stage_before(), stage) << where;
          EXPECT_EQ(t->event.stage_after(), t->next.stage()) << where;
        }
      } else {
        EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition)
            << where << ": " << t.status();
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 7 * 16);  // every stage x every event kind
}

// --- What accepted events do -------------------------------------------------

struct OpenRow {
  std::string name;
  int dpd;
  int64_t overdue_fen;
  v1::CaseClass want_class;
  v1::Stage want_stage;
  std::multiset<v1::TaskType> want_tasks;
};

class OpenTable : public ::testing::TestWithParam<OpenRow> {};

TEST_P(OpenTable, ClassDecidesStageAndFirstTasks) {
  const OpenRow& r = GetParam();
  const absl::CivilDay as_of(2026, 11, 29);
  v1::CaseEvent e = Event(DayToProto(as_of), "ingest");
  e.set_case_id(42);
  *e.mutable_imported() =
      Record("L42", DayToProto(as_of), DayToProto(as_of - r.dpd), r.overdue_fen);
  auto t = Decide(v1::Case(), e, DefaultPolicy(), kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->next.case_id(), 42);
  EXPECT_EQ(t->next.version(), 1);
  EXPECT_EQ(t->next.days_past_due(), r.dpd);
  EXPECT_EQ(t->next.classification().case_class(), r.want_class);
  EXPECT_EQ(t->next.stage(), r.want_stage);
  EXPECT_EQ(Types(*t), r.want_tasks);
  EXPECT_EQ(t->next.borrower().time_zone(), "Asia/Shanghai");
  EXPECT_FALSE(t->handoff.has_value());
  for (const auto& task : t->create_tasks) {
    EXPECT_FALSE(task.queue.empty());
    EXPECT_GT(task.deadline, task.not_before);
    EXPECT_EQ(task.payload.borrower_name(), "Wang Fang");
    EXPECT_EQ(task.payload.days_past_due(), r.dpd);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Classes, OpenTable,
    ::testing::Values(OpenRow{"mild",
                              10,
                              1000 * CNY,
                              v1::CASE_CLASS_MILD,
                              v1::STAGE_REMINDER,
                              {v1::TASK_TYPE_SMS_REMINDER, v1::TASK_TYPE_REMINDER_CALL}},
                      OpenRow{"moderateByDays",
                              45,
                              1000 * CNY,
                              v1::CASE_CLASS_MODERATE,
                              v1::STAGE_COUNSELLING,
                              {v1::TASK_TYPE_COUNSELLING_CALL}},
                      OpenRow{"moderateByAmount",
                              5,
                              5000 * CNY,
                              v1::CASE_CLASS_MODERATE,
                              v1::STAGE_COUNSELLING,
                              {v1::TASK_TYPE_COUNSELLING_CALL}},
                      // Severe by amount only: severe communication, but no lawyers
                      // before 90 days.
                      OpenRow{"severeByAmount",
                              10,
                              30'000 * CNY,
                              v1::CASE_CLASS_SEVERE,
                              v1::STAGE_LEGAL_ACTION,
                              {v1::TASK_TYPE_HOME_VISIT, v1::TASK_TYPE_LEGAL_LETTER}},
                      OpenRow{"severeByDays",
                              120,
                              1000 * CNY,
                              v1::CASE_CLASS_SEVERE,
                              v1::STAGE_LEGAL_ACTION,
                              {v1::TASK_TYPE_HOME_VISIT, v1::TASK_TYPE_LEGAL_LETTER}}),
    [](const auto& info) { return info.param.name; });

TEST(StateMachine, OpeningNeedsSomethingOverdueAndValidInput) {
  struct Bad {
    std::string name;
    void (*mutate)(v1::DelinquencyRecord&);
    absl::StatusCode code;
    std::string field;
  };
  for (const Bad& b : std::vector<Bad>{
           {"nothingOverdue", [](v1::DelinquencyRecord& r) { r.clear_overdue(); },
            absl::StatusCode::kFailedPrecondition, "nothing overdue"},
           {"noLoanId", [](v1::DelinquencyRecord& r) { r.clear_loan_id(); },
            absl::StatusCode::kInvalidArgument, "loan_id"},
           {"negativeInterest",
            [](v1::DelinquencyRecord& r) { r.mutable_overdue()->set_interest_fen(-1); },
            absl::StatusCode::kInvalidArgument, "overdue.interest_fen"},
           {"overflowingPrincipal",
            [](v1::DelinquencyRecord& r) { r.mutable_overdue()->set_principal_fen(kMaxFen + 1); },
            absl::StatusCode::kInvalidArgument, "overdue.principal_fen"},
           {"dueAfterAsOf",
            [](v1::DelinquencyRecord& r) { *r.mutable_oldest_unpaid_due_date() = D(2026, 12, 1); },
            absl::StatusCode::kInvalidArgument, "oldest_unpaid_due_date"},
           {"impossibleDate", [](v1::DelinquencyRecord& r) { *r.mutable_as_of() = D(2026, 2, 30); },
            absl::StatusCode::kInvalidArgument, "as_of"},
           {"unknownBand",
            [](v1::DelinquencyRecord& r) {
              r.mutable_credit()->set_score_band(static_cast<v1::CreditBand>(99));
            },
            absl::StatusCode::kInvalidArgument, "score_band"},
       }) {
    v1::DelinquencyRecord r = Record("L9", D(2026, 11, 29), D(2026, 11, 1), 1000 * CNY);
    b.mutate(r);
    v1::CaseEvent e = Event(D(2026, 11, 29));
    e.set_case_id(9);
    *e.mutable_imported() = r;
    auto t = Decide(v1::Case(), e, DefaultPolicy(), kNow);
    EXPECT_EQ(t.status().code(), b.code) << b.name << ": " << t.status();
    EXPECT_NE(t.status().message().find(b.field), absl::string_view::npos)
        << b.name << ": " << t.status();
  }
}

// Applies `event` (with business date `day`) to `c` or fails the test.
Transition Step(const v1::Case& c, v1::CaseEvent e, absl::CivilDay day) {
  *e.mutable_business_date() = DayToProto(day);
  if (e.actor().empty()) e.set_actor("test");
  auto t = Decide(c, e, DefaultPolicy(), kNow);
  EXPECT_TRUE(t.ok()) << EventKindName(e) << ": " << t.status();
  if (t.ok()) return *t;
  Transition unchanged;
  unchanged.next = c;
  return unchanged;
}

v1::CaseEvent Aged() {
  v1::CaseEvent e;
  e.mutable_aged();
  return e;
}

v1::CaseEvent Pay(const std::string& id, int64_t fen) {
  v1::CaseEvent e;
  e.mutable_payment()->set_payment_id(id);
  e.mutable_payment()->set_amount_fen(fen);
  return e;
}

v1::CaseEvent Done(v1::TaskType type, v1::TaskOutcome outcome) {
  v1::CaseEvent e;
  e.mutable_task_completed()->set_task_id(1);
  e.mutable_task_completed()->set_task_type(type);
  *e.mutable_task_completed()->mutable_outcome() = outcome;
  return e;
}

struct AgingRow {
  std::string name;
  int dpd_before;
  int64_t overdue_fen;
  v1::Stage want_stage;
  bool want_cancel;
  std::multiset<v1::TaskType> want_tasks;
  v1::LegalPhase want_phase;
};

class AgingTable : public ::testing::TestWithParam<AgingRow> {};

TEST_P(AgingTable, OneDayOfAging) {
  const AgingRow& r = GetParam();
  const absl::CivilDay day(2026, 11, 1);
  v1::Case c = Open(Record("L1", DayToProto(day), DayToProto(day - r.dpd_before), r.overdue_fen));
  Transition t = Step(c, Aged(), day + 1);
  EXPECT_EQ(t.next.days_past_due(), r.dpd_before + 1);
  EXPECT_EQ(t.next.stage(), r.want_stage);
  EXPECT_EQ(t.cancel_open_tasks, r.want_cancel);
  EXPECT_EQ(Types(t), r.want_tasks);
  EXPECT_EQ(t.next.legal().phase(), r.want_phase);
  EXPECT_FALSE(t.handoff.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Edges, AgingTable,
    ::testing::Values(AgingRow{"day29to30StaysReminder",
                               29,
                               1000 * CNY,
                               v1::STAGE_REMINDER,
                               false,
                               {},
                               v1::LEGAL_PHASE_UNSPECIFIED},
                      AgingRow{"day30to31MovesToCounselling",
                               30,
                               1000 * CNY,
                               v1::STAGE_COUNSELLING,
                               true,
                               {v1::TASK_TYPE_COUNSELLING_CALL},
                               v1::LEGAL_PHASE_UNSPECIFIED},
                      AgingRow{"day89to90StaysCounselling",
                               89,
                               1000 * CNY,
                               v1::STAGE_COUNSELLING,
                               false,
                               {},
                               v1::LEGAL_PHASE_UNSPECIFIED},
                      // Past 90 days: legal action, eligible once visit and letter are done.
                      AgingRow{"day90to91MovesToLegal",
                               90,
                               1000 * CNY,
                               v1::STAGE_LEGAL_ACTION,
                               true,
                               {v1::TASK_TYPE_HOME_VISIT, v1::TASK_TYPE_LEGAL_LETTER},
                               v1::LEGAL_PHASE_ELIGIBLE},
                      AgingRow{"severeByAmountStaysPreLegal",
                               10,
                               30'000 * CNY,
                               v1::STAGE_LEGAL_ACTION,
                               false,
                               {},
                               v1::LEGAL_PHASE_PRE_LEGAL}),
    [](const auto& info) { return info.param.name; });

TEST(StateMachine, AgingTwiceToTheSameDayIsRefused) {
  const absl::CivilDay day(2026, 11, 1);
  v1::Case c = Open(Record("L1", DayToProto(day), DayToProto(day - 3), 1000 * CNY));
  v1::CaseEvent e = Aged();
  *e.mutable_business_date() = DayToProto(day);
  e.set_actor("system:aging");
  EXPECT_EQ(Decide(c, e, DefaultPolicy(), kNow).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// A severe case goes to counsel only after visit, letter and waiting period,
// past 90 days, without a hold.
TEST(StateMachine, LegalHandoffAfterPreLegalSteps) {
  const absl::CivilDay d0(2026, 8, 1);
  v1::Case c = Open(Record("L1", DayToProto(d0), DayToProto(d0 - 10), 30'000 * CNY));
  ASSERT_EQ(c.stage(), v1::STAGE_LEGAL_ACTION);

  v1::TaskOutcome visit;
  visit.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
  c = Step(c, Done(v1::TASK_TYPE_HOME_VISIT, visit), d0 + 1).next;
  EXPECT_TRUE(c.legal().home_visit_done());

  v1::TaskOutcome letter;
  letter.mutable_letter()->set_sent(true);
  letter.mutable_letter()->set_reference("EMS-1");
  c = Step(c, Done(v1::TASK_TYPE_LEGAL_LETTER, letter), d0 + 2).next;
  EXPECT_EQ(c.legal().letter_reference(), "EMS-1");
  EXPECT_EQ(c.legal().phase(), v1::LEGAL_PHASE_PRE_LEGAL);

  // Day 90: still no lawyers.
  Transition t = Step(c, Aged(), d0 + 80);
  EXPECT_EQ(t.next.days_past_due(), 90);
  EXPECT_FALSE(t.handoff.has_value());
  // Day 91: handed off, with the letter's wait long over.
  t = Step(t.next, Aged(), d0 + 81);
  ASSERT_TRUE(t.handoff.has_value());
  EXPECT_EQ(t.handoff->kind, v1::HANDOFF_KIND_NEW_CASE);
  EXPECT_EQ(t.next.legal().phase(), v1::LEGAL_PHASE_HANDED_OFF);
  EXPECT_EQ(t.next.legal().handed_off_on().day(), (d0 + 81).day());
  // Nothing further is handed off on later days.
  EXPECT_FALSE(Step(t.next, Aged(), d0 + 82).handoff.has_value());
}

TEST(StateMachine, LetterWaitingPeriodHoldsTheHandoff) {
  const absl::CivilDay d0(2026, 8, 1);
  v1::Case c = Open(Record("L1", DayToProto(d0), DayToProto(d0 - 95), 3000 * CNY));
  v1::TaskOutcome visit;
  visit.mutable_visit()->set_result(v1::VISIT_RESULT_MET);
  c = Step(c, Done(v1::TASK_TYPE_HOME_VISIT, visit), d0).next;
  v1::TaskOutcome letter;
  letter.mutable_letter()->set_sent(true);
  letter.mutable_letter()->set_reference("EMS-2");
  c = Step(c, Done(v1::TASK_TYPE_LEGAL_LETTER, letter), d0).next;
  EXPECT_EQ(c.legal().phase(), v1::LEGAL_PHASE_ELIGIBLE);
  EXPECT_FALSE(Step(c, Aged(), d0 + 14).handoff.has_value());  // 15-day wait
  EXPECT_TRUE(Step(c, Aged(), d0 + 15).handoff.has_value());
}

TEST(StateMachine, HardshipHoldsLegalActionUntilAssessedNotGenuine) {
  const absl::CivilDay d0(2026, 8, 1);
  v1::Case c = Open(Record("L1", DayToProto(d0), DayToProto(d0 - 100), 30'000 * CNY));
  v1::CaseEvent h;
  h.mutable_signal()->mutable_hardship_declared()->set_reason("lost job");
  Transition t = Step(c, h, d0);
  EXPECT_TRUE(t.next.holds().hardship());
  EXPECT_EQ(t.next.legal().phase(), v1::LEGAL_PHASE_ON_HOLD);
  EXPECT_EQ(Types(t), std::multiset<v1::TaskType>{v1::TASK_TYPE_HARDSHIP_ASSESSMENT});
  c = t.next;
  // Visit and letter done: still on hold.
  v1::TaskOutcome visit;
  visit.mutable_visit()->set_result(v1::VISIT_RESULT_MET);
  c = Step(c, Done(v1::TASK_TYPE_HOME_VISIT, visit), d0).next;
  v1::TaskOutcome letter;
  letter.mutable_letter()->set_sent(true);
  letter.mutable_letter()->set_reference("EMS-3");
  c = Step(c, Done(v1::TASK_TYPE_LEGAL_LETTER, letter), d0).next;
  t = Step(c, Aged(), d0 + 30);
  EXPECT_FALSE(t.handoff.has_value());
  EXPECT_EQ(t.next.legal().phase(), v1::LEGAL_PHASE_ON_HOLD);

  v1::TaskOutcome genuine;
  genuine.mutable_hardship_assessment()->set_genuine(true);
  Transition g = Step(t.next, Done(v1::TASK_TYPE_HARDSHIP_ASSESSMENT, genuine), d0 + 31);
  EXPECT_TRUE(g.next.holds().hardship_genuine());
  EXPECT_FALSE(g.handoff.has_value());

  v1::TaskOutcome not_genuine;
  not_genuine.mutable_hardship_assessment()->set_genuine(false);
  Transition n = Step(t.next, Done(v1::TASK_TYPE_HARDSHIP_ASSESSMENT, not_genuine), d0 + 31);
  EXPECT_FALSE(n.next.holds().hardship());
  ASSERT_TRUE(n.handoff.has_value());
  EXPECT_EQ(n.handoff->kind, v1::HANDOFF_KIND_NEW_CASE);
}

struct PaymentRow {
  std::string name;
  int64_t amount;
  v1::OverdueAmounts want_allocated;
  int64_t want_unallocated;
  v1::Stage want_stage;
};

class PaymentTable : public ::testing::TestWithParam<PaymentRow> {};

TEST_P(PaymentTable, AllocatesPenaltyInterestPrincipal) {
  const PaymentRow& r = GetParam();
  // 30 dpd; 3,000 principal + 500 interest + 100 penalty = 3,600 CNY.
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c =
      Open(Record("L1", DayToProto(d), DayToProto(d - 30), 3000 * CNY, 500 * CNY, 100 * CNY));
  Transition t = Step(c, Pay("P1", r.amount), d);
  const v1::Payment& p = t.event.payment();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(p.allocated(), r.want_allocated))
      << p.allocated().ShortDebugString();
  EXPECT_EQ(p.unallocated_fen(), r.want_unallocated);
  EXPECT_EQ(t.next.stage(), r.want_stage);
  EXPECT_EQ(OverdueTotal(t.next.overdue()), 3600 * CNY - (r.amount - r.want_unallocated));
  // Everything received; the part that paid nothing owed is held.
  EXPECT_EQ(t.next.paid_total_fen(), r.amount);
  EXPECT_EQ(t.next.unallocated_fen(), r.want_unallocated);
  EXPECT_EQ(t.event.summary().find("held as unallocated") != std::string::npos,
            r.want_unallocated > 0)
      << t.event.summary();
}

v1::OverdueAmounts Amounts(int64_t principal, int64_t interest, int64_t penalty) {
  v1::OverdueAmounts a;
  a.set_principal_fen(principal);
  a.set_interest_fen(interest);
  a.set_penalty_fen(penalty);
  return a;
}

INSTANTIATE_TEST_SUITE_P(
    Amounts, PaymentTable,
    ::testing::Values(
        PaymentRow{"penaltyOnly", 50 * CNY, Amounts(0, 0, 50 * CNY), 0, v1::STAGE_REMINDER},
        PaymentRow{"penaltyAndInterest", 600 * CNY, Amounts(0, 500 * CNY, 100 * CNY), 0,
                   v1::STAGE_REMINDER},
        PaymentRow{"intoPrincipal", 601 * CNY, Amounts(1 * CNY, 500 * CNY, 100 * CNY), 0,
                   v1::STAGE_REMINDER},
        PaymentRow{"exactCure", 3600 * CNY, Amounts(3000 * CNY, 500 * CNY, 100 * CNY), 0,
                   v1::STAGE_RESOLVED},
        PaymentRow{"overpayment", 4000 * CNY, Amounts(3000 * CNY, 500 * CNY, 100 * CNY), 400 * CNY,
                   v1::STAGE_RESOLVED}),
    [](const auto& info) { return info.param.name; });

struct LatePaymentRow {
  std::string name;
  v1::Stage stage;
  v1::CloseReason reason;
  std::string want_said;
};

void PrintTo(const LatePaymentRow& r, std::ostream* os) { *os << r.name; }

class LatePaymentTable : public ::testing::TestWithParam<LatePaymentRow> {};

// Core banking posts what it received, sometimes after the case ended: the
// money is recorded and held as unallocated; the case keeps its stage.
TEST_P(LatePaymentTable, IsHeldAsUnallocatedAndChangesNoStage) {
  const LatePaymentRow& r = GetParam();
  v1::Case c = CaseIn(r.stage);
  c.set_close_reason(r.reason);
  c.set_paid_total_fen(3600 * CNY);
  c.set_unallocated_fen(10 * CNY);
  const v1::OverdueAmounts overdue_before = c.overdue();
  Transition t = Step(c, Pay("LATE", 120 * CNY), absl::CivilDay(2026, 11, 20));
  const v1::Payment& p = t.event.payment();
  EXPECT_EQ(p.unallocated_fen(), 120 * CNY);
  EXPECT_EQ(OverdueTotal(p.allocated()), 0);
  EXPECT_EQ(p.plan_fen(), 0);
  EXPECT_EQ(t.next.stage(), r.stage);
  EXPECT_EQ(t.next.close_reason(), r.reason);
  EXPECT_EQ(t.event.stage_before(), t.event.stage_after());
  EXPECT_EQ(t.next.paid_total_fen(), 3720 * CNY);
  EXPECT_EQ(t.next.unallocated_fen(), 130 * CNY);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(t.next.overdue(), overdue_before));
  EXPECT_NE(t.event.summary().find(r.want_said), std::string::npos) << t.event.summary();
  EXPECT_NE(t.event.summary().find("held as unallocated for core banking to refund or apply"),
            std::string::npos)
      << t.event.summary();
  EXPECT_TRUE(t.create_tasks.empty());
  EXPECT_FALSE(t.cancel_open_tasks);
  EXPECT_TRUE(t.set_timers.empty());
  EXPECT_FALSE(t.handoff.has_value());
  EXPECT_EQ(t.next.version(), c.version() + 1);
}

INSTANTIATE_TEST_SUITE_P(
    Stages, LatePaymentTable,
    ::testing::Values(
        LatePaymentRow{"cured", v1::STAGE_RESOLVED, v1::CLOSE_REASON_CURED,
                       "received after the case was resolved (CLOSE_REASON_CURED)"},
        LatePaymentRow{"restructured", v1::STAGE_CLOSED, v1::CLOSE_REASON_RESTRUCTURED,
                       "received after the case was closed (CLOSE_REASON_RESTRUCTURED)"},
        LatePaymentRow{"writtenOff", v1::STAGE_CLOSED, v1::CLOSE_REASON_WRITTEN_OFF,
                       "received after the case was closed (CLOSE_REASON_WRITTEN_OFF)"},
        LatePaymentRow{"legalConcluded", v1::STAGE_CLOSED, v1::CLOSE_REASON_LEGAL_CONCLUDED,
                       "received after the case was closed (CLOSE_REASON_LEGAL_CONCLUDED)"}),
    [](const auto& info) { return info.param.name; });

TEST(StateMachine, FullCureResolvesFromEveryOpenStage) {
  for (v1::Stage stage : {v1::STAGE_REMINDER, v1::STAGE_COUNSELLING, v1::STAGE_REPAYMENT_PLAN,
                          v1::STAGE_LEGAL_ACTION}) {
    v1::Case c = CaseIn(stage);
    Transition t = Step(c, Pay("P", OverdueTotal(c.overdue())), absl::CivilDay(2026, 11, 2));
    EXPECT_EQ(t.next.stage(), v1::STAGE_RESOLVED) << v1::Stage_Name(stage);
    EXPECT_EQ(t.next.close_reason(), v1::CLOSE_REASON_CURED);
    EXPECT_EQ(t.next.days_past_due(), 0);
    EXPECT_TRUE(t.cancel_open_tasks);
    EXPECT_TRUE(t.clear_all_timers);
    EXPECT_TRUE(t.create_tasks.empty());
    // Counsel had the case in legal action: it is told to withdraw.
    EXPECT_EQ(t.handoff.has_value(), stage == v1::STAGE_LEGAL_ACTION);
    if (t.handoff) {
      EXPECT_EQ(t.handoff->kind, v1::HANDOFF_KIND_WITHDRAW);
    }
  }
}

TEST(StateMachine, PartialPaymentReclassifiesButNeverDeEscalates) {
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c = Open(Record("L1", DayToProto(d), DayToProto(d - 5), 6000 * CNY));
  ASSERT_EQ(c.classification().case_class(), v1::CASE_CLASS_MODERATE);
  Transition t = Step(c, Pay("P1", 2000 * CNY), d);
  EXPECT_EQ(t.next.classification().case_class(), v1::CASE_CLASS_MILD);
  EXPECT_EQ(t.next.stage(), v1::STAGE_COUNSELLING);
}

TEST(StateMachine, ImportRaisingTheClassEscalates) {
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c = Open(Record("L1", DayToProto(d), DayToProto(d - 5), 1000 * CNY));
  ASSERT_EQ(c.stage(), v1::STAGE_REMINDER);
  v1::CaseEvent e;
  *e.mutable_imported() = Record("L1", DayToProto(d + 1), DayToProto(d - 5), 25'000 * CNY);
  Transition t = Step(c, e, d + 1);
  EXPECT_EQ(t.next.stage(), v1::STAGE_LEGAL_ACTION);
  EXPECT_TRUE(t.cancel_open_tasks);
  EXPECT_EQ(Types(t),
            (std::multiset<v1::TaskType>{v1::TASK_TYPE_HOME_VISIT, v1::TASK_TYPE_LEGAL_LETTER}));
  // The same as-of date again is refused; the importer counts it unchanged.
  auto again = Decide(
      t.next,
      [&] {
        v1::CaseEvent x = e;
        *x.mutable_business_date() = DayToProto(d + 1);
        x.set_actor("ingest");
        return x;
      }(),
      DefaultPolicy(), kNow);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(StateMachine, ImportShowingNothingOverdueCuresAndALaterOneReopens) {
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c = Open(Record("L1", DayToProto(d), DayToProto(d - 5), 1000 * CNY));
  v1::CaseEvent cured;
  *cured.mutable_imported() = Record("L1", DayToProto(d + 1), DayToProto(d + 1), 0);
  c = Step(c, cured, d + 1).next;
  EXPECT_EQ(c.stage(), v1::STAGE_RESOLVED);
  v1::CaseEvent again;
  *again.mutable_imported() = Record("L1", DayToProto(d + 40), DayToProto(d + 31), 800 * CNY);
  Transition t = Step(c, again, d + 40);
  EXPECT_EQ(t.next.stage(), v1::STAGE_REMINDER);
  EXPECT_EQ(t.next.close_reason(), v1::CLOSE_REASON_UNSPECIFIED);
  EXPECT_EQ(t.next.days_past_due(), 9);
  EXPECT_EQ(t.create_tasks.size(), 2u);
}

TEST(StateMachine, PromiseKeptByPaymentOrBrokenByTimer) {
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c = Open(Record("L1", DayToProto(d), DayToProto(d - 5), 1000 * CNY));
  v1::CaseEvent promise;
  promise.mutable_signal()->mutable_promise_to_pay()->set_amount_fen(400 * CNY);
  *promise.mutable_signal()->mutable_promise_to_pay()->mutable_due_date() = DayToProto(d + 7);
  Transition t = Step(c, promise, d);
  ASSERT_EQ(t.next.promises_size(), 1);
  const int64_t id = t.next.promises(0).promise_id();
  ASSERT_EQ(t.set_timers.size(), 1u);
  EXPECT_EQ(t.set_timers[0].timer, (TimerRef{TimerKind::kPromiseDue, id}));
  EXPECT_EQ(t.set_timers[0].due, d + 7 + 1 + 1);  // date + grace 1 + 1
  c = t.next;

  // Kept: two payments reach the amount; the timer is cleared.
  Transition p1 = Step(c, Pay("P1", 300 * CNY), d + 2);
  EXPECT_EQ(p1.next.promises(0).state(), v1::PROMISE_STATE_PENDING);
  Transition p2 = Step(p1.next, Pay("P2", 100 * CNY), d + 3);
  EXPECT_EQ(p2.next.promises(0).state(), v1::PROMISE_STATE_KEPT);
  EXPECT_EQ(p2.clear_timers, std::vector<TimerRef>{(TimerRef{TimerKind::kPromiseDue, id})});

  // Broken: the timer fires; a follow-up call; the second broken promise
  // moves a reminder case to counselling.
  v1::CaseEvent fired = EventForTimer({TimerKind::kPromiseDue, id});
  Transition b = Step(c, fired, d + 9);
  EXPECT_EQ(b.next.promises(0).state(), v1::PROMISE_STATE_BROKEN);
  EXPECT_EQ(b.next.promises_broken(), 1);
  EXPECT_EQ(b.next.stage(), v1::STAGE_REMINDER);
  EXPECT_EQ(Types(b), std::multiset<v1::TaskType>{v1::TASK_TYPE_REMINDER_CALL});
  // The timer of a kept promise is stale: refused, nothing changes.
  v1::CaseEvent stale = fired;
  *stale.mutable_business_date() = DayToProto(d + 9);
  EXPECT_EQ(Decide(p2.next, stale, DefaultPolicy(), kNow).status().code(),
            absl::StatusCode::kFailedPrecondition);

  v1::CaseEvent promise2 = promise;
  *promise2.mutable_signal()->mutable_promise_to_pay()->mutable_due_date() = DayToProto(d + 12);
  Transition t2 = Step(b.next, promise2, d + 10);
  Transition b2 = Step(
      t2.next, EventForTimer({TimerKind::kPromiseDue, t2.next.promises(1).promise_id()}), d + 14);
  EXPECT_EQ(b2.next.promises_broken(), 2);
  EXPECT_EQ(b2.next.stage(), v1::STAGE_COUNSELLING);
}

// A promise is accepted from the business date itself up to the policy's
// max_days_ahead, for 1 fen up to the largest amount money carries (kMaxFen);
// one day or one fen outside those edges is refused and changes nothing.
TEST(StateMachine, PromisesMustBeRealistic) {
  const absl::CivilDay d(2026, 11, 1);
  const v1::Policy policy = DefaultPolicy();
  const int ahead = policy.promises().max_days_ahead();
  ASSERT_GT(ahead, 0);
  v1::Case c = Open(Record("L1", DayToProto(d), DayToProto(d - 5), 1000 * CNY));
  auto promise = [&](int64_t amount, absl::CivilDay due) {
    v1::CaseEvent e;
    e.mutable_signal()->mutable_promise_to_pay()->set_amount_fen(amount);
    *e.mutable_signal()->mutable_promise_to_pay()->mutable_due_date() = DayToProto(due);
    *e.mutable_business_date() = DayToProto(d);
    e.set_actor("agent");
    return Decide(c, e, policy, kNow);
  };

  struct Row {
    int64_t amount_fen;
    absl::CivilDay due;
    bool accepted;
  };
  for (const Row& row : std::vector<Row>{
           // The edges that are accepted.
           {1, d, true},                // the smallest amount, due today
           {kMaxFen, d + ahead, true},  // the largest amount, the last day
           {1, d + ahead, true},
           {kMaxFen, d, true},
           {500 * CNY, d + ahead / 2, true},
           // Just outside them.
           {0, d + 3, false},
           {-5, d + 3, false},
           {kMaxFen + 1, d + 3, false},
           {100, d - 1, false},
           {100, d + ahead + 1, false},
       }) {
    SCOPED_TRACE(::testing::Message() << row.amount_fen << " fen due " << row.due);
    absl::StatusOr<Transition> t = promise(row.amount_fen, row.due);
    if (!row.accepted) {
      EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
      continue;
    }
    ASSERT_TRUE(t.ok()) << t.status();
    // Recorded as the borrower said it, and watched: broken only once the
    // grace days after the due date have passed.
    ASSERT_EQ(t->next.promises_size(), 1);
    const v1::Promise& p = t->next.promises(0);
    EXPECT_EQ(p.state(), v1::PROMISE_STATE_PENDING);
    EXPECT_EQ(p.amount_fen(), row.amount_fen);
    EXPECT_EQ(DayFromProto(p.due_date(), "due_date").value(), row.due);
    EXPECT_EQ(DayFromProto(p.made_on(), "made_on").value(), d);
    ASSERT_EQ(t->set_timers.size(), 1u);
    EXPECT_EQ(t->set_timers[0].timer.kind, TimerKind::kPromiseDue);
    EXPECT_EQ(t->set_timers[0].due, row.due + policy.promises().grace_days() + 1);
  }

  // A promise without a due date is refused.
  v1::CaseEvent undated;
  undated.mutable_signal()->mutable_promise_to_pay()->set_amount_fen(100);
  *undated.mutable_business_date() = DayToProto(d);
  undated.set_actor("agent");
  EXPECT_EQ(Decide(c, undated, policy, kNow).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StateMachine, CallOutcomes) {
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c = Open(Record("L1", DayToProto(d), DayToProto(d - 40), 1000 * CNY));
  ASSERT_EQ(c.stage(), v1::STAGE_COUNSELLING);

  v1::TaskOutcome no_answer;
  no_answer.mutable_call()->set_result(v1::CALL_RESULT_NO_ANSWER);
  Transition t = Step(c, Done(v1::TASK_TYPE_COUNSELLING_CALL, no_answer), d);
  ASSERT_EQ(t.create_tasks.size(), 1u);
  EXPECT_EQ(t.create_tasks[0].type, v1::TASK_TYPE_COUNSELLING_CALL);
  EXPECT_EQ(t.create_tasks[0].queue, "call.counselling");
  EXPECT_EQ(t.create_tasks[0].not_before, kNow + absl::Hours(24));
  // Retries stop after the policy's limit (3).
  v1::Case x = c;
  for (int i = 0; i < 3; ++i) x = Step(x, Done(v1::TASK_TYPE_COUNSELLING_CALL, no_answer), d).next;
  EXPECT_TRUE(Step(x, Done(v1::TASK_TYPE_COUNSELLING_CALL, no_answer), d).create_tasks.empty());

  v1::TaskOutcome reached;
  reached.mutable_call()->set_result(v1::CALL_RESULT_REACHED);
  reached.mutable_call()->set_right_party_contact(true);
  reached.mutable_call()->set_overdue_reason(v1::OVERDUE_REASON_ILLNESS);
  reached.mutable_call()->mutable_promise()->set_amount_fen(500 * CNY);
  *reached.mutable_call()->mutable_promise()->mutable_due_date() = DayToProto(d + 5);
  t = Step(c, Done(v1::TASK_TYPE_COUNSELLING_CALL, reached), d);
  EXPECT_EQ(t.next.overdue_reason(), v1::OVERDUE_REASON_ILLNESS);
  EXPECT_EQ(t.next.promises_size(), 1);
  EXPECT_EQ(t.set_timers.size(), 1u);

  v1::TaskOutcome wrong;
  wrong.mutable_call()->set_result(v1::CALL_RESULT_WRONG_NUMBER);
  EXPECT_EQ(Types(Step(c, Done(v1::TASK_TYPE_COUNSELLING_CALL, wrong), d)),
            std::multiset<v1::TaskType>{v1::TASK_TYPE_SUPERVISOR_REVIEW});

  // An outcome of the wrong type, or a promise from an unanswered call.
  v1::CaseEvent mismatched = Done(v1::TASK_TYPE_HOME_VISIT, reached);
  *mismatched.mutable_business_date() = DayToProto(d);
  mismatched.set_actor("agent");
  EXPECT_EQ(Decide(c, mismatched, DefaultPolicy(), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::TaskOutcome bogus = reached;
  bogus.mutable_call()->set_result(v1::CALL_RESULT_NO_ANSWER);
  v1::CaseEvent e = Done(v1::TASK_TYPE_COUNSELLING_CALL, bogus);
  *e.mutable_business_date() = DayToProto(d);
  e.set_actor("agent");
  EXPECT_EQ(Decide(c, e, DefaultPolicy(), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StateMachine, HoldsAndSignals) {
  v1::Case handed = CaseIn(v1::STAGE_LEGAL_ACTION);
  const absl::CivilDay d(2026, 11, 2);
  v1::CaseEvent dispute;
  dispute.mutable_signal()->mutable_dispute_opened()->set_reason("amount wrong");
  Transition t = Step(handed, dispute, d);
  EXPECT_TRUE(t.next.holds().dispute_open());
  ASSERT_TRUE(t.handoff.has_value());
  EXPECT_EQ(t.handoff->kind, v1::HANDOFF_KIND_DISPUTED);
  v1::CaseEvent resolved;
  resolved.mutable_signal()->mutable_dispute_resolved()->set_resolution("amount right");
  EXPECT_FALSE(Step(t.next, resolved, d).next.holds().dispute_open());

  v1::CaseEvent cease;
  cease.mutable_signal()->mutable_cease_contact()->set_reason("asked in writing");
  EXPECT_TRUE(Step(CaseIn(v1::STAGE_REMINDER), cease, d).next.holds().cease_contact());

  v1::CaseEvent dead;
  dead.mutable_signal()->mutable_deceased();
  t = Step(CaseIn(v1::STAGE_REMINDER), dead, d);
  EXPECT_TRUE(t.next.holds().deceased());
  EXPECT_TRUE(t.cancel_open_tasks);
  EXPECT_EQ(Types(t), std::multiset<v1::TaskType>{v1::TASK_TYPE_SUPERVISOR_REVIEW});

  v1::CaseEvent bankrupt;
  bankrupt.mutable_signal()->mutable_bankruptcy()->set_court_reference("(2026) 01");
  t = Step(CaseIn(v1::STAGE_COUNSELLING), bankrupt, d);
  EXPECT_TRUE(t.next.holds().bankruptcy());
  EXPECT_EQ(Types(t), std::multiset<v1::TaskType>{v1::TASK_TYPE_SUPERVISOR_REVIEW});

  // A note on a closed case is fine; anything else is not.
  v1::CaseEvent note;
  note.mutable_signal()->mutable_note()->set_text("called the branch");
  EXPECT_TRUE(Step(CaseIn(v1::STAGE_CLOSED), note, d).next.stage() == v1::STAGE_CLOSED);
  *cease.mutable_business_date() = DayToProto(d);
  cease.set_actor("test");
  EXPECT_EQ(Decide(CaseIn(v1::STAGE_CLOSED), cease, DefaultPolicy(), kNow).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::CaseEvent empty;
  empty.mutable_signal();
  *empty.mutable_business_date() = DayToProto(d);
  empty.set_actor("test");
  EXPECT_EQ(Decide(CaseIn(v1::STAGE_REMINDER), empty, DefaultPolicy(), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StateMachine, PlansSuspendAndResumeLegalAction) {
  const absl::CivilDay d(2026, 11, 2);
  v1::Case c = CaseIn(v1::STAGE_LEGAL_ACTION);
  c.mutable_overdue()->set_principal_fen(30'000 * CNY);
  c.set_days_past_due(120);
  *c.mutable_oldest_unpaid_due_date() = DayToProto(d - 119);
  v1::CaseEvent approved;
  approved.mutable_plan_approved()->set_plan_id(5);
  approved.mutable_plan_approved()->set_approver("sup1");
  *approved.mutable_plan_approved()->add_instalment_due_dates() = DayToProto(d + 10);
  *approved.mutable_plan_approved()->add_instalment_due_dates() = DayToProto(d + 40);
  Transition t = Step(c, approved, d);
  EXPECT_EQ(t.next.stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(t.next.active_plan_id(), 5);
  ASSERT_TRUE(t.handoff.has_value());
  EXPECT_EQ(t.handoff->kind, v1::HANDOFF_KIND_SUSPEND);
  // The welcome call and a reminder call before each instalment.
  EXPECT_EQ(Types(t), (std::multiset<v1::TaskType>{v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL,
                                                   v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL,
                                                   v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL}));
  ASSERT_EQ(t.set_timers.size(), 2u);
  EXPECT_EQ(t.set_timers[0].timer, (TimerRef{TimerKind::kInstalmentDue, 5001}));
  EXPECT_EQ(t.set_timers[0].due, d + 10 + 5 + 1);  // grace 5 days

  v1::CaseEvent waived;
  waived.mutable_penalty_waived()->set_plan_id(5);
  waived.mutable_penalty_waived()->set_amount_fen(50 * CNY);
  waived.mutable_penalty_waived()->set_approver("sup1");
  Transition w = Step(t.next, waived, d);
  EXPECT_EQ(w.next.waived_total_fen(), 50 * CNY);
  EXPECT_EQ(w.next.overdue().penalty_fen(), 50 * CNY);
  waived.mutable_penalty_waived()->set_amount_fen(51 * CNY);  // beyond the penalty left
  *waived.mutable_business_date() = DayToProto(d);
  waived.set_actor("test");
  EXPECT_EQ(Decide(w.next, waived, DefaultPolicy(), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  t = w;

  v1::CaseEvent broken;
  broken.mutable_plan_broken()->set_plan_id(5);
  broken.mutable_plan_broken()->set_instalment(1);
  broken.mutable_plan_broken()->set_instalment_count(2);
  Transition b = Step(t.next, broken, d + 30);
  EXPECT_EQ(b.next.stage(), v1::STAGE_LEGAL_ACTION);
  EXPECT_EQ(b.next.active_plan_id(), 0);
  EXPECT_EQ(b.clear_timers.size(), 2u);

  v1::CaseEvent completed;
  completed.mutable_plan_completed()->set_plan_id(5);
  completed.mutable_plan_completed()->set_kind(v1::PLAN_KIND_RESTRUCTURING);
  Transition done = Step(t.next, completed, d + 30);
  // 30,000.00 CNY is still overdue: not closed as restructured, but back to
  // legal action like a broken plan (severe, past the legal day).
  EXPECT_EQ(done.next.stage(), v1::STAGE_LEGAL_ACTION);
  EXPECT_EQ(done.next.close_reason(), v1::CLOSE_REASON_UNSPECIFIED);
  EXPECT_EQ(done.next.active_plan_id(), 0);
  // Nothing overdue: closed as restructured.
  v1::Case paid_up = t.next;
  paid_up.clear_overdue();
  done = Step(paid_up, completed, d + 30);
  EXPECT_EQ(done.next.stage(), v1::STAGE_CLOSED);
  EXPECT_EQ(done.next.close_reason(), v1::CLOSE_REASON_RESTRUCTURED);

  // A moderate case's broken plan returns it to counselling.
  v1::Case m = CaseIn(v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(Step(m, broken, d).next.stage(), v1::STAGE_COUNSELLING);
}

// --- Payments while a plan runs (issue 10) ----------------------------------

// The plan's approval as the plan service records it: `count` monthly
// instalments from d + 10, summing to `total`.
v1::CaseEvent Approved(int64_t plan_id, v1::PlanKind kind, int64_t total, int count,
                       absl::CivilDay d) {
  v1::CaseEvent e;
  v1::PlanApproved& a = *e.mutable_plan_approved();
  a.set_plan_id(plan_id);
  a.set_kind(kind);
  a.set_approver("sup1");
  a.set_total_fen(total);
  for (int i = 0; i < count; ++i) *a.add_instalment_due_dates() = DayToProto(d + 10 + 30 * i);
  return e;
}

struct PlanPaymentRow {
  std::string name;
  v1::PlanKind kind;
  int64_t plan_total;
  int instalments;
  std::vector<int64_t> payments;  // in order; the row checks the last
  v1::Stage want_stage;
  int64_t want_plan_fen;          // of the last payment
  int64_t want_allocated;         // of the last payment, summed
  int64_t want_unallocated;       // of the last payment
  int64_t want_overdue;           // the case's, after the last
  int64_t want_plan_outstanding;  // the case's, after the last
};

void PrintTo(const PlanPaymentRow& r, std::ostream* os) { *os << r.name; }

class PlanPaymentTable : public ::testing::TestWithParam<PlanPaymentRow> {};

// The first `k` instalments of a 12-month restructuring of 6,000.00 CNY at
// 2400 bp (what workflow::BuildPlan schedules): 620.00, 610.00, ...
std::vector<int64_t> Restructured(int k) {
  std::vector<int64_t> out;
  for (int i = 0; i < k; ++i) out.push_back((620 - 10 * i) * CNY);
  return out;
}

// A moderate case: 45 dpd, 6,000.00 CNY overdue (5,000 principal, 700
// interest, 300 penalty), 1,000,000.00 CNY principal outstanding. A plan
// holds the case in REPAYMENT_PLAN until every instalment is paid: a payment
// pays the plan and lowers the overdue amounts by as much, up to what is
// overdue; only the plan's completion (the PlanCompleted event the plan
// service appends) resolves it.
TEST_P(PlanPaymentTable, PaymentsPayThePlanAndTheCaseStaysInItUntilItCompletes) {
  const PlanPaymentRow& r = GetParam();
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c =
      Open(Record("L1", DayToProto(d), DayToProto(d - 45), 5000 * CNY, 700 * CNY, 300 * CNY));
  ASSERT_EQ(c.stage(), v1::STAGE_COUNSELLING);
  c = Step(c, Approved(5, r.kind, r.plan_total, r.instalments, d), d).next;
  ASSERT_EQ(c.stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(c.active_plan_outstanding_fen(), r.plan_total);
  Transition t;
  t.next = c;
  int n = 0;
  int64_t received = 0;
  for (int64_t amount : r.payments) {
    t = Step(t.next, Pay(absl::StrCat("P", n + 1), amount), d + 10 + 30 * n);
    ++n;
    received += amount;
  }
  const v1::Payment& p = t.event.payment();
  EXPECT_EQ(t.next.stage(), r.want_stage);
  EXPECT_EQ(p.plan_fen(), r.want_plan_fen);
  EXPECT_EQ(OverdueTotal(p.allocated()), r.want_allocated);
  EXPECT_EQ(p.unallocated_fen(), r.want_unallocated);
  EXPECT_EQ(OverdueTotal(t.next.overdue()), r.want_overdue);
  EXPECT_EQ(t.next.active_plan_outstanding_fen(), r.want_plan_outstanding);
  EXPECT_EQ(t.next.active_plan_id(), 5);
  EXPECT_EQ(t.next.paid_total_fen(), received);
  EXPECT_EQ(t.next.unallocated_fen(), r.want_unallocated);
  if (r.want_stage == v1::STAGE_REPAYMENT_PLAN) {
    EXPECT_FALSE(t.clear_all_timers);
    EXPECT_FALSE(t.cancel_open_tasks);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Plans, PlanPaymentTable,
    ::testing::Values(
        // 6,000.00 in 24 instalments of 250.00: the first one paid leaves
        // the case in its plan with 5,750.00 overdue.
        PlanPaymentRow{"termExtensionFirstInstalment",
                       v1::PLAN_KIND_TERM_EXTENSION,
                       6000 * CNY,
                       24,
                       {250 * CNY},
                       v1::STAGE_REPAYMENT_PLAN,
                       250 * CNY,
                       250 * CNY,
                       0,
                       5750 * CNY,
                       5750 * CNY},
        PlanPaymentRow{"termExtensionSecondInstalment",
                       v1::PLAN_KIND_TERM_EXTENSION,
                       6000 * CNY,
                       24,
                       {250 * CNY, 250 * CNY},
                       v1::STAGE_REPAYMENT_PLAN,
                       250 * CNY,
                       250 * CNY,
                       0,
                       5500 * CNY,
                       5500 * CNY},
        // Restructuring at 24% a year: 6,000.00 of arrears in 12 parts of
        // 500.00, each with a month's interest on what is still owed:
        // instalments 620.00, 610.00, ... 510.00 (6,780.00 in all). The
        // 11th (520.00) pays the last 250.00 of arrears; the case stays in
        // its plan, and the 12th (510.00, interest on the plan) lowers
        // nothing overdue.
        PlanPaymentRow{"restructuringEleventhPaysTheArrears", v1::PLAN_KIND_RESTRUCTURING,
                       6780 * CNY, 12, Restructured(11), v1::STAGE_REPAYMENT_PLAN, 520 * CNY,
                       250 * CNY, 0, 0, 510 * CNY},
        PlanPaymentRow{"restructuringTwelfth", v1::PLAN_KIND_RESTRUCTURING, 6780 * CNY, 12,
                       Restructured(12), v1::STAGE_REPAYMENT_PLAN, 510 * CNY, 0, 0, 0, 0},
        // More than the plan owes: the plan first, then nothing overdue is
        // left, so the rest is unallocated.
        PlanPaymentRow{"beyondThePlan",
                       v1::PLAN_KIND_CATCH_UP,
                       6000 * CNY,
                       3,
                       {7000 * CNY},
                       v1::STAGE_REPAYMENT_PLAN,
                       6000 * CNY,
                       6000 * CNY,
                       1000 * CNY,
                       0,
                       0},
        // A plan that covers less than is overdue (a waiver, or arrears that
        // grew since): beyond the plan, the payment pays the overdue rest.
        PlanPaymentRow{"planThenArrears",
                       v1::PLAN_KIND_CATCH_UP,
                       5000 * CNY,
                       2,
                       {5500 * CNY},
                       v1::STAGE_REPAYMENT_PLAN,
                       5000 * CNY,
                       5500 * CNY,
                       0,
                       500 * CNY,
                       0}),
    [](const auto& info) { return info.param.name; });

TEST(StateMachine, OnlyThePlansCompletionEndsIt) {
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c =
      Open(Record("L1", DayToProto(d), DayToProto(d - 45), 5000 * CNY, 700 * CNY, 300 * CNY));
  c = Step(c, Approved(5, v1::PLAN_KIND_RESTRUCTURING, 6780 * CNY, 12, d), d).next;
  // Core banking books the restructuring and reports nothing overdue: the
  // plan still runs.
  v1::CaseEvent nothing_overdue;
  *nothing_overdue.mutable_imported() = Record("L1", DayToProto(d + 1), DayToProto(d + 1), 0);
  Transition t = Step(c, nothing_overdue, d + 1);
  EXPECT_EQ(t.next.stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(t.next.active_plan_outstanding_fen(), 6780 * CNY);
  // Paid in full: still in the plan until PlanCompleted.
  t = Step(t.next, Pay("ALL", 6780 * CNY), d + 2);
  EXPECT_EQ(t.next.stage(), v1::STAGE_REPAYMENT_PLAN);
  EXPECT_EQ(t.event.payment().plan_fen(), 6780 * CNY);
  EXPECT_EQ(t.event.payment().unallocated_fen(), 0);
  EXPECT_NE(t.event.summary().find("6,780.00 CNY to plan 5, now paid in full"), std::string::npos)
      << t.event.summary();
  v1::CaseEvent completed;
  completed.mutable_plan_completed()->set_plan_id(5);
  completed.mutable_plan_completed()->set_kind(v1::PLAN_KIND_RESTRUCTURING);
  t = Step(t.next, completed, d + 2);
  EXPECT_EQ(t.next.stage(), v1::STAGE_CLOSED);
  EXPECT_EQ(t.next.close_reason(), v1::CLOSE_REASON_RESTRUCTURED);
  EXPECT_EQ(t.next.active_plan_id(), 0);
  EXPECT_EQ(t.next.active_plan_outstanding_fen(), 0);

  // A broken plan forgets what it still owed.
  v1::Case b = Open(Record("L2", DayToProto(d), DayToProto(d - 45), 6000 * CNY));
  b = Step(b, Approved(6, v1::PLAN_KIND_CATCH_UP, 6000 * CNY, 3, d), d).next;
  b = Step(b, Pay("B1", 2000 * CNY), d + 10).next;
  v1::CaseEvent broken;
  broken.mutable_plan_broken()->set_plan_id(6);
  broken.mutable_plan_broken()->set_instalment(2);
  broken.mutable_plan_broken()->set_instalment_count(3);
  t = Step(b, broken, d + 40);
  EXPECT_EQ(t.next.stage(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(t.next.active_plan_outstanding_fen(), 0);
  EXPECT_EQ(OverdueTotal(t.next.overdue()), 4000 * CNY);
}

struct PlanCompletionRow {
  std::string name;
  v1::PlanKind kind;
  // An import while the plan runs (after the second instalment, on d + 65):
  // what core banking reports overdue then and its oldest unpaid due date
  // (days from d); no import when 0.
  int64_t imported_overdue;
  int oldest_due_from_d;
  v1::Stage want_stage;
  v1::CloseReason want_reason;
  int64_t want_overdue;  // after the last instalment
  std::string want_said;
};

void PrintTo(const PlanCompletionRow& r, std::ostream* os) { *os << r.name; }

class PlanCompletionTable : public ::testing::TestWithParam<PlanCompletionRow> {};

// A moderate case (45 dpd, 6,000.00 CNY overdue) in a plan of 6,000.00 in
// three instalments of 2,000.00 (d + 10, d + 40, d + 70). When the last is
// paid, the plan is complete; the case is cured (or closed as restructured)
// only when nothing is overdue. New arrears that core banking reported while
// the plan ran send it, not cured, where its classification now calls for,
// as a broken plan would: legal action for a severe case past the legal
// day, counselling otherwise (never back to reminders).
TEST_P(PlanCompletionTable, CuresOnlyWhenNothingIsOverdue) {
  const PlanCompletionRow& r = GetParam();
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c =
      Open(Record("L1", DayToProto(d), DayToProto(d - 45), 5000 * CNY, 700 * CNY, 300 * CNY));
  c = Step(c, Approved(5, r.kind, 6000 * CNY, 3, d), d).next;
  c = Step(c, Pay("P1", 2000 * CNY), d + 10).next;
  c = Step(c, Pay("P2", 2000 * CNY), d + 40).next;
  if (r.imported_overdue > 0) {
    v1::CaseEvent imported;
    *imported.mutable_imported() =
        Record("L1", DayToProto(d + 65), DayToProto(d + r.oldest_due_from_d), r.imported_overdue);
    c = Step(c, imported, d + 65).next;
    ASSERT_EQ(c.stage(), v1::STAGE_REPAYMENT_PLAN);
  }
  Transition paid = Step(c, Pay("P3", 2000 * CNY), d + 70);
  ASSERT_EQ(paid.next.stage(), v1::STAGE_REPAYMENT_PLAN);
  ASSERT_EQ(paid.next.active_plan_outstanding_fen(), 0);
  v1::CaseEvent completed;
  completed.set_actor("system:plans");
  completed.mutable_plan_completed()->set_plan_id(5);
  completed.mutable_plan_completed()->set_kind(r.kind);
  Transition t = Step(paid.next, completed, d + 70);
  EXPECT_EQ(t.next.stage(), r.want_stage);
  EXPECT_EQ(t.next.close_reason(), r.want_reason);
  EXPECT_EQ(OverdueTotal(t.next.overdue()), r.want_overdue);
  EXPECT_EQ(t.next.active_plan_id(), 0);
  EXPECT_EQ(t.next.active_plan_outstanding_fen(), 0);
  EXPECT_EQ(t.event.stage_after(), r.want_stage);
  EXPECT_NE(t.event.summary().find("plan 5 completed: every instalment paid"), std::string::npos)
      << t.event.summary();
  EXPECT_NE(t.event.summary().find(r.want_said), std::string::npos) << t.event.summary();
  if (IsOpenStage(r.want_stage)) {
    // Work for the stage it entered; its promise timers stay.
    EXPECT_TRUE(t.cancel_open_tasks);
    EXPECT_FALSE(t.create_tasks.empty());
    EXPECT_FALSE(t.clear_all_timers);
    EXPECT_EQ(t.next.days_past_due(), (d + 70) - (d + r.oldest_due_from_d));
  }
  if (r.want_stage == v1::STAGE_COUNSELLING) {
    EXPECT_TRUE(t.next_aging_day.has_value());  // aging may still escalate it
  }
  if (r.want_stage == v1::STAGE_LEGAL_ACTION) {
    // Past the legal day, but counsel gets it only after the visit and the
    // letter, as for any case entering legal action.
    EXPECT_EQ(t.next.legal().phase(), v1::LEGAL_PHASE_ELIGIBLE);
    EXPECT_FALSE(t.handoff.has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Plans, PlanCompletionTable,
    ::testing::Values(
        PlanCompletionRow{"catchUpNothingOverdue", v1::PLAN_KIND_CATCH_UP, 0, 0, v1::STAGE_RESOLVED,
                          v1::CLOSE_REASON_CURED, 0,
                          "STAGE_REPAYMENT_PLAN -> STAGE_RESOLVED (CLOSE_REASON_CURED)"},
        PlanCompletionRow{"restructuringNothingOverdue", v1::PLAN_KIND_RESTRUCTURING, 0, 0,
                          v1::STAGE_CLOSED, v1::CLOSE_REASON_RESTRUCTURED, 0,
                          "STAGE_REPAYMENT_PLAN -> STAGE_CLOSED (CLOSE_REASON_RESTRUCTURED)"},
        // 2,000.00 of the plan's arrears and 1,500.00 new, 30 days past due
        // on d + 65: 1,500.00 is left, 35 days past due: moderate.
        PlanCompletionRow{"catchUpNewArrears", v1::PLAN_KIND_CATCH_UP, 3500 * CNY, 35,
                          v1::STAGE_COUNSELLING, v1::CLOSE_REASON_UNSPECIFIED, 1500 * CNY,
                          "1,500.00 CNY still overdue beyond the plan: not cured"},
        PlanCompletionRow{"termExtensionNewArrears", v1::PLAN_KIND_TERM_EXTENSION, 3500 * CNY, 35,
                          v1::STAGE_COUNSELLING, v1::CLOSE_REASON_UNSPECIFIED, 1500 * CNY,
                          "STAGE_REPAYMENT_PLAN -> STAGE_COUNSELLING"},
        // A restructuring's completion does not close the case as
        // restructured while something is overdue.
        PlanCompletionRow{"restructuringNewArrears", v1::PLAN_KIND_RESTRUCTURING, 3500 * CNY, 35,
                          v1::STAGE_COUNSELLING, v1::CLOSE_REASON_UNSPECIFIED, 1500 * CNY,
                          "not cured nor closed as restructured"},
        // Mild arrears (100.00, 10 days) still go to counselling, as after
        // a broken plan: stages never move back.
        PlanCompletionRow{"mildNewArrears", v1::PLAN_KIND_CATCH_UP, 2100 * CNY, 60,
                          v1::STAGE_COUNSELLING, v1::CLOSE_REASON_UNSPECIFIED, 100 * CNY,
                          "re-classified: "},
        // Severe (25,000.00, 115 days past due): legal action, anew.
        PlanCompletionRow{"severeNewArrears", v1::PLAN_KIND_CATCH_UP, 27'000 * CNY, -45,
                          v1::STAGE_LEGAL_ACTION, v1::CLOSE_REASON_UNSPECIFIED, 25'000 * CNY,
                          "STAGE_REPAYMENT_PLAN -> STAGE_LEGAL_ACTION"}),
    [](const auto& info) { return info.param.name; });

TEST(StateMachine, ReplayRebuildsACaseThroughItsPlan) {
  const absl::CivilDay d(2026, 9, 1);
  std::vector<v1::CaseEvent> log;
  v1::Case c;
  absl::Time now = kNow;
  auto apply = [&](v1::CaseEvent e, absl::CivilDay day) {
    *e.mutable_business_date() = DayToProto(day);
    e.set_actor("test");
    now += absl::Minutes(7);
    auto t = Decide(c, e, DefaultPolicy(), now);
    ASSERT_TRUE(t.ok()) << t.status();
    c = t->next;
    log.push_back(t->event);
  };
  v1::CaseEvent open;
  open.set_case_id(11);
  *open.mutable_imported() =
      Record("L1", DayToProto(d), DayToProto(d - 45), 5000 * CNY, 700 * CNY, 300 * CNY);
  apply(open, d);
  apply(Approved(5, v1::PLAN_KIND_RESTRUCTURING, 6780 * CNY, 12, d), d);
  int i = 0;
  for (int64_t amount : Restructured(12)) {
    apply(Pay(absl::StrCat("P", i), amount), d + 10 + 30 * i);
    ++i;
  }
  ASSERT_EQ(c.stage(), v1::STAGE_REPAYMENT_PLAN);
  v1::CaseEvent completed;
  completed.mutable_plan_completed()->set_plan_id(5);
  completed.mutable_plan_completed()->set_kind(v1::PLAN_KIND_RESTRUCTURING);
  apply(completed, d + 340);
  apply(Pay("LATE", 100 * CNY), d + 341);
  ASSERT_EQ(c.stage(), v1::STAGE_CLOSED);

  auto rebuilt = Replay(log, [](int64_t v) { return v == 0 ? &DefaultPolicy() : nullptr; });
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(*rebuilt, c)) << diff;
}

TEST(StateMachine, LegalMilestonesRecoverAndConclude) {
  const absl::CivilDay d(2026, 11, 2);
  v1::Case c = CaseIn(v1::STAGE_LEGAL_ACTION);
  v1::CaseEvent recovered;
  recovered.mutable_legal_milestone()->set_kind(v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED);
  recovered.mutable_legal_milestone()->set_amount_fen(1000 * CNY);
  Transition t = Step(c, recovered, d);
  EXPECT_EQ(t.next.legal().recovered_fen(), 1000 * CNY);
  EXPECT_EQ(OverdueTotal(t.next.overdue()), 2600 * CNY);
  v1::CaseEvent concluded;
  concluded.mutable_legal_milestone()->set_kind(v1::LEGAL_MILESTONE_KIND_CONCLUDED);
  concluded.mutable_legal_milestone()->set_conclusion("partial");
  Transition x = Step(t.next, concluded, d + 1);
  EXPECT_EQ(x.next.stage(), v1::STAGE_CLOSED);
  EXPECT_EQ(x.next.close_reason(), v1::CLOSE_REASON_LEGAL_CONCLUDED);
  EXPECT_FALSE(x.handoff.has_value());  // counsel concluded it: nothing to withdraw

  v1::CaseEvent off;
  off.mutable_written_off()->set_reason("uncollectable");
  Transition w = Step(c, off, d);
  EXPECT_EQ(w.next.close_reason(), v1::CLOSE_REASON_WRITTEN_OFF);
  ASSERT_TRUE(w.handoff.has_value());
  EXPECT_EQ(w.handoff->kind, v1::HANDOFF_KIND_WITHDRAW);
}

struct LegalRecoveryRow {
  std::string name;
  int64_t amount;
  int64_t want_recovered;    // what it paid of the overdue amounts
  int64_t want_unallocated;  // the excess, held like an overpayment
};

void PrintTo(const LegalRecoveryRow& r, std::ostream* os) { *os << r.name; }

class LegalRecoveryTable : public ::testing::TestWithParam<LegalRecoveryRow> {};

// Counsel reports money recovered. It pays the overdue amounts (3,600.00:
// penalty, interest, principal); what is beyond them is never dropped: it is
// held as unallocated exactly like an overpayment, and everything received
// counts in paid_total_fen.
TEST_P(LegalRecoveryTable, PaysTheOverdueAmountsAndHoldsTheExcess) {
  const LegalRecoveryRow& r = GetParam();
  v1::Case c = CaseIn(v1::STAGE_LEGAL_ACTION);
  c.set_paid_total_fen(200 * CNY);
  c.set_unallocated_fen(10 * CNY);
  c.mutable_legal()->set_recovered_fen(50 * CNY);
  v1::CaseEvent e;
  e.mutable_legal_milestone()->set_kind(v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED);
  e.mutable_legal_milestone()->set_amount_fen(r.amount);
  e.mutable_legal_milestone()->set_unallocated_fen(999);  // counsel's figure is ignored
  Transition t = Step(c, e, absl::CivilDay(2026, 11, 2));
  EXPECT_EQ(t.event.legal_milestone().amount_fen(), r.amount);
  EXPECT_EQ(t.event.legal_milestone().unallocated_fen(), r.want_unallocated);
  EXPECT_EQ(t.next.legal().recovered_fen(), 50 * CNY + r.want_recovered);
  EXPECT_EQ(OverdueTotal(t.next.overdue()), 3600 * CNY - r.want_recovered);
  EXPECT_EQ(t.next.paid_total_fen(), 200 * CNY + r.amount);
  EXPECT_EQ(t.next.unallocated_fen(), 10 * CNY + r.want_unallocated);
  EXPECT_EQ(t.next.stage(), v1::STAGE_LEGAL_ACTION);  // counsel concludes it
  EXPECT_EQ(t.event.summary().find(
                "beyond what is overdue: held as unallocated for core banking to refund or "
                "apply") != std::string::npos,
            r.want_unallocated > 0)
      << t.event.summary();
}

INSTANTIATE_TEST_SUITE_P(
    Amounts, LegalRecoveryTable,
    ::testing::Values(LegalRecoveryRow{"partial", 1000 * CNY, 1000 * CNY, 0},
                      LegalRecoveryRow{"exact", 3600 * CNY, 3600 * CNY, 0},
                      LegalRecoveryRow{"beyondTheOverdue", 5000 * CNY, 3600 * CNY, 1400 * CNY},
                      LegalRecoveryRow{"oneFenBeyond", 3600 * CNY + 1, 3600 * CNY, 1}),
    [](const auto& info) { return info.param.name; });

TEST(StateMachine, MigrationReclassifiesUnderTheNewPolicy) {
  const absl::CivilDay d(2026, 11, 1);
  v1::Case c = Open(Record("L1", DayToProto(d), DayToProto(d - 20), 1000 * CNY));
  v1::Policy stricter = DefaultPolicy();
  stricter.set_version(1);
  stricter.mutable_day_bands()->set_mild_max_days(15);
  v1::CaseEvent e = Event(DayToProto(d), "admin");
  e.mutable_policy_migrated()->set_from_version(0);
  e.mutable_policy_migrated()->set_to_version(1);
  auto t = Decide(c, e, stricter, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->next.policy_version(), 1);
  EXPECT_EQ(t->next.stage(), v1::STAGE_COUNSELLING);
  // Other events must come with the case's own policy version.
  v1::CaseEvent aged = Event(DayToProto(d + 1), "system:aging");
  aged.mutable_aged();
  EXPECT_EQ(Decide(c, aged, stricter, kNow).status().code(), absl::StatusCode::kFailedPrecondition);
}

// The assignment at opening records the arm and keeps the version; a
// roll-back moves the case to the champion's version, older than its own,
// re-classified under it.
TEST(StateMachine, ExperimentAssignmentRecordsTheArmAndRollBackMovesTheVersion) {
  const absl::CivilDay d(2026, 11, 1);
  v1::Policy challenger = DefaultPolicy();
  challenger.set_version(2);
  challenger.mutable_day_bands()->set_mild_max_days(15);
  v1::Case c = Open(Record("L1", DayToProto(d), DayToProto(d - 20), 1000 * CNY));
  c.set_policy_version(2);
  v1::CaseEvent assign = Event(DayToProto(d), "system:experiment");
  assign.mutable_experiment_assigned()->set_experiment_id(4);
  assign.mutable_experiment_assigned()->set_arm("challenger-1");
  assign.mutable_experiment_assigned()->set_from_version(2);
  assign.mutable_experiment_assigned()->set_to_version(2);
  auto t = Decide(c, assign, challenger, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->next.experiment_id(), 4);
  EXPECT_EQ(t->next.experiment_arm(), "challenger-1");
  EXPECT_EQ(t->next.policy_version(), 2);
  EXPECT_EQ(t->event.summary(), "experiment 4 arm challenger-1");

  v1::Policy champion = DefaultPolicy();
  champion.set_version(1);
  v1::CaseEvent back = Event(DayToProto(d), "admin");
  back.mutable_experiment_assigned()->set_experiment_id(4);
  back.mutable_experiment_assigned()->set_arm("champion");
  back.mutable_experiment_assigned()->set_from_version(2);
  back.mutable_experiment_assigned()->set_to_version(1);
  auto rolled = Decide(t->next, back, champion, kNow);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  EXPECT_EQ(rolled->next.policy_version(), 1);
  EXPECT_EQ(rolled->next.experiment_arm(), "champion");
  EXPECT_EQ(rolled->event.policy_version(), 1);
  // A stale from_version (the case moved meanwhile) is refused.
  EXPECT_EQ(Decide(rolled->next, back, champion, kNow).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(StateMachine, ReplayRebuildsTheCase) {
  const absl::CivilDay d(2026, 9, 1);
  std::vector<v1::CaseEvent> log;
  v1::Case c;
  absl::Time now = kNow;
  auto apply = [&](v1::CaseEvent e, absl::CivilDay day) {
    *e.mutable_business_date() = DayToProto(day);
    e.set_actor("test");
    now += absl::Minutes(7);
    auto t = Decide(c, e, DefaultPolicy(), now);
    ASSERT_TRUE(t.ok()) << t.status();
    c = t->next;
    log.push_back(t->event);
  };
  v1::CaseEvent open;
  open.set_case_id(3'000'000'001);
  *open.mutable_imported() = Record("L1", DayToProto(d), DayToProto(d - 25), 4000 * CNY, 300, 20);
  apply(open, d);
  for (int i = 1; i <= 70; ++i) apply(Aged(), d + i);
  apply(Pay("P1", 1000), d + 70);
  v1::CaseEvent note;
  note.mutable_signal()->mutable_note()->set_text("n");
  apply(note, d + 70);
  ASSERT_EQ(c.stage(), v1::STAGE_LEGAL_ACTION);

  auto rebuilt = Replay(log, [](int64_t v) { return v == 0 ? &DefaultPolicy() : nullptr; });
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(*rebuilt, c)) << diff;
}

TEST(StateMachine, FirmsByPolicyAndARefusalGoesToASupervisorThenAnotherFirm) {
  const absl::CivilDay d0(2026, 8, 1);
  v1::DelinquencyRecord r = Record("L1", DayToProto(d0), DayToProto(d0 - 100), 30'000 * CNY);
  r.mutable_borrower()->set_region("SH");
  v1::Case c = Open(r);
  EXPECT_EQ(AssignFirm(c, DefaultPolicy()), "firm-shanghai");
  v1::TaskOutcome visit;
  visit.mutable_visit()->set_result(v1::VISIT_RESULT_MET);
  c = Step(c, Done(v1::TASK_TYPE_HOME_VISIT, visit), d0).next;
  v1::TaskOutcome letter;
  letter.mutable_letter()->set_sent(true);
  letter.mutable_letter()->set_reference("R");
  c = Step(c, Done(v1::TASK_TYPE_LEGAL_LETTER, letter), d0).next;
  Transition t = Step(c, Aged(), d0 + 15);
  ASSERT_TRUE(t.handoff.has_value());
  EXPECT_EQ(t.handoff->firm_id, "firm-shanghai");
  EXPECT_EQ(t.next.legal().firm_id(), "firm-shanghai");

  // Another firm's milestone is refused; the firm's own refusal is taken.
  v1::CaseEvent wrong;
  wrong.mutable_legal_milestone()->set_kind(v1::LEGAL_MILESTONE_KIND_ACCEPTED);
  wrong.mutable_legal_milestone()->set_firm_id("firm-national");
  *wrong.mutable_business_date() = DayToProto(d0 + 16);
  wrong.set_actor("legal");
  EXPECT_EQ(Decide(t.next, wrong, DefaultPolicy(), kNow).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::CaseEvent refused;
  refused.mutable_legal_milestone()->set_kind(v1::LEGAL_MILESTONE_KIND_REFUSED);
  refused.mutable_legal_milestone()->set_firm_id("firm-shanghai");
  Transition back = Step(t.next, refused, d0 + 16);
  EXPECT_EQ(back.next.legal().phase(), v1::LEGAL_PHASE_ELIGIBLE);
  EXPECT_TRUE(back.next.legal().awaiting_review());
  EXPECT_FALSE(back.handoff.has_value());
  EXPECT_EQ(Types(back), std::multiset<v1::TaskType>{v1::TASK_TYPE_SUPERVISOR_REVIEW});
  // Aging does not send it anywhere while the supervisor has it ...
  EXPECT_FALSE(Step(back.next, Aged(), d0 + 17).handoff.has_value());
  // ... and after the review it goes to the next firm.
  v1::TaskOutcome review;
  review.mutable_review()->set_decision("send to the national firm");
  Transition again = Step(back.next, Done(v1::TASK_TYPE_SUPERVISOR_REVIEW, review), d0 + 17);
  ASSERT_TRUE(again.handoff.has_value());
  EXPECT_EQ(again.handoff->firm_id, "firm-national");
}

// Aging only on next_aging_day must end where aging every day ends: the
// skipped days are the ones on which nothing could change.
TEST(StateMachine, AgingOnlyOnNextAgingDayMatchesDailyAging) {
  const absl::CivilDay d0(2026, 6, 1);
  struct Start {
    int dpd;
    int64_t fen;
    bool visit_and_letter;
  };
  for (const Start& s : std::vector<Start>{{0, 100 * CNY, false},
                                           {12, 1000 * CNY, false},
                                           {29, 6000 * CNY, false},
                                           {5, 30'000 * CNY, true},
                                           {70, 30'000 * CNY, true},
                                           {95, 900 * CNY, true}}) {
    v1::Case open = Open(Record("L1", DayToProto(d0), DayToProto(d0 - s.dpd), s.fen));
    if (s.visit_and_letter) {
      v1::TaskOutcome visit;
      visit.mutable_visit()->set_result(v1::VISIT_RESULT_MET);
      open = Step(open, Done(v1::TASK_TYPE_HOME_VISIT, visit), d0).next;
      v1::TaskOutcome letter;
      letter.mutable_letter()->set_sent(true);
      letter.mutable_letter()->set_reference("R");
      open = Step(open, Done(v1::TASK_TYPE_LEGAL_LETTER, letter), d0).next;
    }
    v1::Case daily = open, sparse = open;
    int handoffs_daily = 0, handoffs_sparse = 0, sparse_events = 0;
    std::optional<absl::CivilDay> next = NextAgingDay(sparse, DefaultPolicy());
    for (absl::CivilDay day = d0 + 1; day <= d0 + 150; ++day) {
      Transition t = Step(daily, Aged(), day);
      handoffs_daily += t.handoff.has_value();
      daily = t.next;
      if (next && *next == day) {
        Transition u = Step(sparse, Aged(), day);
        handoffs_sparse += u.handoff.has_value();
        sparse = u.next;
        next = u.next_aging_day;
        ++sparse_events;
      }
      ASSERT_TRUE(!next || *next > day);
      EXPECT_EQ(sparse.stage(), daily.stage()) << s.dpd << " day " << FormatDay(day);
      EXPECT_EQ(sparse.classification().case_class(), daily.classification().case_class());
      EXPECT_EQ(sparse.legal().phase(), daily.legal().phase());
      EXPECT_EQ(DaysPastDueOn(sparse, day), daily.days_past_due());
    }
    EXPECT_EQ(handoffs_sparse, handoffs_daily);
    EXPECT_LE(sparse_events, 4) << "aging should visit a case only at its edges";
  }
}

}  // namespace
}  // namespace collections::workflow
