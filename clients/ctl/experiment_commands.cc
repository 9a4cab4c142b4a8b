// collectionsctl's experiment commands: create, list, show, pause, resume,
// end, rollback (ExperimentService), and `report experiment`
// (ReportService.ExperimentReport).
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "clients/ctl/commands.h"
#include "collections/v1/experiment_service.grpc.pb.h"

namespace collections::ctl {
namespace {

std::string StateText(int state) {
  return absl::AsciiStrToLower(absl::StripPrefix(
      v1::ExperimentState_Name(static_cast<v1::ExperimentState>(state)), "EXPERIMENT_STATE_"));
}

std::vector<std::string> ListFlag(const Run& run, const std::string& name) {
  return absl::StrSplit(run.args.Get(name), ',', absl::SkipEmpty());
}

// One experiment: what it is, and its arms.
Document ExperimentDoc(const v1::Experiment& e) {
  Document doc{
      "experiment", absl::StrCat("Experiment ", e.experiment_id(), ": ", e.name()), {}, {}};
  Table t{{{"experiment_id", Kind::kInt},
           {"name", Kind::kText},
           {"state", Kind::kText},
           {"start", Kind::kText},
           {"end", Kind::kText},
           {"classes", Kind::kText},
           {"products", Kind::kText},
           {"regions", Kind::kText},
           {"winner", Kind::kText},
           {"winner_policy_version", Kind::kInt},
           {"created_by", Kind::kText}},
          {}};
  std::vector<std::string> classes;
  for (int c : e.scope().classes()) classes.push_back(ClassText(c));
  t.Add({Cell::Int(e.experiment_id()), Cell::Text(e.name()), Cell::Text(StateText(e.state())),
         Cell::Text(DateText(e.start_date())), Cell::Text(DateText(e.end_date())),
         Cell::Text(absl::StrJoin(classes, ",")),
         Cell::Text(absl::StrJoin(e.scope().products(), ",")),
         Cell::Text(absl::StrJoin(e.scope().regions(), ",")), Cell::Text(e.winner()),
         Cell::Int(e.winner_policy_version()), Cell::Text(e.created_by())});
  doc.sections.push_back({"experiment", "", t});
  Table arms{{{"arm", Kind::kText}, {"policy_version", Kind::kInt}, {"share", Kind::kRate}}, {}};
  for (const v1::ExperimentArm& a : e.arms()) {
    arms.Add(
        {Cell::Text(a.name()), Cell::Int(a.policy_version()), Cell::Rate(a.share_bp(), 10000)});
  }
  doc.sections.push_back({"arms", "Arms", arms});
  return doc;
}

bool IdFlag(Run& run, int64_t* id, int* exit) {
  absl::StatusOr<int64_t> v = run.args.Int("id", 0);
  if (!v.ok() || *v <= 0) {
    *exit = run.Usage("--id=N (the experiment) is required");
    return false;
  }
  *id = *v;
  return true;
}

// Fills the experiment id and request id every write on one experiment
// carries; false (with *exit set) when --id is missing.
template <typename Request>
bool WriteOn(Run& run, Request* request, int* exit) {
  int64_t id = 0;
  if (!IdFlag(run, &id, exit)) return false;
  request->set_experiment_id(id);
  request->set_request_id(RequestIdOf(run));
  return true;
}

}  // namespace

int ExperimentCreate(Run& run) {
  v1::CreateExperimentRequest request;
  request.set_request_id(RequestIdOf(run));
  v1::Experiment& e = *request.mutable_experiment();
  e.set_name(run.args.Get("name"));
  if (e.name().empty()) return run.Usage("--name is required");
  absl::StatusOr<int64_t> champion = run.args.Int("champion", 0);
  if (!champion.ok()) return run.Usage(std::string(champion.status().message()));
  v1::ExperimentArm* champion_arm = e.add_arms();
  champion_arm->set_name("champion");
  champion_arm->set_policy_version(*champion);
  int challengers_bp = 0;
  for (const std::string& spec : ListFlag(run, "challengers")) {
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    int64_t version = 0;
    int32_t bp = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &version) ||
        !absl::SimpleAtoi(parts[1], &bp)) {
      return run.Usage(absl::StrCat("--challengers: \"", spec,
                                    "\" is not VERSION:BASIS_POINTS (e.g. 2:1000 for 10 %)"));
    }
    v1::ExperimentArm* arm = e.add_arms();
    arm->set_policy_version(version);
    arm->set_share_bp(bp);
    challengers_bp += bp;
  }
  if (e.arms_size() < 2) return run.Usage("--challengers=VERSION:BP[,VERSION:BP] is required");
  champion_arm->set_share_bp(10000 - challengers_bp);
  for (const std::string& c : ListFlag(run, "classes")) {
    v1::CaseClass cls;
    if (!ParseEnum(c, "CASE_CLASS_", &v1::CaseClass_Parse, &cls)) {
      return run.Usage(absl::StrCat("--classes: \"", c, "\" is not mild, moderate or severe"));
    }
    e.mutable_scope()->add_classes(cls);
  }
  for (const std::string& p : ListFlag(run, "products")) e.mutable_scope()->add_products(p);
  for (const std::string& r : ListFlag(run, "regions")) e.mutable_scope()->add_regions(r);
  int exit = kOk;
  if (!DateFlag(run, "start", e.mutable_start_date(), &exit)) return exit;
  if (!DateFlag(run, "end", e.mutable_end_date(), &exit)) return exit;
  auto stub = v1::ExperimentService::NewStub(run.Channel());
  v1::ExperimentAnswer out;
  auto context = run.Context();
  grpc::Status s = stub->CreateExperiment(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  return run.Print(ExperimentDoc(out.experiment()));
}

int ExperimentList(Run& run) {
  auto stub = v1::ExperimentService::NewStub(run.Channel());
  v1::ListExperimentsResponse out;
  auto context = run.Context();
  grpc::Status s = stub->ListExperiments(context.get(), {}, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"experiment_id", Kind::kInt},
           {"name", Kind::kText},
           {"state", Kind::kText},
           {"arms", Kind::kText},
           {"start", Kind::kText},
           {"end", Kind::kText},
           {"winner", Kind::kText}},
          {}};
  for (const v1::Experiment& e : out.experiments()) {
    std::vector<std::string> arms;
    for (const v1::ExperimentArm& a : e.arms()) {
      arms.push_back(absl::StrCat(a.name(), "=v", a.policy_version(), " ",
                                  FormatPercent(a.share_bp(), 10000)));
    }
    t.Add({Cell::Int(e.experiment_id()), Cell::Text(e.name()), Cell::Text(StateText(e.state())),
           Cell::Text(absl::StrJoin(arms, "; ")), Cell::Text(DateText(e.start_date())),
           Cell::Text(DateText(e.end_date())), Cell::Text(e.winner())});
  }
  return run.Print({"experiments", "Experiments", {}, {{"experiments", "", t}}});
}

int ExperimentShow(Run& run) {
  int64_t id = 0;
  int exit = kOk;
  if (!run.args.Has("id") && run.args.positional().size() == 1) {
    if (!absl::SimpleAtoi(run.args.positional()[0], &id) || id <= 0) {
      return run.Usage("name one experiment id");
    }
  } else if (!IdFlag(run, &id, &exit)) {
    return exit;
  }
  auto stub = v1::ExperimentService::NewStub(run.Channel());
  v1::GetExperimentRequest request;
  request.set_experiment_id(id);
  v1::ExperimentAnswer out;
  auto context = run.Context();
  grpc::Status s = stub->GetExperiment(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  return run.Print(ExperimentDoc(out.experiment()));
}

int ExperimentAction(Run& run) {
  v1::ExperimentActionRequest request;
  int exit = kOk;
  if (!WriteOn(run, &request, &exit)) return exit;
  auto stub = v1::ExperimentService::NewStub(run.Channel());
  v1::ExperimentAnswer out;
  auto context = run.Context();
  grpc::Status s;
  if (run.command == "experiment pause") {
    s = stub->PauseExperiment(context.get(), request, &out);
  } else {
    s = stub->ResumeExperiment(context.get(), request, &out);
  }
  if (!s.ok()) return run.Failed(s);
  return run.Print(ExperimentDoc(out.experiment()));
}

int ExperimentEnd(Run& run) {
  v1::EndExperimentRequest request;
  int exit = kOk;
  if (!WriteOn(run, &request, &exit)) return exit;
  request.set_winner(run.args.Get("winner"));
  if (request.winner().empty()) return run.Usage("--winner=ARM is required (e.g. challenger-1)");
  auto stub = v1::ExperimentService::NewStub(run.Channel());
  v1::ExperimentAnswer out;
  auto context = run.Context();
  grpc::Status s = stub->EndExperiment(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  return run.Print(ExperimentDoc(out.experiment()));
}

int ExperimentRollBack(Run& run) {
  v1::ExperimentActionRequest request;
  int exit = kOk;
  if (!WriteOn(run, &request, &exit)) return exit;
  auto stub = v1::ExperimentService::NewStub(run.Channel());
  v1::RollBackExperimentResponse out;
  auto context = run.Context(std::max(run.timeout, absl::Hours(1)));
  grpc::Status s = stub->RollBackExperiment(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  Document doc = ExperimentDoc(out.experiment());
  Table t{{{"moved", Kind::kInt}, {"skipped", Kind::kInt}, {"failed", Kind::kInt}}, {}};
  t.Add({Cell::Int(out.moved()), Cell::Int(out.skipped()), Cell::Int(out.failed())});
  doc.sections.push_back({"rollback", "Roll-back", t});
  Table errors{{{"case_id", Kind::kInt}, {"problem", Kind::kText}}, {}};
  for (const auto& e : out.errors()) errors.Add({Cell::Int(e.case_id()), Cell::Text(e.message())});
  doc.sections.push_back({"failed", "Failed", errors});
  const int printed = run.Print(doc);
  return printed != kOk ? printed : out.failed() > 0 ? kRefused : kOk;
}

int ReportExperiment(Run& run) {
  v1::ExperimentReportRequest request;
  int64_t id = 0;
  int exit = kOk;
  if (!IdFlag(run, &id, &exit)) return exit;
  request.set_experiment_id(id);
  absl::StatusOr<int64_t> window = run.args.Int("cure_window_days", 0);
  if (!window.ok()) return run.Usage(std::string(window.status().message()));
  request.set_cure_window_days(static_cast<int32_t>(*window));
  auto stub = v1::ReportService::NewStub(run.Channel());
  v1::ExperimentReportAnswer report;
  auto context = run.Context();
  grpc::Status s = stub->ExperimentReport(context.get(), request, &report);
  if (!s.ok()) return run.Failed(s);
  if (run.args.Has("html")) {
    ReportSet set;
    set.experiment = report;
    return WriteHtmlPage(run, set, {absl::StrCat("experiment ", id)});
  }
  return run.Print(View(report));
}

}  // namespace collections::ctl
