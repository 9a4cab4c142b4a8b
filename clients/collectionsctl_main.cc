// collectionsctl: the collection managers' and administrators' command line.
// Workflow reports (as aligned tables, CSV, JSON or one HTML page with
// charts), cases, the overdue feed from a CSV file, payments, signals,
// policies and the business date. It speaks the public contract only
// (collections.v1 over gRPC) and includes nothing of the server.
//
// Exit status, for scripts: 0 done; 1 the server refused the request, or
// its answer is larger than the gRPC message limit (the message says why;
// retrying the same command will not help); 2 bad usage or an unreadable
// input file; 3 an import finished but rejected some rows (listed); 4 the
// server is unreachable or busy (try again).
//
// This file is the command table, the flags of every command, help and
// main(); the commands themselves are in clients/ctl/, one group per file
// (commands.h lists them).
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/common/channel.h"
#include "clients/ctl/args.h"
#include "clients/ctl/command.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/feed_csv.h"
#include "clients/ctl/output.h"
#include "clients/ctl/report_views.h"

namespace collections::ctl {
namespace {

const std::vector<Flag>& GlobalFlags() {
  static const auto* flags = new std::vector<Flag>{
      {"server", "HOST:PORT",
       "collectionsd's address (default $COLLECTIONS_SERVER or 127.0.0.1:50051)"},
      {"format", "FORMAT",
       "table (default, for a terminal), csv (for spreadsheets) or json (for scripts)"},
      {"timeout", "SECONDS", "how long to wait for an answer (default 30; date advance 3600)"},
      {"help", "", "show this help"},
  };
  static const auto* with_connection = [] {
    auto* all = new std::vector<Flag>(*flags);
    const std::vector<Flag>& connection = clients::ConnectionFlags();
    all->insert(all->begin() + 1, connection.begin(), connection.end());
    return all;
  }();
  return *with_connection;
}

// --- The command table ------------------------------------------------------------------

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      ReportCommand<v1::PortfolioReport>(
          "portfolio", "open cases and amounts by class, stage and days past due",
          "The book as of --to: today's computed live from the cases (\"book live\"), a\n"
          "past day's from its daily snapshot (the newest on or before it). The heading\n"
          "says which (as_of, data_from, data_to, book).",
          &v1::ReportService::Stub::Portfolio, &ReportSet::portfolio),
      ReportCommand<v1::StageFunnelReport>(
          "funnel", "cases entering each stage and where they went",
          "Cases that entered each stage in the period and where they stood at its end.",
          &v1::ReportService::Stub::StageFunnel, &ReportSet::funnel),
      ReportCommand<v1::RollRateReport>(
          "roll-rates", "where each days-past-due bucket's cases moved",
          "Each case in a bucket at --from (snapshot) followed to --to (today: the cases\n"
          "as they stand, \"book live\"): the share of cases and of overdue amount per\n"
          "destination bucket, resolved or closed.",
          &v1::ReportService::Stub::RollRates, &ReportSet::roll_rates),
      ReportCommand<v1::EffectivenessReport>(
          "effectiveness", "strategy effectiveness, cost and benefit",
          "Per class, stage and action: cure rate, promise-kept rate, right-party\n"
          "contact rate, money recovered, concessions, cost and recovered per CNY spent.\n"
          "Sections: rows, totals, trend.",
          &v1::ReportService::Stub::StrategyEffectiveness, &ReportSet::effectiveness),
      ReportCommand<v1::OverdueReasonsReport>(
          "reasons", "why borrowers fell overdue", "Sections: rows, trend.",
          &v1::ReportService::Stub::OverdueReasons, &ReportSet::reasons),
      ReportCommand<v1::AgentProductivityReport>(
          "agents", "agent productivity", "Per agent and queue, tasks completed in the period.",
          &v1::ReportService::Stub::AgentProductivity, &ReportSet::agents),
      ReportCommand<v1::SlaReport>(
          "sla", "work past deadline, held back, failed beyond retries",
          "Open work as it is now; completions in the period. Sections: queues, holds.",
          &v1::ReportService::Stub::SlaBreaches, &ReportSet::sla),
      {"report all", "[flags]", "every report; with --html one page with every chart",
       "All seven reports for the same period and filters.", ReportFlags(), ReportAll},
      {"case show",
       "[ID]",
       "a case file: state, events, tasks, payments, plans",
       "Sections: case, events, tasks, payments, plans.",
       {{"case", "ID", "the case id (or give it after the command)"},
        {"loan", "LOAN_ID", "the loan id instead"},
        {"events", "N", "only the N most recent events (default 0: the whole history)"},
        {"page_size", "N", "events fetched per request, 1..500 (default 500)"},
        {"section", "NAME", "--format=csv: which table to print"}},
       CaseShow},
      {"case list",
       "[flags]",
       "cases, filtered",
       "In case id order; days past due as of the current business date.",
       {{"stage", "S[,S...]",
         "reminder, counselling, repayment_plan, legal_action, resolved, closed"},
        {"class", "C[,C...]", "mild, moderate, severe"},
        {"min_dpd", "N", "at least N days past due"},
        {"max_dpd", "N", "at most N days past due"},
        {"queue", "NAME", "assigned to this queue"},
        {"policy_version", "N", "under this policy version"},
        {"limit", "N", "at most N cases (default 100)"}},
       CaseList},
      {"import",
       "FILE.csv",
       "stream the overdue feed from a CSV file",
       absl::StrCat("Each row is sent as it is read; a progress line shows on a terminal.\n"
                    "Rows the file gets wrong, and rows the server rejects, are listed with\n"
                    "their line. Importing a file again is safe (idempotent per loan and date).\n"
                    "Exit status 3 when some rows were rejected.\n\n",
                    kFeedColumnsHelp),
       {},
       Import},
      {"pay",
       "[flags]",
       "record a payment",
       "Allocated to penalty interest, interest, then principal (the policy's order).",
       {{"case", "ID", "the case"},
        {"loan", "LOAN_ID", "or its loan"},
        {"payment_id", "ID", "core banking's payment id (required; repeating it is safe)"},
        {"amount", "CNY", "the amount, e.g. 1500.50 (required)"},
        {"paid_on", "DATE", "default: the current business date"},
        {"channel", "NAME", "e.g. bank_transfer"}},
       Pay},
      {"signal",
       "KIND [flags]",
       "record what was learned about a case",
       "KIND: promise (--amount, --due), hardship, dispute, dispute_resolved\n"
       "(--upheld), cease_contact, bankruptcy, deceased (--date), note (--text).",
       {{"case", "ID", "the case (required)"},
        {"amount", "CNY", "promise: the amount"},
        {"due", "DATE", "promise: the date"},
        {"text", "TEXT", "the reason, resolution, court reference or note"},
        {"upheld", "", "dispute_resolved: the borrower was right"},
        {"date", "DATE", "deceased: date of death"},
        {"request_id", "ID", "makes repeating the command safe"}},
       SignalCase},
      {"policy get",
       "[flags]",
       "print a policy as textproto (or --format=json)",
       "The current policy, or --version. The output can be edited and given to\n"
       "'policy put'.",
       {{"version", "N", "a stored version (default: the current one)"},
        {"out", "FILE", "write to FILE instead of standard output"}},
       PolicyGet},
      {"policy put",
       "FILE",
       "store a new policy version (textproto); new cases get it",
       "Validated by the server; running cases keep their version until migrated.",
       {},
       PolicyPut},
      {"policy versions", "", "stored versions with their open cases", "", {}, PolicyVersions},
      {"policy migrate",
       "[flags]",
       "move cases to a newer policy version",
       "Each move is an event; cases already on the version are skipped, so running\n"
       "it again finishes what is left. Exit status 1 when some cases failed.",
       {{"to", "N", "the version (default: the current one)"},
        {"from", "N", "every open case of this version"},
        {"cases", "ID,ID,...", "or these cases"}},
       PolicyMigrate},
      {"policy simulate",
       "--policy=FILE [flags]",
       "what-if: a candidate policy vs the current one on today's book",
       "Runs every open case forward --days business days in memory under the\n"
       "candidate and under the current policy, with the borrowers' behaviour\n"
       "drawn from the book's own history (seeded: the same seed gives the same\n"
       "figures). Writes nothing. Prints per day and per queue: tasks, the agents\n"
       "their handling times need, costs, contacts per borrower against the call\n"
       "caps, cases reaching legal action, expected recoveries. --section=queues\n"
       "or rates picks a CSV section. Managers and admins.",
       {{"policy", "FILE", "the candidate policy (textproto)"},
        {"version", "N", "or a stored version as the candidate"},
        {"days", "N", "business days to run (default 90, at most 366)"},
        {"seed", "N", "the draws' seed (default 1)"},
        {"history_days", "N", "rates from the last N days of history (default 90)"},
        {"section", "NAME", "--format=csv: days (default), queues or rates"}},
       PolicySimulate},
      {"experiment create",
       "[flags]",
       "start a champion/challenger experiment (admin)",
       "New cases in scope are assigned an arm by a hash of their loan id and opened\n"
       "under its policy version (docs/experiments.md). A challenger may not loosen\n"
       "contact rules or legal safeguards. The champion gets what the challengers\n"
       "leave of 10,000 basis points.",
       {{"name", "TEXT", "what is tested"},
        {"champion", "N", "the champion's policy version (default: the current one)"},
        {"challengers", "V:BP,...", "each challenger's version and share in basis points"},
        {"classes", "C,...", "only cases of these classes (mild, moderate, severe)"},
        {"products", "P,...", "only cases of these products"},
        {"regions", "R,...", "only borrowers of these regions"},
        {"start", "DATE", "first business date assigning (default: today)"},
        {"end", "DATE", "last business date assigning (default: until ended)"},
        {"request_id", "ID", "repeat a create safely (default: a fresh one)"}},
       ExperimentCreate},
      {"experiment list", "", "every experiment, newest first", "", {}, ExperimentList},
      {"experiment show",
       "[ID]",
       "one experiment and its arms",
       "Sections: experiment, arms.",
       {{"id", "N", "the experiment (or give it after the command)"}},
       ExperimentShow},
      {"experiment pause",
       "--id=N",
       "stop assigning new cases (assigned ones keep their arm)",
       "",
       {{"id", "N", "the experiment"}, {"request_id", "ID", "repeat safely"}},
       ExperimentAction},
      {"experiment resume",
       "--id=N",
       "assign new cases again",
       "",
       {{"id", "N", "the experiment"}, {"request_id", "ID", "repeat safely"}},
       ExperimentAction},
      {"experiment end",
       "--id=N --winner=ARM",
       "end it; the winner's policy becomes the one new cases get",
       "Assigned cases keep their arm and version.",
       {{"id", "N", "the experiment"},
        {"winner", "ARM", "the winning arm's name (champion, challenger-1, ...)"},
        {"request_id", "ID", "repeat safely"}},
       ExperimentEnd},
      {"experiment rollback",
       "--id=N",
       "end it and move every open challenger case to the champion",
       "Each move is an experiment_assigned event in the case file. Exit status 1\n"
       "when some cases failed (run it again to finish).",
       {{"id", "N", "the experiment"}, {"request_id", "ID", "repeat safely"}},
       ExperimentRollBack},
      {"report experiment",
       "--id=N",
       "an experiment's arms, and each challenger against the champion",
       "Per arm: cases, cure and roll rates, recovered, cost, legal handoffs,\n"
       "disputes; per challenger and metric the difference with its 95 % interval\n"
       "and a verdict. Sections: arms, comparisons. --html draws each metric.",
       {{"id", "N", "the experiment"},
        {"cure_window_days", "N", "a cure counts within N days of assignment (default 30)"},
        {"html", "FILE", "write one self-contained HTML page with charts instead"},
        {"section", "NAME", "--format=csv: which table to print (default the first)"}},
       ReportExperiment},
      {"access show",
       "[flags]",
       "print the access rules every replica admits by (textproto, or --format=json)",
       "The client-certificate principals and the changes to the method -> roles\n"
       "table, as stored in the database (the token issuer stays in each server's\n"
       "--access_config). The output can be edited and given to 'access put'. Admin.",
       {{"version", "N", "a stored version (default: the current one)"}},
       AccessShow},
      {"access put",
       "--file=FILE",
       "replace the access rules with a new version (textproto); every replica uses it",
       "FILE holds certificates { ... } and methods { ... } entries, as 'access show'\n"
       "prints them. Validated by the server; rules that would leave nobody able to\n"
       "change them again are refused. Every replica admits by the new version\n"
       "within about a second. Admin.",
       {{"file", "FILE", "the rules (textproto)"},
        {"request_id", "ID", "repeat a put safely (default: a fresh one)"}},
       AccessPut},
      {"date advance",
       "--to=DATE",
       "move the business date on, aging cases day by day",
       "Each day: aging, due timers, the day's snapshot for reports. --to equal to\n"
       "the current date runs that day again (and refreshes its snapshot; today's\n"
       "book in reports is live anyway).",
       {{"to", "DATE", "the new business date"}},
       DateAdvance},
      {"audit list",
       "[flags]",
       "audit records: who did or read what, when, from where",
       "Oldest first. --from and --to take a day (UTC; both days included) or an\n"
       "RFC 3339 time (2026-12-01T08:00:00Z; --to excluded). Managers and admins.",
       {{"principal", "NAME", "only this caller's records"},
        {"case", "ID", "only records about this case"},
        {"from", "DAY|TIME", "recorded at or after"},
        {"to", "DAY|TIME", "recorded before (a day: up to its end)"},
        {"limit", "N", "at most N records (default 100)"}},
       AuditList},
      {"audit verify",
       "",
       "recompute the audit log's hash chain",
       "Exit status 0 when every row verifies; 1 when the chain is broken, naming\n"
       "the first broken row and whether it was edited or rows were deleted. Keep\n"
       "the printed last_id and last_hash: a log cut off at its end verifies, but\n"
       "no longer reaches them.",
       {},
       AuditVerify},
  };
  return *commands;
}

std::string MainHelp() {
  std::string out =
      "collectionsctl: reports, cases, the overdue feed and policies of collectionsd.\n\n"
      "Usage: collectionsctl COMMAND [SUBCOMMAND] [FLAGS]\n\nCommands:\n";
  for (const Command& c : Commands()) {
    absl::StrAppend(&out, "  ", c.path,
                    std::string(c.path.size() < 24 ? 24 - c.path.size() : 1, ' '), c.summary, "\n");
  }
  absl::StrAppend(&out, "\nFlags of every command:\n", FlagHelp(GlobalFlags()),
                  "\nWithout --tls_ca only a server on this machine can be reached (plaintext\n"
                  "on loopback); the server knows who you are from --token_file or the client\n"
                  "certificate.\n"
                  "\nExit status: 0 done; 1 the server refused, or the answer is\n"
                  "larger than the gRPC message limit (the message says why; retrying will not\n"
                  "help); 2 bad usage or unreadable input; 3 an import rejected some rows; 4 the\n"
                  "server is unreachable or busy (try again).\n\n"
                  "'collectionsctl COMMAND --help' explains a command.\n");
  return out;
}

std::string CommandHelp(const Command& c) {
  std::string summary = c.summary;
  summary[0] = absl::ascii_toupper(summary[0]);
  std::string out = absl::StrCat("collectionsctl ", c.path, " ", c.usage, "\n\n", summary, ".\n");
  if (!c.details.empty()) absl::StrAppend(&out, "\n", c.details, "\n");
  if (!c.flags.empty()) absl::StrAppend(&out, "\nFlags:\n", FlagHelp(c.flags));
  absl::StrAppend(&out, "\nFlags of every command:\n", FlagHelp(GlobalFlags()));
  return out;
}

int Main(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  // The command is the longest run of leading words that names one.
  std::vector<std::string> words(argv.begin() + 1, argv.end());
  const Command* command = nullptr;
  size_t used = 0;
  for (const Command& c : Commands()) {
    std::vector<std::string> path = absl::StrSplit(c.path, ' ');
    if (words.size() >= path.size() && std::equal(path.begin(), path.end(), words.begin()) &&
        path.size() > used) {
      command = &c;
      used = path.size();
    }
  }
  if (command == nullptr) {
    if (words.empty() || words[0] == "--help" || words[0] == "help" || words[0] == "-h") {
      out << MainHelp();
      return words.empty() ? kBadUsage : kOk;
    }
    // A group ("report", "policy"): list its commands.
    std::string group;
    for (const Command& c : Commands()) {
      if (absl::StartsWith(c.path, words[0] + " ")) {
        absl::StrAppend(&group, "  ", c.path,
                        std::string(c.path.size() < 24 ? 24 - c.path.size() : 1, ' '), c.summary,
                        "\n");
      }
    }
    if (!group.empty()) {
      const bool help = words.size() > 1 && words[1] == "--help";
      (help ? out : err) << (help ? ""
                                  : absl::StrCat("collectionsctl ", words[0], ": which one?\n"))
                         << group;
      return help ? kOk : kBadUsage;
    }
    err << "collectionsctl: unknown command \"" << words[0] << "\"; see 'collectionsctl --help'\n";
    return kBadUsage;
  }
  words.erase(words.begin(), words.begin() + used);
  std::vector<Flag> flags = command->flags;
  flags.insert(flags.end(), GlobalFlags().begin(), GlobalFlags().end());
  for (const std::string& w : words) {
    if (w == "--actor" || absl::StartsWith(w, "--actor=")) {
      err << "collectionsctl: --actor is gone: the server knows who you are from your token\n"
             "(--token_file or $COLLECTIONS_TOKEN_FILE) or your client certificate.\n";
      return kBadUsage;
    }
  }
  absl::StatusOr<Args> args = Args::Parse(words, flags);
  Run run{args.ok() ? *args : Args(), command->path, out, err, "", Format::kTable, nullptr,
          absl::Seconds(30)};
  if (!args.ok()) return run.Usage(std::string(args.status().message()));
  if (run.args.Has("help")) {
    out << CommandHelp(*command);
    return kOk;
  }
  const bool takes_words = absl::StrContains(command->usage, "FILE") ||
                           absl::StrContains(command->usage, "ID") ||
                           absl::StrContains(command->usage, "KIND");
  if (!takes_words && !run.args.positional().empty()) {
    return run.Usage(absl::StrCat("unexpected argument \"", run.args.positional()[0], "\""));
  }
  const char* env = std::getenv("COLLECTIONS_SERVER");
  run.server = run.args.Get("server", env != nullptr && *env ? env : "127.0.0.1:50051");
  const std::string format = run.args.Get("format", "table");
  if (format == "table") {
    run.format = Format::kTable;
  } else if (format == "csv") {
    run.format = Format::kCsv;
  } else if (format == "json") {
    run.format = Format::kJson;
  } else {
    return run.Usage(absl::StrCat("--format must be table, csv or json, not \"", format, "\""));
  }
  absl::StatusOr<int64_t> timeout = run.args.Int("timeout", 30);
  if (!timeout.ok() || *timeout < 1) return run.Usage("--timeout must be a number of seconds");
  run.timeout = absl::Seconds(*timeout);
  absl::StatusOr<clients::ConnectionOptions> connection = clients::ConnectionOptionsFrom(
      run.server, [&](const std::string& name) -> std::optional<std::string> {
        if (!run.args.Has(name)) return std::nullopt;
        return run.args.Get(name);
      });
  if (!connection.ok()) return run.Usage(std::string(connection.status().message()));
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = clients::OpenChannel(*connection);
  if (!channel.ok()) return run.Usage(std::string(channel.status().message()));
  run.channel = *std::move(channel);
  return command->run(run);
}

}  // namespace
}  // namespace collections::ctl

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  const int code = collections::ctl::Main(args, std::cout, std::cerr);
  std::cout.flush();
  return code;
}
