// collections-simulation-bench: how long the what-if simulation
// (PolicyService.SimulatePolicy) takes on a large book. It does what
// PolicyEngine::Simulate does on the executor: the book's behaviour rates
// (Store::ReadBookBehaviour), then the open book page by page
// (Store::ForEachOpenBookPage, 5,000 cases a page), each page simulated
// under a candidate and under the current policy at once, one thread each,
// for --days days.
//
//   collections-simulation-bench --db=CONNECTION [--days=90] [--seed=1]
//   collections-simulation-bench --cases=1000000 [--days=90]
//
// With --db it reads the book stored there (e.g. the one
// `collections-report-bench --cases=1000000 --keep` leaves); without, it
// opens --cases cases in memory (through Decide, as the importer would)
// and times the simulation alone. The candidate is the default policy with
// a two-calls-a-day cap. Results go to stdout; bench/RESULTS.md records
// them.
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "storage/store.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/simulation.h"
#include "workflow/state_machine.h"

ABSL_FLAG(std::string, db, "", "SOCI connection string of a stored book (default: in memory)");
ABSL_FLAG(int64_t, cases, 1000000, "cases of the in-memory book (without --db)");
ABSL_FLAG(int, days, 90, "simulated days");
ABSL_FLAG(uint64_t, seed, 1, "the draws' seed");
ABSL_FLAG(std::string, csv, "",
          "write both policies' figures (workflow::SimulationCsv, current policy first) to "
          "this file: two runs agree iff their files are byte-identical");

namespace collections {
namespace {

constexpr int kPage = 5000;  // as PolicyEngine::Simulate
const absl::CivilDay kBookDay(2026, 1, 1);

// The report bench's spread: days past due 1..240, overdue 800 to 60,000
// CNY.
storage::OpenBookPage MemoryPage(int64_t first, int64_t n, absl::Time now) {
  storage::OpenBookPage page;
  for (int64_t i = first; i < first + n; ++i) {
    const uint64_t h = static_cast<uint64_t>(i) * 2654435761u;
    v1::CaseEvent e;
    *e.mutable_business_date() = workflow::DayToProto(kBookDay);
    e.set_actor("bench");
    e.set_case_id(i);
    v1::DelinquencyRecord& r = *e.mutable_imported();
    r.set_loan_id(absl::StrCat("L", i));
    *r.mutable_as_of() = workflow::DayToProto(kBookDay);
    *r.mutable_oldest_unpaid_due_date() = workflow::DayToProto(kBookDay - (1 + h % 240));
    r.mutable_borrower()->set_borrower_id(absl::StrCat("B", i));
    r.mutable_borrower()->set_region(absl::StrCat("R", h % 30));
    r.set_product("mortgage");
    r.set_principal_outstanding_fen(50'000'000);
    r.mutable_overdue()->set_principal_fen(80'000 + static_cast<int64_t>(h % 5'920'000));
    auto t = workflow::Decide(v1::Case(), e, workflow::DefaultPolicy(), now);
    if (!t.ok()) continue;
    std::vector<workflow::OpenTask> tasks;
    for (const workflow::TaskSpec& s : t->create_tasks) {
      tasks.push_back({s.type, s.queue, s.not_before});
    }
    page.cases.push_back(std::move(t->next));
    page.open_tasks.push_back(std::move(tasks));
  }
  return page;
}

absl::Status AddPage(workflow::Simulation& sim, const storage::OpenBookPage& page) {
  for (size_t i = 0; i < page.cases.size(); ++i) {
    RETURN_IF_ERROR(sim.AddCase(page.cases[i], page.open_tasks[i]));
  }
  return absl::OkStatus();
}

int Main() {
  absl::TimeZone zone;
  if (!absl::LoadTimeZone("Asia/Shanghai", &zone)) return 1;
  std::unique_ptr<storage::Store> store;
  absl::CivilDay today = kBookDay;
  workflow::BookRates rates(workflow::DefaultBehaviourRates());
  const absl::Time started = absl::Now();
  if (!absl::GetFlag(FLAGS_db).empty()) {
    storage::StoreOptions options;
    options.connection = absl::GetFlag(FLAGS_db);
    auto opened = storage::Store::Open(options);
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
      return 1;
    }
    store = *std::move(opened);
    auto day = store->BusinessDate();
    if (day.ok()) today = *day;
    auto behaviour = store->ReadBookBehaviour(today - 89, today);
    if (!behaviour.ok()) {
      std::fprintf(stderr, "%s\n", behaviour.status().ToString().c_str());
      return 1;
    }
    rates = behaviour->rates;
  }
  const absl::Time rates_read = absl::Now();
  workflow::SimulationOptions options;
  options.start = today;
  options.days = absl::GetFlag(FLAGS_days);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.zone = zone;
  options.start_time =
      absl::FromCivil(absl::CivilSecond(today.year(), today.month(), today.day(), 9, 0, 0), zone);
  v1::Policy candidate = workflow::DefaultPolicy();
  candidate.mutable_contact()->set_max_call_attempts_per_day(2);
  workflow::Simulation candidate_run(candidate, rates, options);
  workflow::Simulation current_run(workflow::DefaultPolicy(), rates, options);
  absl::Duration building;
  auto both = [&](const storage::OpenBookPage& page) -> absl::Status {
    absl::Status candidate_status;
    std::thread other([&] { candidate_status = AddPage(candidate_run, page); });
    absl::Status current_status = AddPage(current_run, page);
    other.join();
    RETURN_IF_ERROR(candidate_status);
    return current_status;
  };
  absl::Status status;
  if (store != nullptr) {
    status = store->ForEachOpenBookPage(both, kPage);
  } else {
    for (int64_t first = 1; first <= absl::GetFlag(FLAGS_cases) && status.ok(); first += kPage) {
      const absl::Time b = absl::Now();
      const storage::OpenBookPage page =
          MemoryPage(first, std::min<int64_t>(kPage, absl::GetFlag(FLAGS_cases) - first + 1),
                     options.start_time);
      building += absl::Now() - b;
      status = both(page);
    }
  }
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  const absl::Duration total = absl::Now() - started;
  int64_t tasks = 0, legal = 0;
  for (const workflow::SimulatedDay& d : current_run.days()) {
    for (const auto& [queue, q] : d.queues) tasks += q.tasks_created;
    legal += d.entered_legal;
  }
  std::printf("cases %lld, days %d, seed %llu\n", static_cast<long long>(current_run.cases()),
              options.days, static_cast<unsigned long long>(options.seed));
  std::printf("current policy: %lld tasks created, %lld cases into legal action\n",
              static_cast<long long>(tasks), static_cast<long long>(legal));
  std::printf("rates read: %.2f s\n", absl::ToDoubleSeconds(rates_read - started));
  if (store == nullptr) {
    std::printf("in-memory book built (not part of the RPC): %.2f s\n",
                absl::ToDoubleSeconds(building));
  }
  std::printf("total: %.2f s; excluding the in-memory book's building: %.2f s\n",
              absl::ToDoubleSeconds(total), absl::ToDoubleSeconds(total - building));
  if (const std::string csv = absl::GetFlag(FLAGS_csv); !csv.empty()) {
    std::ofstream out(csv, std::ios::binary);
    out << "# current policy\n"
        << workflow::SimulationCsv(current_run) << "# candidate\n"
        << workflow::SimulationCsv(candidate_run);
    if (!out.good()) {
      std::fprintf(stderr, "cannot write %s\n", csv.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace collections

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("collections-simulation-bench [--db=CONNECTION] [--days=90]");
  absl::ParseCommandLine(argc, argv);
  return collections::Main();
}
