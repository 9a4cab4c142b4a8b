// What-if simulation: today's open book run forward day by day in memory
// under one policy, through the same `Decide` the server uses, with the
// borrowers' behaviour drawn from rates per class and stage. It answers
// "what happens to my call center and my legal budget if I change this"
// before anyone is called. Pure: no I/O, nothing is written anywhere.
//
// Each case runs on its own: cases do not meet in the state machine, so a
// case is simulated through every day at once and only its figures are
// kept (memory is the per-day result, not the book). Each case draws from
// its own generator, seeded from (seed, case id), so the result does not
// depend on the order cases arrive in or on how they are split between
// threads, and two policies simulated with one seed face the same borrowers
// (the same draws in the same order while their paths agree). Every figure
// is an integer sum, so the output is byte-identical for a seed on every
// platform (the draws use std::mt19937_64, whose sequence the standard
// fixes, and integer arithmetic only).
//
// Thread-compatible: one Simulation per thread, then Merge.
#ifndef COLLECTIONS_WORKFLOW_SIMULATION_H_
#define COLLECTIONS_WORKFLOW_SIMULATION_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collections/v1/case.pb.h"
#include "collections/v1/policy.pb.h"
#include "collections/v1/task.pb.h"

namespace collections::workflow {

// Probabilities in parts per million (integers: portable draws).
inline constexpr int32_t kMillion = 1'000'000;

// What the borrowers of one class in one stage do.
struct BehaviourRates {
  int32_t reached_ppm = 0;       // a call or visit reaches the borrower
  int32_t promise_ppm = 0;       // a reached contact ends with a promise to pay
  int32_t promise_kept_ppm = 0;  // a promise is paid in full by its date
  int32_t plan_ppm = 0;          // a reached counselling contact agrees a plan
  int32_t plan_break_ppm = 0;    // one instalment of a plan is missed
  int32_t cure_ppm = 0;          // on any one day, all that is overdue is paid unprompted
  bool operator==(const BehaviourRates& o) const {
    return reached_ppm == o.reached_ppm && promise_ppm == o.promise_ppm &&
           promise_kept_ppm == o.promise_kept_ppm && plan_ppm == o.plan_ppm &&
           plan_break_ppm == o.plan_break_ppm && cure_ppm == o.cure_ppm;
  }
};

// Rates per (class, stage) of the open stages. Lookups of a class or stage
// outside the table get the book-wide `fallback`.
class BookRates {
 public:
  BookRates() = default;
  explicit BookRates(const BehaviourRates& fallback) : fallback_(fallback) {}

  void Set(v1::CaseClass case_class, v1::Stage stage, const BehaviourRates& rates);
  // The rates of (class, stage), or the fallback when none were set.
  const BehaviourRates& For(v1::CaseClass case_class, v1::Stage stage) const;
  const BehaviourRates& fallback() const { return fallback_; }
  void set_fallback(const BehaviourRates& rates) { fallback_ = rates; }

 private:
  struct Slot {
    bool set = false;
    BehaviourRates rates;
  };
  // [class 0..3][stage 0..6]: the proto enum numbers.
  std::array<std::array<Slot, 7>, 4> by_{};
  BehaviourRates fallback_;
};

// Rates for a book with no history yet: typical figures of a consumer
// mortgage book (see docs/strategy.md, "What-if simulation").
BehaviourRates DefaultBehaviourRates();

// Minutes of agent time one task takes: the action's handling_minutes when
// the policy sets it for the task's queue and type, else a default per type
// (an SMS takes none).
int32_t HandlingMinutes(const v1::Policy& policy, v1::TaskType type, const std::string& queue);

struct SimulationOptions {
  absl::CivilDay start;  // the business date the book is as of
  int32_t days = 90;     // simulated days: start + 1 .. start + days
  uint64_t seed = 1;
  absl::TimeZone zone;                  // the institution's: task times follow its calendar
  absl::Time start_time;                // the moment that stands for `start` (its local time
                                        // of day is every simulated day's)
  int32_t agent_minutes_per_day = 450;  // one agent's working minutes in a day
};

// A task that is open when the simulation starts (READY, LEASED or held).
struct OpenTask {
  v1::TaskType type = v1::TASK_TYPE_UNSPECIFIED;
  std::string queue;
  absl::Time not_before;
};

// One queue on one day.
struct QueueDay {
  int64_t tasks_created = 0;
  int64_t tasks_worked = 0;
  int64_t handling_minutes = 0;  // of the tasks created
  int64_t cost_fen = 0;          // the policy's action costs of the tasks created
  bool operator==(const QueueDay& o) const {
    return tasks_created == o.tasks_created && tasks_worked == o.tasks_worked &&
           handling_minutes == o.handling_minutes && cost_fen == o.cost_fen;
  }
};

// One simulated day of the whole book.
struct SimulatedDay {
  absl::CivilDay day;
  std::map<std::string, QueueDay> queues;  // by queue name
  int64_t contacts = 0;                    // contact attempts (calls, visits, letters, SMS)
  int64_t borrowers_contacted = 0;
  int64_t max_contacts_per_borrower = 0;
  int64_t deferred_by_caps = 0;  // calls moved to a later day by the call caps
  int64_t entered_legal = 0;     // cases that entered LEGAL_ACTION
  int64_t handoffs = 0;          // new cases handed to a legal firm
  int64_t cured = 0;             // cases resolved (nothing overdue)
  int64_t plans_agreed = 0;
  int64_t plans_broken = 0;
  int64_t recovered_fen = 0;  // payments that paid something owed
  int64_t open_cases = 0;     // at the end of the day
  bool operator==(const SimulatedDay& o) const;
};

class Simulation {
 public:
  // `policy` is the policy every case runs under (a case on another version
  // is first migrated to it, as PolicyService.MigrateCases would).
  Simulation(v1::Policy policy, BookRates rates, SimulationOptions options);

  // Runs one case of the open book through every simulated day. A case in
  // no open stage is ignored. An error names the case and what the state
  // machine refused (a case the policy cannot run).
  absl::Status AddCase(const v1::Case& c, const std::vector<OpenTask>& open_tasks = {});

  // Adds another simulation's figures (same policy, options and rates).
  void Merge(const Simulation& other);

  const std::vector<SimulatedDay>& days() const { return days_; }
  int64_t cases() const { return cases_; }
  const v1::Policy& policy() const { return policy_; }
  const SimulationOptions& options() const { return options_; }

 private:
  class CaseRun;
  // HandlingMinutes, remembered per (type, queue).
  int32_t MinutesFor(v1::TaskType type, const std::string& queue);

  v1::Policy policy_;
  BookRates rates_;
  SimulationOptions options_;
  std::vector<SimulatedDay> days_;
  std::vector<absl::Time> day_times_;  // the moment standing for each simulated day
  int64_t cases_ = 0;
  std::map<std::pair<int, std::string>, int32_t> minutes_;
};

// A generator of the case's own draws: std::mt19937_64 seeded from
// (seed, case id) through SplitMix64. Exposed for the tests.
uint64_t CaseSeed(uint64_t seed, int64_t case_id);
// True with probability ppm / 1,000,000 (one draw).
bool Draw(std::mt19937_64& rng, int32_t ppm);

// Agents a day's handling minutes need, "12.3" (tenths, rounded).
std::string AgentsNeeded(int64_t minutes, int32_t per_agent);

// The figures as CSV (one row per day and queue, plus a row per day with
// queue "*" for the book-wide figures); stable column order. For tests and
// the bench: two results are the same iff these are byte-identical.
std::string SimulationCsv(const Simulation& sim);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_SIMULATION_H_
