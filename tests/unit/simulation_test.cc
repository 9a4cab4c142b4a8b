// The what-if simulation's steps as tables: one case under behaviour that
// is certain (rates of 0 or 1,000,000 ppm), what each day then shows; the
// draws; handling times; and that a seed fixes the output byte for byte,
// however the book is split.
#include "workflow/simulation.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/state_machine.h"

namespace collections::workflow {
namespace {

constexpr int64_t CNY = 100;
const absl::CivilDay kStart(2026, 11, 29);

absl::TimeZone Shanghai() {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone("Asia/Shanghai", &tz));
  return tz;
}

SimulationOptions Options(int days, uint64_t seed = 1) {
  SimulationOptions o;
  o.start = kStart;
  o.days = days;
  o.seed = seed;
  o.zone = Shanghai();
  o.start_time = absl::FromCivil(absl::CivilSecond(2026, 11, 29, 9, 0, 0), o.zone);
  return o;
}

// A case opened on kStart at `dpd` days past due with `overdue` owed, as
// the importer opens it, with the tasks its stage created as open tasks.
struct Opened {
  v1::Case c;
  std::vector<OpenTask> tasks;
};
Opened Open(int64_t case_id, int dpd, int64_t overdue, const v1::Policy& policy = DefaultPolicy()) {
  v1::DelinquencyRecord r;
  r.set_loan_id(absl::StrCat("L", case_id));
  *r.mutable_as_of() = DayToProto(kStart);
  *r.mutable_oldest_unpaid_due_date() = DayToProto(kStart - dpd);
  r.mutable_borrower()->set_borrower_id(absl::StrCat("B", case_id));
  r.mutable_borrower()->add_phones("+86 138 0000 0000");
  r.mutable_borrower()->set_region("ZJ");
  r.set_product("mortgage");
  r.set_principal_outstanding_fen(800'000 * CNY);
  r.mutable_overdue()->set_principal_fen(overdue);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  v1::CaseEvent e;
  *e.mutable_business_date() = DayToProto(kStart);
  e.set_actor("ingest");
  e.set_case_id(case_id);
  *e.mutable_imported() = r;
  auto t = Decide(v1::Case(), e, policy, Options(1).start_time);
  EXPECT_TRUE(t.ok()) << t.status();
  Opened out{t->next, {}};
  for (const TaskSpec& spec : t->create_tasks) {
    out.tasks.push_back({spec.type, spec.queue, spec.not_before});
  }
  return out;
}

BehaviourRates Certain(int32_t reached, int32_t promise, int32_t kept, int32_t plan,
                       int32_t plan_break, int32_t cure) {
  BehaviourRates r;
  r.reached_ppm = reached;
  r.promise_ppm = promise;
  r.promise_kept_ppm = kept;
  r.plan_ppm = plan;
  r.plan_break_ppm = plan_break;
  r.cure_ppm = cure;
  return r;
}

constexpr int32_t M = kMillion;

// Sums over the simulated days.
struct Totals {
  std::map<std::string, int64_t> created;  // by queue
  int64_t entered_legal = 0, handoffs = 0, cured = 0, plans_agreed = 0, plans_broken = 0,
          recovered_fen = 0, deferred = 0;
  int first_cured_day = 0, first_handoff_day = 0, plan_broken_day = 0;
};
Totals Sum(const Simulation& sim) {
  Totals t;
  for (size_t i = 0; i < sim.days().size(); ++i) {
    const SimulatedDay& d = sim.days()[i];
    for (const auto& [queue, q] : d.queues) t.created[queue] += q.tasks_created;
    t.entered_legal += d.entered_legal;
    t.handoffs += d.handoffs;
    if (d.cured > 0 && t.first_cured_day == 0) t.first_cured_day = static_cast<int>(i) + 1;
    if (d.handoffs > 0 && t.first_handoff_day == 0) t.first_handoff_day = static_cast<int>(i) + 1;
    if (d.plans_broken > 0 && t.plan_broken_day == 0) t.plan_broken_day = static_cast<int>(i) + 1;
    t.cured += d.cured;
    t.plans_agreed += d.plans_agreed;
    t.plans_broken += d.plans_broken;
    t.recovered_fen += d.recovered_fen;
    t.deferred += d.deferred_by_caps;
  }
  return t;
}

struct Step {
  std::string name;
  int dpd;
  int64_t overdue_fen;
  BehaviourRates rates;
  int days;
  // Expected:
  std::map<std::string, int64_t> created;
  int64_t entered_legal, handoffs, cured, plans_agreed, plans_broken, recovered_fen;
  int first_cured_day, first_handoff_day, plan_broken_day;
};

TEST(SimulationTest, StepsOfOneCaseUnderCertainBehaviour) {
  const std::vector<Step> steps = {
      // Nobody answers, nobody pays: the reminder call is retried three
      // times a day apart; on day 21 (31 days past due) the case moves to
      // counselling, whose call is retried three times too.
      {"silent mild case",
       10,
       1000 * CNY,
       Certain(0, 0, 0, 0, 0, 0),
       30,
       {{"call.early", 3}, {"call.counselling", 4}},
       0,
       0,
       0,
       0,
       0,
       0,
       0,
       0,
       0},
      // Pays everything on the first day, unprompted.
      {"cured at once",
       10,
       1000 * CNY,
       Certain(0, 0, 0, 0, 0, M),
       30,
       {},
       0,
       0,
       1,
       0,
       0,
       1000 * CNY,
       1,
       0,
       0},
      // Reached on the first call (day 1), promises to pay in 7 days, pays.
      {"promise kept",
       10,
       1000 * CNY,
       Certain(M, M, M, 0, 0, 0),
       30,
       {},
       0,
       0,
       1,
       0,
       0,
       1000 * CNY,
       8,
       0,
       0},
      // A promise that is not kept: broken one grace day after its date;
      // the follow-up call reaches and promises again...
      {"promises broken",
       10,
       1000 * CNY,
       Certain(M, M, 0, 0, 0, 0),
       20,
       {{"call.early", 1}, {"call.counselling", 1}},
       0,
       0,
       0,
       0,
       0,
       0,
       0,
       0,
       0},
      // Counselling: a plan of three monthly instalments, all paid, then
      // completed: cured on day 91.
      {"plan kept",
       40,
       8000 * CNY,
       Certain(M, 0, 0, M, 0, 0),
       95,
       {{"call.plan", 4}},
       0,
       0,
       1,
       1,
       0,
       8000 * CNY,
       91,
       0,
       0},
      // The first instalment is missed: the plan breaks 5 grace days + 1
      // after it fell due (day 37), back to counselling, whose call that
      // day agrees a new plan.
      {"plan broken",
       40,
       8000 * CNY,
       Certain(M, 0, 0, M, M, 0),
       40,
       {{"call.plan", 8}, {"call.counselling", 1}},
       0,
       0,
       0,
       2,
       1,
       0,
       0,
       0,
       37},
      // Severe and past the legal day: visit and letter on day 1, handed to
      // the firm once the letter's 15 days have passed.
      {"severe to the firm",
       95,
       30000 * CNY,
       Certain(0, 0, 0, 0, 0, 0),
       20,
       {},
       0,
       1,
       0,
       0,
       0,
       0,
       0,
       16,
       0},
      // A mild case crossing 90 days past due moves to legal action.
      {"moderate into legal",
       85,
       3000 * CNY,
       Certain(0, 0, 0, 0, 0, 0),
       10,
       {{"field", 1}, {"letters", 1}},
       1,
       0,
       0,
       0,
       0,
       0,
       0,
       0,
       0},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    Opened o = Open(7, step.dpd, step.overdue_fen);
    Simulation sim(DefaultPolicy(), BookRates(step.rates), Options(step.days));
    ASSERT_TRUE(sim.AddCase(o.c, o.tasks).ok());
    const Totals t = Sum(sim);
    for (const auto& [queue, n] : step.created) {
      EXPECT_EQ(t.created.count(queue) ? t.created.at(queue) : 0, n) << queue;
    }
    EXPECT_EQ(t.entered_legal, step.entered_legal);
    EXPECT_EQ(t.handoffs, step.handoffs);
    EXPECT_EQ(t.cured, step.cured);
    EXPECT_EQ(t.plans_agreed, step.plans_agreed);
    EXPECT_EQ(t.plans_broken, step.plans_broken);
    EXPECT_EQ(t.recovered_fen, step.recovered_fen);
    EXPECT_EQ(t.first_cured_day, step.first_cured_day);
    EXPECT_EQ(t.first_handoff_day, step.first_handoff_day);
    EXPECT_EQ(t.plan_broken_day, step.plan_broken_day);
  }
}

TEST(SimulationTest, CallCapsDeferCallsToTheNextDay) {
  v1::Policy policy = DefaultPolicy();
  policy.mutable_contact()->set_max_call_attempts_per_day(1);
  Opened o = Open(7, 10, 1000 * CNY, policy);
  // Two calls due on day 1: one is made, one waits a day.
  o.tasks.push_back({v1::TASK_TYPE_REMINDER_CALL, "call.early", o.tasks.back().not_before});
  Simulation sim(policy, BookRates(Certain(0, 0, 0, 0, 0, 0)), Options(3));
  ASSERT_TRUE(sim.AddCase(o.c, o.tasks).ok());
  EXPECT_GE(sim.days()[0].deferred_by_caps, 1);
  EXPECT_EQ(sim.days()[0].max_contacts_per_borrower, 2);  // the SMS and one call
  EXPECT_EQ(sim.days()[0].queues.at("call.early").tasks_worked, 1);
}

TEST(SimulationTest, TasksFollowTheBusinessCalendar) {
  // A case reaching 31 days past due on day 21 creates its counselling
  // call that day: the task's day is the business day, whatever the clock.
  Opened o = Open(7, 10, 1000 * CNY);
  Simulation sim(DefaultPolicy(), BookRates(Certain(M, 0, 0, 0, 0, 0)), Options(25));
  ASSERT_TRUE(sim.AddCase(o.c, o.tasks).ok());
  EXPECT_EQ(sim.days()[20].queues.at("call.counselling").tasks_created, 1);
  EXPECT_EQ(sim.days()[20].queues.at("call.counselling").tasks_worked, 1);
}

TEST(SimulationTest, HandlingMinutesComeFromThePolicyElseTheTypesDefault) {
  v1::Policy policy = DefaultPolicy();
  for (auto& cp : *policy.mutable_classes()) {
    for (auto& a : *cp.mutable_actions()) {
      if (a.queue() == "call.counselling") a.set_handling_minutes(25);
    }
  }
  struct Row {
    v1::TaskType type;
    std::string queue;
    int32_t minutes;
  };
  for (const Row& row : std::vector<Row>{
           {v1::TASK_TYPE_COUNSELLING_CALL, "call.counselling", 25},
           {v1::TASK_TYPE_COUNSELLING_CALL, "call.early", 25},  // the type's, another queue
           {v1::TASK_TYPE_REMINDER_CALL, "call.early", 6},
           {v1::TASK_TYPE_SMS_REMINDER, "sms", 0},
           {v1::TASK_TYPE_HOME_VISIT, "field", 120},
           {v1::TASK_TYPE_SUPERVISOR_REVIEW, "supervisor", 10},
       }) {
    EXPECT_EQ(HandlingMinutes(policy, row.type, row.queue), row.minutes) << row.queue;
  }
  EXPECT_EQ(AgentsNeeded(900, 450), "2.0");
  EXPECT_EQ(AgentsNeeded(1000, 450), "2.2");
  EXPECT_EQ(AgentsNeeded(0, 450), "0.0");
}

TEST(SimulationTest, DrawsAreSeededAndHitTheirRate) {
  std::mt19937_64 a(CaseSeed(42, 7)), b(CaseSeed(42, 7)), c(CaseSeed(42, 8));
  EXPECT_EQ(a(), b());
  EXPECT_NE(CaseSeed(42, 7), CaseSeed(43, 7));
  EXPECT_NE(CaseSeed(42, 7), CaseSeed(42, 8));
  int hits = 0;
  for (int i = 0; i < 100'000; ++i) hits += Draw(c, 300'000);
  EXPECT_NEAR(hits, 30'000, 600);  // about 4 standard deviations
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(Draw(c, 0));
    EXPECT_TRUE(Draw(c, M));
  }
}

// A varied book: every class and stage, a few hundred cases.
std::vector<Opened> Book(int n) {
  std::vector<Opened> book;
  for (int i = 1; i <= n; ++i) {
    book.push_back(Open(i, (i * 37) % 150, (500 + (i * 7919) % 40000) * CNY));
  }
  return book;
}

TEST(SimulationTest, TheSameSeedGivesTheSameOutputHoweverTheBookIsSplit) {
  const std::vector<Opened> book = Book(300);
  BookRates rates(DefaultBehaviourRates());
  auto run = [&](uint64_t seed) {
    Simulation sim(DefaultPolicy(), rates, Options(60, seed));
    for (const Opened& o : book) EXPECT_TRUE(sim.AddCase(o.c, o.tasks).ok());
    return SimulationCsv(sim);
  };
  const std::string once = run(42);
  EXPECT_EQ(run(42), once);
  EXPECT_NE(run(43), once);
  // Split in two, the second half first, merged.
  Simulation first(DefaultPolicy(), rates, Options(60, 42)),
      second(DefaultPolicy(), rates, Options(60, 42));
  for (size_t i = book.size(); i-- > book.size() / 2;) {
    ASSERT_TRUE(second.AddCase(book[i].c, book[i].tasks).ok());
  }
  for (size_t i = 0; i < book.size() / 2; ++i) {
    ASSERT_TRUE(first.AddCase(book[i].c, book[i].tasks).ok());
  }
  second.Merge(first);
  EXPECT_EQ(SimulationCsv(second), once);
  EXPECT_EQ(second.cases(), 300);
}

TEST(SimulationTest, ACandidatePolicyChangesTheWorkNotTheBorrowers) {
  // The candidate also sends an SMS when a case enters counselling. An SMS
  // draws nothing, so the borrowers answer the calls exactly as under the
  // current policy: the calls are the same, the SMS queue is new.
  v1::Policy candidate = DefaultPolicy();
  for (auto& cp : *candidate.mutable_classes()) {
    if (cp.case_class() != v1::CASE_CLASS_MODERATE) continue;
    v1::Action* sms = cp.add_actions();
    sms->set_task_type(v1::TASK_TYPE_SMS_REMINDER);
    sms->set_queue("sms.counselling");
    sms->set_deadline_hours(24);
    sms->set_cost_fen(10);
  }
  const std::vector<Opened> book = Book(200);
  BookRates rates(DefaultBehaviourRates());
  Simulation current(DefaultPolicy(), rates, Options(40)), cand(candidate, rates, Options(40));
  for (const Opened& o : book) {
    ASSERT_TRUE(current.AddCase(o.c, o.tasks).ok());
    ASSERT_TRUE(cand.AddCase(o.c, o.tasks).ok());
  }
  auto created = [](const Simulation& s, const std::string& queue) {
    int64_t n = 0;
    for (const SimulatedDay& d : s.days()) {
      auto it = d.queues.find(queue);
      if (it != d.queues.end()) n += it->second.tasks_created;
    }
    return n;
  };
  EXPECT_EQ(created(current, "sms.counselling"), 0);
  EXPECT_GT(created(cand, "sms.counselling"), 2);
  EXPECT_EQ(created(cand, "call.counselling"), created(current, "call.counselling"));
  EXPECT_GT(created(cand, "call.counselling"), 0);
  EXPECT_EQ(Sum(cand).recovered_fen, Sum(current).recovered_fen);
}

}  // namespace
}  // namespace collections::workflow
