// collections-report-bench: how long every report of ReportService takes
// on a large book. It opens --cases cases on a fresh
// database through the real write path (workflow::Decide, then
// UnitOfWork::Apply via the store's writer), takes the snapshot of the first
// day, moves money on a third of the cases (payments that cure or reduce
// them), takes the snapshot thirty days later, and then times the report
// queries (storage/reports.h, what ReportService runs on its executor):
// every report over days 1-31, under each filter (region, product, queue,
// policy version), to "today" (the end book live), over one day and over
// 90 days. The payments change a third of the book within the period,
// twenty times a typical day's changes: more than ten days' runs change
// (about 17,000 cases a day on 1,000,000).
//
//   collections-report-bench --cases=1000000 [--db=CONNECTION] [--runs=5]
//
// Without --db it uses a new SQLite file under $TMPDIR and removes it.
// Results go to stdout; bench/RESULTS.md records them.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "storage/experiments.h"
#include "storage/reports.h"
#include "storage/store.h"
#include "workflow/dates.h"
#include "workflow/experiment.h"
#include "workflow/policy.h"
#include "workflow/state_machine.h"

ABSL_FLAG(int64_t, cases, 1000000, "cases in the book");
ABSL_FLAG(std::string, db, "", "SOCI connection string (default: a new SQLite file)");
ABSL_FLAG(int, runs, 5, "timed runs of each report");
ABSL_FLAG(bool, keep, false, "keep the SQLite file it made (to look at the queries)");
ABSL_FLAG(bool, experiment, false,
          "also assign every case to an experiment's arm (80/10/10 by the loan hash, "
          "issue 16) and time the experiment report");
ABSL_FLAG(bool, reuse, false,
          "time the reports on the book an earlier run left in --db (built with the same "
          "--cases) instead of building it");

namespace collections {
namespace {

constexpr int64_t kChunk = 100;  // cases per write command (small: see RESULTS.md)
const absl::CivilDay kStart(2026, 1, 1);
const absl::CivilDay kEnd = kStart + 30;

// A deterministic spread of the book: days past due 1..240, overdue 800 to
// 60,000 CNY, 30 regions, 3 products.
v1::DelinquencyRecord Record(int64_t i) {
  const uint64_t h = static_cast<uint64_t>(i) * 2654435761u;
  v1::DelinquencyRecord r;
  r.set_loan_id(absl::StrCat("L", i));
  *r.mutable_as_of() = workflow::DayToProto(kStart);
  *r.mutable_oldest_unpaid_due_date() = workflow::DayToProto(kStart - (1 + h % 240));
  r.mutable_borrower()->set_borrower_id(absl::StrCat("B", i));
  r.mutable_borrower()->set_name("Bench Borrower");
  r.mutable_borrower()->add_phones("+86 138 0000 0000");
  r.mutable_borrower()->set_address("1 Bench Road");
  r.mutable_borrower()->set_region(absl::StrCat("R", (h >> 8) % 30));
  r.set_product(
      std::vector<std::string>{"mortgage-30y", "mortgage-20y", "consumer"}[(h >> 16) % 3]);
  r.set_principal_outstanding_fen(50'000'000 + (h % 1000) * 100'000);
  const int64_t overdue = 80'000 + (h >> 4) % 5'920'000;
  r.mutable_overdue()->set_penalty_fen(overdue / 10);
  r.mutable_overdue()->set_interest_fen(overdue / 5);
  r.mutable_overdue()->set_principal_fen(overdue - overdue / 10 - overdue / 5);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  return r;
}

// Submits `chunks` commands, at most 4 in flight, and waits for all.
absl::Status RunChunks(
    storage::Store& store, int64_t n,
    const std::function<absl::Status(storage::UnitOfWork&, int64_t, int64_t)>& f) {
  absl::Mutex mu;
  int outstanding = 0;
  absl::Status first;
  for (int64_t lo = 1; lo <= n; lo += kChunk) {
    const int64_t hi = std::min(n, lo + kChunk - 1);
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(
          +[](int* k) { return *k < 4; }, &outstanding));
      ++outstanding;
    }
    store.Submit([&f, lo, hi](storage::UnitOfWork& uow) { return f(uow, lo, hi); },
                 [&](absl::Status s) {
                   absl::MutexLock lock(&mu);
                   --outstanding;
                   if (!s.ok() && first.ok()) first = s;
                 });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* k) { return *k == 0; }, &outstanding));
  return first;
}

struct Timing {
  double first_ms = 0, median_ms = 0, best_ms = 0;
  // CPU time of this thread (the report runs on it, SQLite included), the
  // median: on a shared machine wall time is mostly waiting for a core.
  double cpu_ms = 0;
};

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

template <typename F>
absl::StatusOr<Timing> Time(int runs, F&& f) {
  std::vector<double> ms, cpu;
  for (int i = 0; i < runs; ++i) {
    const absl::Time start = absl::Now();
    const double cpu_start = ThreadCpuMs();
    RETURN_IF_ERROR(f());
    cpu.push_back(ThreadCpuMs() - cpu_start);
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  Timing t;
  t.first_ms = ms.front();
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  t.median_ms = ms[ms.size() / 2];
  t.best_ms = ms.front();
  t.cpu_ms = cpu[cpu.size() / 2];
  return t;
}

// How long building the book took, in seconds.
struct BuildTimes {
  double open_s = 0, snap1_s = 0, pay_s = 0, snap2_s = 0;
};

// Opens `n` cases on kStart, snapshots it, moves money on a third of them
// and snapshots kEnd.
absl::Status BuildBook(storage::Store* store, int64_t n, const v1::Policy& policy,
                       BuildTimes* times) {
  RETURN_IF_ERROR(store->Write([stored = policy](storage::UnitOfWork& uow) mutable {
    RETURN_IF_ERROR(uow.PutPolicy(stored).status());
    return uow.SetBusinessDate(kStart);
  }));
  const absl::Time now = absl::Now();
  absl::Time t0 = absl::Now();
  RETURN_IF_ERROR(RunChunks(*store, n, [&](storage::UnitOfWork& uow, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i <= hi; ++i) {
      v1::CaseEvent e;
      e.set_case_id(i);
      *e.mutable_business_date() = workflow::DayToProto(kStart);
      e.set_actor("ingest:bench");
      *e.mutable_imported() = Record(i);
      ASSIGN_OR_RETURN(workflow::Transition t, workflow::Decide(v1::Case(), e, policy, now));
      RETURN_IF_ERROR(uow.Apply(t, 0));
    }
    return absl::OkStatus();
  }));
  RETURN_IF_ERROR(
      store->Write([n](storage::UnitOfWork& uow) { return uow.SetNextId("case", n + 1); }));
  times->open_s = absl::ToDoubleSeconds(absl::Now() - t0);

  t0 = absl::Now();
  RETURN_IF_ERROR(storage::TakeReportSnapshot(*store, kStart));
  times->snap1_s = absl::ToDoubleSeconds(absl::Now() - t0);

  // A third of the book moves: every sixth case pays in full (cured), every
  // sixth but one pays half.
  t0 = absl::Now();
  RETURN_IF_ERROR(store->Write([](storage::UnitOfWork& uow) { return uow.SetBusinessDate(kEnd); }));
  RETURN_IF_ERROR(RunChunks(*store, n, [&](storage::UnitOfWork& uow, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i <= hi; ++i) {
      if (i % 6 > 1) continue;
      ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(i));
      if (!c) return absl::InternalError(absl::StrCat("case ", i, " is missing"));
      const v1::OverdueAmounts& o = c->overdue();
      const int64_t owed = o.principal_fen() + o.interest_fen() + o.penalty_fen();
      v1::CaseEvent e;
      *e.mutable_business_date() = workflow::DayToProto(kEnd - 10);
      e.set_actor("ingest:bench");
      e.mutable_payment()->set_payment_id(absl::StrCat("P", i));
      e.mutable_payment()->set_amount_fen(i % 6 == 0 ? owed : owed / 2);
      ASSIGN_OR_RETURN(workflow::Transition t, workflow::Decide(*c, e, policy, now));
      RETURN_IF_ERROR(uow.Apply(t, c->version()));
    }
    return absl::OkStatus();
  }));
  times->pay_s = absl::ToDoubleSeconds(absl::Now() - t0);
  t0 = absl::Now();
  RETURN_IF_ERROR(storage::TakeReportSnapshot(*store, kEnd));
  times->snap2_s = absl::ToDoubleSeconds(absl::Now() - t0);
  return absl::OkStatus();
}

// Experiment 1 with three arms (80/10/10), every case assigned its arm by
// the loan hash on kStart (its case_arms row, as an import in an experiment
// writes it), unless the book already has it (--reuse).
absl::Status AssignExperiment(storage::Store* store, int64_t n, double* seconds) {
  ASSIGN_OR_RETURN(std::optional<v1::Experiment> existing, storage::GetExperiment(*store, 1));
  if (existing) return absl::OkStatus();
  v1::Experiment e;
  e.set_name("bench");
  e.set_state(v1::EXPERIMENT_STATE_RUNNING);
  for (int share : {8000, 1000, 1000}) {
    v1::ExperimentArm* arm = e.add_arms();
    arm->set_policy_version(1);
    arm->set_share_bp(share);
  }
  RETURN_IF_ERROR(workflow::ValidateNewExperiment(e));
  RETURN_IF_ERROR(
      store->Write([&e](storage::UnitOfWork& uow) { return storage::InsertExperiment(uow, e); }));
  const absl::Time t0 = absl::Now();
  RETURN_IF_ERROR(RunChunks(*store, n, [&](storage::UnitOfWork& uow, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i <= hi; ++i) {
      storage::CaseArm row;
      row.case_id = i;
      row.experiment_id = e.experiment_id();
      row.arm = workflow::ArmForBucket(
          e, workflow::AssignmentBucket(e.experiment_id(), absl::StrCat("L", i)));
      row.day = kStart;
      row.bucket = 1;
      RETURN_IF_ERROR(storage::RecordCaseArm(uow, row));
    }
    return absl::OkStatus();
  }));
  *seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  return absl::OkStatus();
}

absl::Status Main() {
  const int64_t n = absl::GetFlag(FLAGS_cases);
  std::string db = absl::GetFlag(FLAGS_db);
  std::string file;
  if (db.empty()) {
    const char* tmp = getenv("TMPDIR");
    file = absl::StrCat(tmp ? tmp : "/tmp", "/collections-report-bench-", getpid(), ".db");
    db = absl::StrCat("sqlite3://db=", file, " timeout=30");
  }
  storage::StoreOptions options;
  options.connection = db;
  const absl::Time opening = absl::Now();
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store, storage::Store::Open(options));
  // With --reuse on an older book: the migrations it needed.
  const double open_s = absl::ToDoubleSeconds(absl::Now() - opening);
  const v1::Policy policy = workflow::DefaultPolicy();
  BuildTimes built;
  if (!absl::GetFlag(FLAGS_reuse)) {
    RETURN_IF_ERROR(BuildBook(store.get(), n, policy, &built));
  } else {
    // The end day's snapshot again (it replaces itself): what a day's run
    // adds for the reports.
    const absl::Time t0 = absl::Now();
    RETURN_IF_ERROR(storage::TakeReportSnapshot(*store, kEnd));
    built.snap2_s = absl::ToDoubleSeconds(absl::Now() - t0);
  }

  // Every report under each filter and period: the whole book over days
  // 1-31, each filter over the same days, the same days to "today" (the
  // end book live, as ReportService asks when `to` is the business date),
  // one day, and 90 days (most before the book's data).
  storage::ReportQuery q;
  q.from = kStart;
  q.to = kEnd;
  q.now = absl::Now();
  struct Variant {
    const char* name;
    storage::ReportQuery query;
  };
  std::vector<Variant> variants;
  variants.push_back({"days 1-31", q});
  variants.push_back({"region", q});
  variants.back().query.region = "R7";
  variants.push_back({"product", q});
  variants.back().query.product = "consumer";
  variants.push_back({"queue", q});
  variants.back().query.queue = "call.counselling";
  variants.push_back({"policy version", q});
  variants.back().query.policy_version = 1;
  variants.push_back({"to today (live)", q});
  variants.back().query.today = kEnd;
  variants.push_back({"region, live", variants.back().query});
  variants.back().query.region = "R7";
  variants.push_back({"one day", q});
  variants.back().query.from = kEnd;
  variants.push_back({"90 days, live", q});
  variants.back().query.from = kEnd - 89;
  variants.back().query.today = kEnd;
  const int runs = absl::GetFlag(FLAGS_runs);
  int64_t book = 0, cells = 0;
  struct Report {
    const char* name;
    std::function<absl::Status(const storage::ReportQuery&)> read;
  };
  const std::vector<Report> reports = {
      {"portfolio",
       [&](const storage::ReportQuery& r) -> absl::Status {
         ASSIGN_OR_RETURN(v1::PortfolioReport p, storage::ReadPortfolio(*store, r));
         if (r.product.empty() && r.region.empty() && r.queue.empty()) book = p.cases();
         return absl::OkStatus();
       }},
      {"roll rates",
       [&](const storage::ReportQuery& r) -> absl::Status {
         ASSIGN_OR_RETURN(v1::RollRateReport p, storage::ReadRollRates(*store, r));
         cells = std::max<int64_t>(cells, p.cells_size());
         return absl::OkStatus();
       }},
      {"stage funnel",
       [&](const storage::ReportQuery& r) { return storage::ReadStageFunnel(*store, r).status(); }},
      {"effectiveness",
       [&](const storage::ReportQuery& r) {
         return storage::ReadEffectiveness(*store, r).status();
       }},
      {"overdue reasons",
       [&](const storage::ReportQuery& r) {
         return storage::ReadOverdueReasons(*store, r).status();
       }},
      {"agents",
       [&](const storage::ReportQuery& r) {
         return storage::ReadAgentProductivity(*store, r).status();
       }},
      {"sla", [&](const storage::ReportQuery& r) {
         return storage::ReadSlaBreaches(*store, r).status();
       }}};
  struct Timed {
    std::string report, variant;
    Timing t;
  };
  std::vector<Timed> timings;
  for (const Report& report : reports) {
    for (const Variant& v : variants) {
      ASSIGN_OR_RETURN(Timing t, Time(runs, [&] { return report.read(v.query); }));
      timings.push_back({report.name, v.name, t});
    }
  }

  double assign_s = 0;
  std::optional<Timing> experiment;
  std::vector<storage::ArmTotals> arms;
  if (absl::GetFlag(FLAGS_experiment)) {
    RETURN_IF_ERROR(AssignExperiment(store.get(), n, &assign_s));
    ASSIGN_OR_RETURN(experiment, Time(runs, [&]() -> absl::Status {
                       ASSIGN_OR_RETURN(arms, storage::ExperimentArmTotals(*store, 1, kEnd, 30));
                       return absl::OkStatus();
                     }));
  }

  std::printf("backend            %s\n",
              store->backend() == storage::Backend::kSqlite ? "sqlite3" : "postgresql");
  std::printf("store opened       %.1f s (migrations included)\n", open_s);
  std::printf("cases              %lld (open at the end: %lld)\n", static_cast<long long>(n),
              static_cast<long long>(book));
  std::printf("open cases         %.1f s (%.0f cases/s, Decide + Apply through the writer)\n",
              built.open_s, n / std::max(built.open_s, 1e-9));
  std::printf("snapshot, day 1    %.1f s\n", built.snap1_s);
  std::printf("payments           %.1f s (%lld cases)\n", built.pay_s,
              static_cast<long long>(n / 3));
  std::printf("snapshot, day 31   %.1f s\n", built.snap2_s);
  auto row = [](absl::string_view name, const Timing& t) {
    std::printf("%-36s first %7.1f ms   median %7.1f ms   best %7.1f ms   cpu %7.1f ms\n",
                std::string(name).c_str(), t.first_ms, t.median_ms, t.best_ms, t.cpu_ms);
  };
  for (const Timed& t : timings) row(absl::StrCat(t.report, ", ", t.variant), t.t);
  std::printf("(roll-rate cells: %lld; %d runs each)\n", static_cast<long long>(cells), runs);
  if (experiment) {
    std::printf("experiment arms    assigned in %.1f s\n", assign_s);
    row("experiment report", *experiment);
    for (const storage::ArmTotals& a : arms) {
      std::printf("  arm %d: %lld cases, %lld cured, %lld rolled, %lld fen recovered\n", a.arm,
                  static_cast<long long>(a.cases), static_cast<long long>(a.cured),
                  static_cast<long long>(a.rolled), static_cast<long long>(a.recovered_fen));
    }
  }
  store.reset();
  if (!file.empty() && absl::GetFlag(FLAGS_keep)) {
    std::printf("kept %s\n", file.c_str());
  } else if (!file.empty()) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((file + suffix).c_str());
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace collections

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "times every report of ReportService on a large book; see bench/RESULTS.md");
  absl::ParseCommandLine(argc, argv);
  absl::Status s = collections::Main();
  if (!s.ok()) {
    std::fprintf(stderr, "collections-report-bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
