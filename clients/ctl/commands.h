// collectionsctl's commands, one group per file: what the command table in
// collectionsctl_main.cc calls. Each takes the command's Run and returns its
// exit status (command.h); each runs on the calling thread and blocks on
// its RPCs.
#ifndef COLLECTIONS_CLIENTS_CTL_COMMANDS_H_
#define COLLECTIONS_CLIENTS_CTL_COMMANDS_H_

#include <optional>
#include <string>
#include <vector>

#include "clients/ctl/command.h"
#include "clients/ctl/report_views.h"
#include "collections/v1/report_service.grpc.pb.h"

namespace collections::ctl {

// --- Reports (report_commands.cc) ---

// The flags every report command takes.
const std::vector<Flag>& ReportFlags();

// The request from the report flags; false with *exit set on bad input.
bool ReportRequestOf(Run& run, v1::ReportRequest* r, int* exit);

// --html=FILE: the page for `set`; kOk, or kBadUsage when it cannot be
// written.
int WriteHtml(Run& run, const ReportSet& set, const v1::ReportRequest& request);
// The same with the filters given as text.
int WriteHtmlPage(Run& run, const ReportSet& set, const std::vector<std::string>& filters);

// One report: fetch, then print it or write the page.
template <typename Report>
Command ReportCommand(const std::string& name, const std::string& summary,
                      const std::string& details,
                      grpc::Status (v1::ReportService::Stub::*rpc)(grpc::ClientContext*,
                                                                   const v1::ReportRequest&,
                                                                   Report*),
                      std::optional<Report> ReportSet::*slot) {
  return {
      "report " + name, "[flags]", summary, details, ReportFlags(), [rpc, slot](Run& run) -> int {
        v1::ReportRequest request;
        int exit = kOk;
        if (!ReportRequestOf(run, &request, &exit)) return exit;
        auto stub = v1::ReportService::NewStub(run.Channel());
        Report report;
        auto context = run.Context();
        grpc::Status s = ((*stub).*rpc)(context.get(), request, &report);
        if (!s.ok()) return run.Failed(s);
        if (run.args.Has("html")) {
          ReportSet set;
          set.*slot = report;
          return WriteHtml(run, set, request);
        }
        return run.Print(View(report));
      }};
}

// report all: every report for the same period and filters.
int ReportAll(Run& run);

// --- Cases (case_commands.cc) ---

int CaseShow(Run& run);
int CaseList(Run& run);

// --- The overdue feed (import_command.cc) ---

int Import(Run& run);

// --- Payments and signals (payment_commands.cc) ---

int Pay(Run& run);
int SignalCase(Run& run);

// --- Policies (policy_commands.cc) ---

int PolicyGet(Run& run);
int PolicyPut(Run& run);
int PolicyVersions(Run& run);
int PolicyMigrate(Run& run);
int PolicySimulate(Run& run);

// --- Experiments (experiment_commands.cc) ---

int ExperimentCreate(Run& run);
int ExperimentList(Run& run);
int ExperimentShow(Run& run);
// pause or resume, by run.command.
int ExperimentAction(Run& run);
int ExperimentEnd(Run& run);
// Exit status 1 when some cases failed to move.
int ExperimentRollBack(Run& run);
// report experiment: the table, CSV, JSON, or --html.
int ReportExperiment(Run& run);

// --- The access rules (access_commands.cc) ---

int AccessShow(Run& run);
int AccessPut(Run& run);

// --- The business date (date_command.cc) ---

int DateAdvance(Run& run);

// --- The audit log (audit_commands.cc) ---

int AuditList(Run& run);
// Exit 0 when the chain is intact, kRefused (1) naming the first broken row.
int AuditVerify(Run& run);

}  // namespace collections::ctl

#endif  // COLLECTIONS_CLIENTS_CTL_COMMANDS_H_
