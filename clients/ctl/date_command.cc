// collectionsctl date advance: moves the business date on.
#include "absl/time/time.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/report_views.h"
#include "collections/v1/case_service.grpc.pb.h"

namespace collections::ctl {

int DateAdvance(Run& run) {
  v1::AdvanceBusinessDateRequest request;
  if (!run.args.Has("to")) return run.Usage("--to=DATE is required (e.g. --to=2026-12-01)");
  int exit = kOk;
  if (!DateFlag(run, "to", request.mutable_to(), &exit)) return exit;
  auto stub = v1::CaseService::NewStub(run.Channel());
  v1::AdvanceBusinessDateResponse out;
  auto context = run.Context(run.args.Has("timeout") ? run.timeout : absl::Hours(1));
  grpc::Status s = stub->AdvanceBusinessDate(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"business_date", Kind::kText},
           {"cases_aged", Kind::kInt},
           {"stage_changes", Kind::kInt},
           {"timers_fired", Kind::kInt}},
          {}};
  t.Add({Cell::Text(DateText(out.business_date())), Cell::Int(out.cases_aged()),
         Cell::Int(out.stage_changes()), Cell::Int(out.timers_fired())});
  return run.Print({"date", "Business date", {}, {{"date", "", t}}});
}

}  // namespace collections::ctl
