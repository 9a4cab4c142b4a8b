// The what-if simulation: one case at a time through every simulated day,
// each event decided by `Decide`, the transition's effects (tasks, timers,
// handoffs) kept in memory instead of a database.
#include "workflow/simulation.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/arena.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/state_machine.h"

namespace collections::workflow {
namespace {

// Every case is moved onto the simulated policy first (a policy_migrated
// event, as PolicyService.MigrateCases does), so that it is classified and
// staged by the policy being simulated; this version is newer than any
// stored one.
constexpr int64_t kSimulatedVersion = int64_t{1} << 40;
constexpr int kPlanInstalments = 3;
constexpr int kPromiseDaysAhead = 7;
// Tasks one case works in a day at most (a guard against a policy whose
// outcomes create tasks due at once without end).
constexpr int kMaxTasksPerCaseDay = 32;

bool IsCall(v1::TaskType type) {
  return type == v1::TASK_TYPE_REMINDER_CALL || type == v1::TASK_TYPE_COUNSELLING_CALL ||
         type == v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL;
}

int32_t DefaultHandlingMinutes(v1::TaskType type) {
  switch (type) {
    case v1::TASK_TYPE_SMS_REMINDER:
      return 0;
    case v1::TASK_TYPE_REMINDER_CALL:
    case v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL:
      return 6;
    case v1::TASK_TYPE_COUNSELLING_CALL:
    case v1::TASK_TYPE_LEGAL_LETTER:
      return 15;
    case v1::TASK_TYPE_HOME_VISIT:
      return 120;
    case v1::TASK_TYPE_HARDSHIP_ASSESSMENT:
      return 30;
    case v1::TASK_TYPE_SUPERVISOR_REVIEW:
      return 10;
    default:
      return 0;
  }
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

void BookRates::Set(v1::CaseClass case_class, v1::Stage stage, const BehaviourRates& rates) {
  if (case_class < 0 || case_class > 3 || stage < 0 || stage > 6) return;
  by_[case_class][stage] = Slot{true, rates};
}

const BehaviourRates& BookRates::For(v1::CaseClass case_class, v1::Stage stage) const {
  if (case_class < 0 || case_class > 3 || stage < 0 || stage > 6) return fallback_;
  const Slot& slot = by_[case_class][stage];
  return slot.set ? slot.rates : fallback_;
}

BehaviourRates DefaultBehaviourRates() {
  BehaviourRates r;
  r.reached_ppm = 450'000;
  r.promise_ppm = 300'000;
  r.promise_kept_ppm = 550'000;
  r.plan_ppm = 150'000;
  r.plan_break_ppm = 150'000;
  r.cure_ppm = 5'000;
  return r;
}

int32_t HandlingMinutes(const v1::Policy& policy, v1::TaskType type, const std::string& queue) {
  int32_t by_type = -1;
  auto look = [&](const v1::Action& a) -> bool {
    if (a.task_type() != type || a.handling_minutes() <= 0) return false;
    if (a.queue() == queue) return true;
    if (by_type < 0) by_type = a.handling_minutes();
    return false;
  };
  for (const v1::ClassPolicy& cp : policy.classes()) {
    for (const v1::Action& a : cp.actions()) {
      if (look(a)) return a.handling_minutes();
    }
  }
  for (const v1::Action& a : policy.plan_actions()) {
    if (look(a)) return a.handling_minutes();
  }
  return by_type >= 0 ? by_type : DefaultHandlingMinutes(type);
}

uint64_t CaseSeed(uint64_t seed, int64_t case_id) {
  return SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(case_id));
}

bool Draw(std::mt19937_64& rng, int32_t ppm) {
  return static_cast<int64_t>(rng() % kMillion) < ppm;
}

bool SimulatedDay::operator==(const SimulatedDay& o) const {
  return day == o.day && queues == o.queues && contacts == o.contacts &&
         borrowers_contacted == o.borrowers_contacted &&
         max_contacts_per_borrower == o.max_contacts_per_borrower &&
         deferred_by_caps == o.deferred_by_caps && entered_legal == o.entered_legal &&
         handoffs == o.handoffs && cured == o.cured && plans_agreed == o.plans_agreed &&
         plans_broken == o.plans_broken && recovered_fen == o.recovered_fen &&
         open_cases == o.open_cases;
}

// One case through every day. Holds what the database would: the case, its
// open tasks, its timers, and the payments its borrower will make.
class Simulation::CaseRun {
 public:
  CaseRun(Simulation& sim, v1::Case c)
      : arena_(),
        sim_(sim),
        policy_(sim.policy_),
        c_(std::move(c)),
        rng_(CaseSeed(sim.options_.seed, c_.case_id())) {}

  absl::Status Run(const std::vector<OpenTask>& open_tasks) {
    const SimulationOptions& o = sim_.options_;
    for (const OpenTask& t : open_tasks) {
      tasks_.push_back({t.type, t.queue, absl::ToCivilDay(t.not_before, o.zone)});
    }
    // Promises the borrower made before the start: their timers, and
    // whether they will be kept. (A running plan's instalments live in the
    // plans table, not in the case: its timers are not known here.)
    for (const v1::Promise& p : c_.promises()) {
      if (p.state() != v1::PROMISE_STATE_PENDING) continue;
      ASSIGN_OR_RETURN(absl::CivilDay due, DayFromProto(p.due_date(), "promise.due_date"));
      timers_.push_back(
          {{TimerKind::kPromiseDue, p.promise_id()}, due + policy_.promises().grace_days() + 1});
      if (due > o.start && Draw(rng_, Rates().promise_kept_ppm)) {
        payments_.push_back({due, p.amount_fen() - p.paid_fen(), 0});
      }
    }
    // Onto the simulated policy, on the book's day; what that changes (a
    // case the candidate stages differently, its new tasks) counts on the
    // first simulated day.
    SimulatedDay scratch;
    v1::CaseEvent& migrate = NewEvent();
    migrate.mutable_policy_migrated()->set_from_version(c_.policy_version());
    migrate.mutable_policy_migrated()->set_to_version(policy_.version());
    RETURN_IF_ERROR(Apply(migrate, o.start, o.start_time, o.days > 0 ? sim_.days_[0] : scratch));
    for (int32_t i = 0; i < o.days && IsOpenStage(c_.stage()); ++i) {
      SimulatedDay& out = sim_.days_[i];
      const absl::CivilDay day = out.day;  // o.start + 1 + i, computed once for every case
      RETURN_IF_ERROR(RunDay(day, i, sim_.day_times_[i], out));
      if (IsOpenStage(c_.stage())) ++out.open_cases;
    }
    return absl::OkStatus();
  }

 private:
  struct Task {
    v1::TaskType type;
    std::string queue;
    absl::CivilDay day;  // the business day it may be worked from
  };
  struct Timer {
    TimerRef ref;
    absl::CivilDay due;
  };
  struct Due {  // a payment the borrower will make
    absl::CivilDay day;
    int64_t amount_fen;
    int instalment;  // 0: a promise; else the plan's instalment number
  };

  // An event of this case's run, on the run's arena: the simulation's own
  // events cost no allocation of their own (the arena goes with the run).
  v1::CaseEvent& NewEvent() {
    return *google::protobuf::Arena::CreateMessage<v1::CaseEvent>(&arena_);
  }

  // `index`: the day's number in the run (0 is the first simulated day).
  absl::Status RunDay(absl::CivilDay day, int32_t index, absl::Time now, SimulatedDay& out) {
    // The server's order: aging, then the timers that fall due; then what
    // the borrower does, then the day's work.
    if (next_aging_ && *next_aging_ <= day) {
      v1::CaseEvent& aged = NewEvent();
      aged.mutable_aged();
      RETURN_IF_ERROR(Apply(aged, day, now, out));
    }
    RETURN_IF_ERROR(FireTimers(day, now, out));
    RETURN_IF_ERROR(PayWhatIsDue(day, now, out));
    if (IsOpenStage(c_.stage()) && Draw(rng_, Rates().cure_ppm)) {
      RETURN_IF_ERROR(Pay(std::max(OverdueTotal(c_.overdue()), c_.active_plan_outstanding_fen()),
                          day, now, out));
    }
    calls_[index % 7] = 0;
    int contacts = 0;
    for (int n = 0; n < kMaxTasksPerCaseDay && IsOpenStage(c_.stage()); ++n) {
      auto it =
          std::find_if(tasks_.begin(), tasks_.end(), [&](const Task& t) { return t.day <= day; });
      if (it == tasks_.end()) break;
      Task task = std::move(*it);
      tasks_.erase(it);
      if (IsCall(task.type) && !CallAllowed(index)) {
        task.day = day + 1;
        tasks_.push_back(std::move(task));
        ++out.deferred_by_caps;
        continue;
      }
      if (IsCall(task.type)) ++calls_[index % 7];
      if (IsContactTask(task.type)) ++contacts;
      ++out.queues[task.queue].tasks_worked;
      RETURN_IF_ERROR(Work(task, day, now, out));
    }
    if (contacts > 0) {
      out.contacts += contacts;
      ++out.borrowers_contacted;
      out.max_contacts_per_borrower = std::max<int64_t>(out.max_contacts_per_borrower, contacts);
    }
    return absl::OkStatus();
  }

  const BehaviourRates& Rates() const {
    return sim_.rates_.For(c_.classification().case_class(), c_.stage());
  }

  // The contact rules' call attempts per day and per 7 days.
  bool CallAllowed(int32_t index) const {
    const v1::ContactRules& rules = policy_.contact();
    int week = 0;
    for (int n : calls_) week += n;
    const int today = calls_[index % 7];
    return (rules.max_call_attempts_per_day() <= 0 || today < rules.max_call_attempts_per_day()) &&
           (rules.max_call_attempts_per_7_days() <= 0 ||
            week < rules.max_call_attempts_per_7_days());
  }

  absl::Status FireTimers(absl::CivilDay day, absl::Time now, SimulatedDay& out) {
    for (;;) {
      auto it = std::find_if(timers_.begin(), timers_.end(),
                             [&](const Timer& t) { return t.due <= day; });
      if (it == timers_.end() || !IsOpenStage(c_.stage())) return absl::OkStatus();
      const TimerRef ref = it->ref;
      timers_.erase(it);
      v1::CaseEvent event = EventForTimer(ref);
      if (event.has_plan_broken()) {
        if (event.plan_broken().plan_id() != c_.active_plan_id()) continue;
        event.mutable_plan_broken()->set_instalment_count(kPlanInstalments);
      }
      absl::Status s = Apply(event, day, now, out);
      // A timer the case no longer needs (a promise kept meanwhile).
      if (s.code() == absl::StatusCode::kFailedPrecondition) continue;
      RETURN_IF_ERROR(s);
      if (event.has_plan_broken()) {
        ++out.plans_broken;
        payments_.clear();
      }
    }
  }

  absl::Status PayWhatIsDue(absl::CivilDay day, absl::Time now, SimulatedDay& out) {
    for (;;) {
      auto it = std::find_if(payments_.begin(), payments_.end(),
                             [&](const Due& d) { return d.day <= day; });
      if (it == payments_.end() || !IsOpenStage(c_.stage())) return absl::OkStatus();
      const Due due = *it;
      payments_.erase(it);
      RETURN_IF_ERROR(Pay(due.amount_fen, day, now, out));
      if (due.instalment == 0 || !IsOpenStage(c_.stage())) continue;
      // The instalment is paid: its timer goes (the plan engine matches
      // payments to instalments), and the last one completes the plan.
      const TimerRef ref{TimerKind::kInstalmentDue, c_.active_plan_id() * 1000 + due.instalment};
      timers_.erase(std::remove_if(timers_.begin(), timers_.end(),
                                   [&](const Timer& t) { return t.ref == ref; }),
                    timers_.end());
      if (due.instalment == kPlanInstalments && c_.active_plan_id() != 0 &&
          c_.stage() == v1::STAGE_REPAYMENT_PLAN) {
        v1::CaseEvent& done = NewEvent();
        done.mutable_plan_completed()->set_plan_id(c_.active_plan_id());
        done.mutable_plan_completed()->set_kind(c_.active_plan_kind());
        absl::Status s = Apply(done, day, now, out);
        if (s.code() != absl::StatusCode::kFailedPrecondition) RETURN_IF_ERROR(s);
      }
    }
  }

  absl::Status Pay(int64_t amount_fen, absl::CivilDay day, absl::Time now, SimulatedDay& out) {
    if (amount_fen <= 0) return absl::OkStatus();
    v1::CaseEvent& e = NewEvent();
    v1::Payment& p = *e.mutable_payment();
    p.set_payment_id(absl::StrCat("sim-", c_.case_id(), "-", c_.version()));
    p.set_amount_fen(amount_fen);
    *p.mutable_paid_on() = DayToProto(day);
    p.set_channel("simulation");
    return Apply(e, day, now, out);
  }

  // What the borrower answers to one task, drawn from the rates of the
  // case's class and stage, as the agent's outcome.
  absl::Status Work(const Task& task, absl::CivilDay day, absl::Time now, SimulatedDay& out) {
    const BehaviourRates& r = Rates();
    v1::CaseEvent& e = NewEvent();
    v1::TaskCompleted& done = *e.mutable_task_completed();
    done.set_task_type(task.type);
    v1::TaskOutcome& outcome = *done.mutable_outcome();
    bool agree_plan = false;
    auto promise = [&](v1::PromiseToPay* p) {
      // A plan is agreed in counselling; elsewhere, or when none is, maybe
      // a promise of everything overdue within a week.
      if (c_.stage() == v1::STAGE_COUNSELLING && Draw(rng_, r.plan_ppm)) {
        agree_plan = true;
        return;
      }
      if (c_.stage() == v1::STAGE_REPAYMENT_PLAN || !Draw(rng_, r.promise_ppm)) return;
      const int ahead = std::min(kPromiseDaysAhead, policy_.promises().max_days_ahead());
      p->set_amount_fen(OverdueTotal(c_.overdue()));
      *p->mutable_due_date() = DayToProto(day + ahead);
      if (Draw(rng_, r.promise_kept_ppm)) payments_.push_back({day + ahead, p->amount_fen(), 0});
    };
    switch (task.type) {
      case v1::TASK_TYPE_SMS_REMINDER:
        outcome.mutable_sms()->set_delivered(true);
        break;
      case v1::TASK_TYPE_REMINDER_CALL:
      case v1::TASK_TYPE_COUNSELLING_CALL:
      case v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL: {
        v1::CallOutcome& call = *outcome.mutable_call();
        if (Draw(rng_, r.reached_ppm)) {
          call.set_result(v1::CALL_RESULT_REACHED);
          call.set_right_party_contact(true);
          promise(call.mutable_promise());
          if (call.promise().amount_fen() == 0) call.clear_promise();
        } else {
          call.set_result(v1::CALL_RESULT_NO_ANSWER);
        }
        break;
      }
      case v1::TASK_TYPE_HOME_VISIT: {
        v1::VisitOutcome& visit = *outcome.mutable_visit();
        if (Draw(rng_, r.reached_ppm)) {
          visit.set_result(v1::VISIT_RESULT_MET);
          promise(visit.mutable_promise());
          if (visit.promise().amount_fen() == 0) visit.clear_promise();
        } else {
          visit.set_result(v1::VISIT_RESULT_NOT_HOME);
        }
        break;
      }
      case v1::TASK_TYPE_LEGAL_LETTER:
        outcome.mutable_letter()->set_sent(true);
        outcome.mutable_letter()->set_reference(absl::StrCat("sim-", c_.case_id()));
        break;
      case v1::TASK_TYPE_HARDSHIP_ASSESSMENT:
        outcome.mutable_hardship_assessment()->set_genuine(false);
        break;
      case v1::TASK_TYPE_SUPERVISOR_REVIEW:
        outcome.mutable_review()->set_decision("continue");
        break;
      default:
        return absl::OkStatus();
    }
    absl::Status s = Apply(e, day, now, out);
    // What the case no longer takes (a hardship assessed meanwhile).
    if (s.code() == absl::StatusCode::kFailedPrecondition) return absl::OkStatus();
    RETURN_IF_ERROR(s);
    if (agree_plan && IsOpenStage(c_.stage()) && c_.stage() != v1::STAGE_REPAYMENT_PLAN) {
      return AgreePlan(day, now, out);
    }
    return absl::OkStatus();
  }

  // A catch-up (or the class's first plan kind) of everything overdue in
  // monthly instalments; each one is paid unless the plan-break draw says
  // it is missed (then the plan breaks at its timer).
  absl::Status AgreePlan(absl::CivilDay day, absl::Time now, SimulatedDay& out) {
    const int64_t total = OverdueTotal(c_.overdue());
    if (total <= 0) return absl::OkStatus();
    v1::PlanKind kind = v1::PLAN_KIND_CATCH_UP;
    for (const v1::ClassPlanKinds& k : policy_.plans().kinds()) {
      if (k.case_class() == c_.classification().case_class() && !k.plan_kinds().empty()) {
        kind = static_cast<v1::PlanKind>(k.plan_kinds(0));
        break;
      }
    }
    v1::CaseEvent& e = NewEvent();
    v1::PlanApproved& a = *e.mutable_plan_approved();
    a.set_plan_id(++plans_);
    a.set_kind(kind);
    a.set_approver("simulation");
    a.set_total_fen(total);
    std::vector<Due> instalments;
    bool missed = false;
    for (int i = 1; i <= kPlanInstalments; ++i) {
      const absl::CivilDay due = day + 30 * i;
      *a.add_instalment_due_dates() = DayToProto(due);
      const int64_t part = i < kPlanInstalments
                               ? total / kPlanInstalments
                               : total - (kPlanInstalments - 1) * (total / kPlanInstalments);
      missed = missed || Draw(rng_, Rates().plan_break_ppm);
      if (!missed) instalments.push_back({due, part, i});
    }
    RETURN_IF_ERROR(Apply(e, day, now, out));
    ++out.plans_agreed;
    payments_ = std::move(instalments);
    return absl::OkStatus();
  }

  // Decide, then what storage would do with the transition, in memory.
  // `event` gets its date and actor here (taken by reference: Decide copies
  // it into the transition, a second copy would be waste).
  absl::Status Apply(v1::CaseEvent& event, absl::CivilDay day, absl::Time now, SimulatedDay& out) {
    *event.mutable_business_date() = DayToProto(day);
    event.set_actor("system:simulation");
    absl::StatusOr<Transition> decided = Decide(c_, event, policy_, now);
    if (!decided.ok()) {
      if (decided.status().code() == absl::StatusCode::kFailedPrecondition) {
        return decided.status();
      }
      return absl::Status(decided.status().code(),
                          absl::StrCat("case ", c_.case_id(), ": ", EventKindName(event), ": ",
                                       decided.status().message()));
    }
    Transition& t = *decided;
    const SimulationOptions& o = sim_.options_;
    if (t.cancel_open_tasks) tasks_.clear();
    for (const TaskSpec& spec : t.create_tasks) {
      tasks_.push_back({spec.type, spec.queue, absl::ToCivilDay(spec.not_before, o.zone)});
      QueueDay& q = out.queues[spec.queue];
      ++q.tasks_created;
      q.handling_minutes += sim_.MinutesFor(spec.type, spec.queue);
      q.cost_fen += spec.cost_fen;
    }
    if (t.clear_all_timers) timers_.clear();
    for (const TimerRef& ref : t.clear_timers) {
      timers_.erase(std::remove_if(timers_.begin(), timers_.end(),
                                   [&](const Timer& x) { return x.ref == ref; }),
                    timers_.end());
    }
    for (const TimerSpec& spec : t.set_timers) timers_.push_back({spec.timer, spec.due});
    if (t.handoff && t.handoff->kind == v1::HANDOFF_KIND_NEW_CASE) ++out.handoffs;
    if (c_.stage() != v1::STAGE_LEGAL_ACTION && t.next.stage() == v1::STAGE_LEGAL_ACTION) {
      ++out.entered_legal;
    }
    if (IsOpenStage(c_.stage()) && t.next.stage() == v1::STAGE_RESOLVED) ++out.cured;
    if (t.event.has_payment()) {
      out.recovered_fen += t.event.payment().amount_fen() - t.event.payment().unallocated_fen();
    }
    if (!IsOpenStage(t.next.stage())) payments_.clear();
    c_ = std::move(t.next);
    next_aging_ = t.next_aging_day;
    return absl::OkStatus();
  }

  google::protobuf::Arena arena_;  // before everything that may point into it
  Simulation& sim_;
  const v1::Policy& policy_;
  v1::Case c_;
  std::mt19937_64 rng_;
  std::optional<absl::CivilDay> next_aging_;
  std::vector<Task> tasks_;
  std::vector<Timer> timers_;
  std::vector<Due> payments_;
  std::array<int, 7> calls_{};  // call attempts per day of the last 7, by day index % 7
  int64_t plans_ = 0;
};

Simulation::Simulation(v1::Policy policy, BookRates rates, SimulationOptions options)
    : policy_(std::move(policy)), rates_(rates), options_(options) {
  policy_.set_version(kSimulatedVersion);
  options_.days = std::max(0, options_.days);
  days_.resize(options_.days);
  day_times_.resize(options_.days);
  for (int32_t i = 0; i < options_.days; ++i) {
    days_[i].day = options_.start + 1 + i;
    day_times_[i] =
        TimeOnBusinessDay(days_[i].day, options_.start_time, options_.start, options_.zone);
  }
}

int32_t Simulation::MinutesFor(v1::TaskType type, const std::string& queue) {
  auto key = std::make_pair(static_cast<int>(type), queue);
  auto it = minutes_.find(key);
  if (it != minutes_.end()) return it->second;
  const int32_t m = HandlingMinutes(policy_, type, queue);
  minutes_.emplace(std::move(key), m);
  return m;
}

absl::Status Simulation::AddCase(const v1::Case& c, const std::vector<OpenTask>& open_tasks) {
  if (!IsOpenStage(c.stage())) return absl::OkStatus();
  ++cases_;
  // The borrower's name, address and phones only fill task payloads: not
  // copied through every decision (and not kept).
  v1::Case lean = c;
  lean.mutable_borrower()->clear_name();
  lean.mutable_borrower()->clear_address();
  lean.mutable_borrower()->clear_phones();
  CaseRun run(*this, std::move(lean));
  return run.Run(open_tasks);
}

void Simulation::Merge(const Simulation& other) {
  cases_ += other.cases_;
  for (size_t i = 0; i < days_.size() && i < other.days_.size(); ++i) {
    SimulatedDay& a = days_[i];
    const SimulatedDay& b = other.days_[i];
    for (const auto& [queue, q] : b.queues) {
      QueueDay& mine = a.queues[queue];
      mine.tasks_created += q.tasks_created;
      mine.tasks_worked += q.tasks_worked;
      mine.handling_minutes += q.handling_minutes;
      mine.cost_fen += q.cost_fen;
    }
    a.contacts += b.contacts;
    a.borrowers_contacted += b.borrowers_contacted;
    a.max_contacts_per_borrower =
        std::max(a.max_contacts_per_borrower, b.max_contacts_per_borrower);
    a.deferred_by_caps += b.deferred_by_caps;
    a.entered_legal += b.entered_legal;
    a.handoffs += b.handoffs;
    a.cured += b.cured;
    a.plans_agreed += b.plans_agreed;
    a.plans_broken += b.plans_broken;
    a.recovered_fen += b.recovered_fen;
    a.open_cases += b.open_cases;
  }
}

std::string AgentsNeeded(int64_t minutes, int32_t per_agent) {
  if (per_agent <= 0) return "0.0";
  const int64_t tenths = (minutes * 10 + per_agent / 2) / per_agent;
  return absl::StrCat(tenths / 10, ".", tenths % 10);
}

std::string SimulationCsv(const Simulation& sim) {
  std::string out =
      "day,queue,tasks_created,tasks_worked,handling_minutes,agents,cost_fen,contacts,"
      "borrowers_contacted,max_contacts_per_borrower,deferred_by_caps,entered_legal,handoffs,"
      "cured,plans_agreed,plans_broken,recovered_fen,open_cases\n";
  const int32_t per_agent = sim.options().agent_minutes_per_day;
  for (const SimulatedDay& d : sim.days()) {
    const std::string day = FormatDay(d.day);
    QueueDay all;
    for (const auto& [queue, q] : d.queues) {
      absl::StrAppend(&out, day, ",", queue, ",", q.tasks_created, ",", q.tasks_worked, ",",
                      q.handling_minutes, ",", AgentsNeeded(q.handling_minutes, per_agent), ",",
                      q.cost_fen, ",,,,,,,,,,,\n");
      all.tasks_created += q.tasks_created;
      all.tasks_worked += q.tasks_worked;
      all.handling_minutes += q.handling_minutes;
      all.cost_fen += q.cost_fen;
    }
    absl::StrAppend(&out, day, ",*,", all.tasks_created, ",", all.tasks_worked, ",",
                    all.handling_minutes, ",", AgentsNeeded(all.handling_minutes, per_agent), ",",
                    all.cost_fen, ",", d.contacts, ",", d.borrowers_contacted, ",",
                    d.max_contacts_per_borrower, ",", d.deferred_by_caps, ",", d.entered_legal, ",",
                    d.handoffs, ",", d.cured, ",", d.plans_agreed, ",", d.plans_broken, ",",
                    d.recovered_fen, ",", d.open_cases, "\n");
  }
  return out;
}

}  // namespace collections::workflow
