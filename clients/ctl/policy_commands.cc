// collectionsctl's policy commands: get, put, versions, migrate, simulate.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/ctl/commands.h"
#include "collections/v1/policy_service.grpc.pb.h"

namespace collections::ctl {

int PolicyGet(Run& run) {
  int64_t version = 0;
  int exit = kOk;
  if (!StoredVersionFlag(run, "a policy prints as textproto (table) or json", &version, &exit)) {
    return exit;
  }
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::GetPolicyRequest request;
  request.set_version(version);
  v1::GetPolicyResponse out;
  auto context = run.Context();
  grpc::Status s = stub->GetPolicy(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  // The text is ready to edit and `policy put` again: without the stored version.
  const std::string text =
      StoredMessageText(run.format, out.policy(),
                        absl::StrCat("policy version ", out.policy().version()), {"version"});
  if (run.args.Has("out")) {
    std::ofstream file(run.args.Get("out"), std::ios::trunc);
    file << text;
    if (!file) {
      run.err << "collectionsctl policy get: cannot write " << run.args.Get("out") << "\n";
      return kBadUsage;
    }
    return kOk;
  }
  run.out << text;
  return kOk;
}

namespace {

// Reads a policy textproto for `command`; false (after saying why) when it
// cannot be read or parsed.
bool ReadPolicyFile(Run& run, const std::string& command, const std::string& path,
                    v1::Policy* policy) {
  if (!ReadTextProtoFile(run, command, path, policy)) return false;
  policy->clear_version();
  return true;
}

}  // namespace

int PolicyPut(Run& run) {
  if (run.args.positional().size() != 1) return run.Usage("name one policy file (textproto)");
  v1::PutPolicyRequest request;
  if (!ReadPolicyFile(run, "policy put", run.args.positional()[0], request.mutable_policy())) {
    return kBadUsage;
  }
  request.mutable_policy()->clear_version();
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::PutPolicyResponse out;
  auto context = run.Context();
  grpc::Status s = stub->PutPolicy(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"version", Kind::kInt}, {"name", Kind::kText}, {"stored", Kind::kText}}, {}};
  t.Add({Cell::Int(out.policy().version()), Cell::Text(out.policy().name()),
         Cell::Text(out.unchanged() ? "no (equal to the current version)" : "yes")});
  return run.Print({"policy", "Policy", {}, {{"policy", "", t}}});
}

int PolicyVersions(Run& run) {
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::ListPolicyVersionsResponse out;
  auto context = run.Context();
  grpc::Status s = stub->ListPolicyVersions(context.get(), {}, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"version", Kind::kInt},
           {"name", Kind::kText},
           {"open_cases", Kind::kInt},
           {"current", Kind::kText},
           {"created_at", Kind::kText}},
          {}};
  for (const v1::PolicyVersion& v : out.versions()) {
    t.Add({Cell::Int(v.version()), Cell::Text(v.name()), Cell::Int(v.open_cases()),
           Cell::Text(v.version() == out.current() ? "yes" : ""),
           Cell::Text(absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                       absl::FromUnixSeconds(v.created_at().seconds()),
                                       absl::UTCTimeZone()))});
  }
  return run.Print({"policy-versions", "Policy versions", {}, {{"versions", "", t}}});
}

int PolicyMigrate(Run& run) {
  v1::MigrateCasesRequest request;
  absl::StatusOr<int64_t> to = run.args.Int("to", 0), from = run.args.Int("from", 0);
  if (!to.ok()) return run.Usage(std::string(to.status().message()));
  if (!from.ok()) return run.Usage(std::string(from.status().message()));
  request.set_to_version(*to);
  request.set_from_version(*from);
  for (absl::string_view id : absl::StrSplit(run.args.Get("cases"), ',', absl::SkipEmpty())) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(id, &n))
      return run.Usage(absl::StrCat("--cases: \"", id, "\" is not a case id"));
    request.add_case_ids(n);
  }
  if ((*from == 0) == request.case_ids().empty()) {
    return run.Usage("give --from=VERSION (every open case of it) or --cases=ID,ID,...");
  }
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::MigrateCasesResponse out;
  auto context = run.Context(std::max(run.timeout, absl::Hours(1)));
  grpc::Status s = stub->MigrateCases(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"to_version", Kind::kInt},
           {"migrated", Kind::kInt},
           {"skipped", Kind::kInt},
           {"failed", Kind::kInt}},
          {}};
  t.Add({Cell::Int(out.to_version()), Cell::Int(out.migrated()), Cell::Int(out.skipped()),
         Cell::Int(out.failed())});
  Table errors{{{"case_id", Kind::kInt}, {"problem", Kind::kText}}, {}};
  for (const auto& e : out.errors()) errors.Add({Cell::Int(e.case_id()), Cell::Text(e.message())});
  const int printed =
      run.Print({"migration", "Migration", {}, {{"result", "", t}, {"failed", "Failed", errors}}});
  return printed != kOk ? printed : out.failed() > 0 ? kRefused : kOk;
}

int PolicySimulate(Run& run) {
  v1::SimulatePolicyRequest request;
  absl::StatusOr<int64_t> days = run.args.Int("days", 90), seed = run.args.Int("seed", 1),
                          version = run.args.Int("version", 0),
                          history = run.args.Int("history_days", 0);
  for (const auto* v : {&days, &seed, &version, &history}) {
    if (!v->ok()) return run.Usage(std::string(v->status().message()));
  }
  if (run.args.Has("policy") == (*version != 0)) {
    return run.Usage("give --policy=FILE (a candidate) or --version=N (a stored one)");
  }
  if (run.args.Has("policy") &&
      !ReadPolicyFile(run, "policy simulate", run.args.Get("policy"), request.mutable_policy())) {
    return kBadUsage;
  }
  request.set_version(*version);
  request.set_days(static_cast<int32_t>(*days));
  request.set_seed(static_cast<uint64_t>(*seed));
  request.set_history_days(static_cast<int32_t>(*history));
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::SimulatePolicyResponse out;
  auto context = run.Context(std::max(run.timeout, absl::Hours(1)));
  grpc::Status s = stub->SimulatePolicy(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);

  const int64_t per_agent = out.agent_minutes_per_day();
  auto queue_totals = [](const v1::SimulatedFigures& f) {
    v1::SimulatedQueue all;
    for (const v1::SimulatedQueue& q : f.queues()) {
      all.set_tasks_created(all.tasks_created() + q.tasks_created());
      all.set_handling_minutes(all.handling_minutes() + q.handling_minutes());
      all.set_cost_fen(all.cost_fen() + q.cost_fen());
    }
    return all;
  };
  Table days_table{{{"day", Kind::kText},
                    {"tasks_candidate", Kind::kInt},
                    {"tasks_current", Kind::kInt},
                    {"agents_candidate", Kind::kRatio},
                    {"agents_current", Kind::kRatio},
                    {"cost_candidate", Kind::kMoney},
                    {"cost_current", Kind::kMoney},
                    {"max_contacts_per_borrower_candidate", Kind::kInt},
                    {"max_contacts_per_borrower_current", Kind::kInt},
                    {"deferred_by_caps_candidate", Kind::kInt},
                    {"deferred_by_caps_current", Kind::kInt},
                    {"entered_legal_candidate", Kind::kInt},
                    {"entered_legal_current", Kind::kInt},
                    {"handoffs_candidate", Kind::kInt},
                    {"handoffs_current", Kind::kInt},
                    {"recovered_candidate", Kind::kMoney},
                    {"recovered_current", Kind::kMoney},
                    {"open_cases_candidate", Kind::kInt},
                    {"open_cases_current", Kind::kInt}},
                   {}};
  Table queues_table{{{"day", Kind::kText},
                      {"queue", Kind::kText},
                      {"tasks_candidate", Kind::kInt},
                      {"tasks_current", Kind::kInt},
                      {"agents_candidate", Kind::kRatio},
                      {"agents_current", Kind::kRatio},
                      {"cost_candidate", Kind::kMoney},
                      {"cost_current", Kind::kMoney}},
                     {}};
  for (const v1::SimulatedDay& d : out.days()) {
    const std::string day =
        absl::StrFormat("%04d-%02d-%02d", d.day().year(), d.day().month(), d.day().day());
    const v1::SimulatedFigures& a = d.candidate();
    const v1::SimulatedFigures& b = d.current();
    const v1::SimulatedQueue ta = queue_totals(a), tb = queue_totals(b);
    days_table.Add({Cell::Text(day), Cell::Int(ta.tasks_created()), Cell::Int(tb.tasks_created()),
                    Cell::Rate(ta.handling_minutes(), per_agent),
                    Cell::Rate(tb.handling_minutes(), per_agent), Cell::Money(ta.cost_fen()),
                    Cell::Money(tb.cost_fen()), Cell::Int(a.max_contacts_per_borrower()),
                    Cell::Int(b.max_contacts_per_borrower()), Cell::Int(a.deferred_by_caps()),
                    Cell::Int(b.deferred_by_caps()), Cell::Int(a.entered_legal()),
                    Cell::Int(b.entered_legal()), Cell::Int(a.handoffs()), Cell::Int(b.handoffs()),
                    Cell::Money(a.recovered_fen()), Cell::Money(b.recovered_fen()),
                    Cell::Int(a.open_cases()), Cell::Int(b.open_cases())});
    // Every queue either policy uses, by name.
    std::map<std::string, std::pair<v1::SimulatedQueue, v1::SimulatedQueue>> queues;
    for (const v1::SimulatedQueue& q : a.queues()) queues[q.queue()].first = q;
    for (const v1::SimulatedQueue& q : b.queues()) queues[q.queue()].second = q;
    for (const auto& [name, pair] : queues) {
      const auto& [qa, qb] = pair;
      queues_table.Add({Cell::Text(day), Cell::Text(name), Cell::Int(qa.tasks_created()),
                        Cell::Int(qb.tasks_created()), Cell::Rate(qa.handling_minutes(), per_agent),
                        Cell::Rate(qb.handling_minutes(), per_agent), Cell::Money(qa.cost_fen()),
                        Cell::Money(qb.cost_fen())});
    }
  }
  Table rates{{{"case_class", Kind::kText},
               {"stage", Kind::kText},
               {"reached", Kind::kRate},
               {"promise", Kind::kRate},
               {"promise_kept", Kind::kRate},
               {"plan", Kind::kRate},
               {"plan_break", Kind::kRate},
               {"cure_per_day", Kind::kRate},
               {"observations", Kind::kInt}},
              {}};
  constexpr int64_t kMillion = 1'000'000;
  for (const v1::SimulationRates& r : out.rates()) {
    const bool wide = r.case_class() == v1::CASE_CLASS_UNSPECIFIED;
    rates.Add({Cell::Text(wide ? "(book)" : v1::CaseClass_Name(r.case_class())),
               Cell::Text(wide ? "(all)" : v1::Stage_Name(r.stage())),
               Cell::Rate(r.reached_ppm(), kMillion), Cell::Rate(r.promise_ppm(), kMillion),
               Cell::Rate(r.promise_kept_ppm(), kMillion), Cell::Rate(r.plan_ppm(), kMillion),
               Cell::Rate(r.plan_break_ppm(), kMillion), Cell::Rate(r.cure_ppm(), kMillion),
               Cell::Int(r.observations())});
  }
  const std::string start =
      absl::StrFormat("%04d-%02d-%02d", out.start().year(), out.start().month(), out.start().day());
  return run.Print(
      {"policy-simulation",
       "What-if simulation: candidate vs current policy",
       {{"start", start},
        {"days", absl::StrCat(out.days_size())},
        {"cases", absl::StrCat(out.cases())},
        {"seed", absl::StrCat(out.seed())},
        {"candidate", out.candidate_version() == 0
                          ? run.args.Get("policy")
                          : absl::StrCat("version ", out.candidate_version())},
        {"current", absl::StrCat("version ", out.current_version())},
        {"call_cap_per_day_candidate", absl::StrCat(out.candidate_max_call_attempts_per_day())},
        {"call_cap_per_day_current", absl::StrCat(out.current_max_call_attempts_per_day())},
        {"agent_minutes_per_day", absl::StrCat(per_agent)}},
       {{"days", "Per day (candidate vs current)", days_table},
        {"queues", "Per day and queue", queues_table},
        {"rates", "Behaviour rates drawn from the book's history", rates}}});
}

}  // namespace collections::ctl
