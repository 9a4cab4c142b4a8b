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
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/ctl/args.h"
#include "clients/ctl/feed_csv.h"
#include "clients/ctl/output.h"
#include "clients/ctl/report_views.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace collections::ctl {
namespace {

enum Exit { kOk = 0, kRefused = 1, kBadUsage = 2, kRejectedRows = 3, kUnavailable = 4 };

// RESOURCE_EXHAUSTED also stands for a message over gRPC's size limit
// ("Received message larger than max (N vs. M)"), which no retry can help.
// The commands' requests are far below the limit, so it is the answer.
bool OverMessageLimit(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
         absl::StrContains(absl::AsciiStrToLower(s.error_message()), "larger than max");
}

// What every command gets: parsed flags, where to write, the server.
struct Run {
  Args args;
  std::string command;  // "report roll-rates"
  std::ostream& out;
  std::ostream& err;
  std::string server;
  Format format = Format::kTable;
  std::string actor;
  absl::Duration timeout;

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  }
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration t = absl::ZeroDuration()) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(
        absl::ToChronoTime(absl::Now() + (t == absl::ZeroDuration() ? timeout : t)));
    if (!actor.empty()) context->AddMetadata("collections-actor", actor);
    return context;
  }

  int Usage(const std::string& message) const {
    err << "collectionsctl " << command << ": " << message << "\n"
        << "See 'collectionsctl " << command << " --help'.\n";
    return kBadUsage;
  }
  // A failed RPC: what went wrong and, for an unreachable server, where we
  // looked.
  int Failed(const grpc::Status& s) const {
    const grpc::StatusCode code = s.error_code();
    static const char* const kNames[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED"};
    const char* name = code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
    err << "collectionsctl " << command << ": " << name << ": " << s.error_message() << "\n";
    switch (code) {
      case grpc::StatusCode::UNAVAILABLE:
        err << "  (is collectionsd running at " << server
            << "? --server=HOST:PORT or $COLLECTIONS_SERVER sets the address)\n";
        return kUnavailable;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        err << "  (no answer within " << absl::FormatDuration(timeout)
            << "; --timeout=SECONDS waits longer)\n";
        return kUnavailable;
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        if (OverMessageLimit(s)) {
          err << "  (the answer is larger than the gRPC message limit: retrying will not help;\n"
                 "   narrow the request (a shorter --from/--to, --product, --region, --queue)\n"
                 "   or page it (--page_size where the command has it))\n";
          return kRefused;
        }
        err << "  (the server is short of a resource for now; try again later)\n";
        return kUnavailable;
      case grpc::StatusCode::ABORTED:
        err << "  (a conflicting change came first; try again)\n";
        return kUnavailable;
      default:
        return kRefused;
    }
  }
  int Print(const Document& doc) const {
    std::string error;
    if (!Render(doc, format, args.Get("section"), out, &error)) return Usage(error);
    return kOk;
  }
};

struct Command {
  std::string path;   // "report portfolio"
  std::string usage;  // after the path: "[flags]", "FILE.csv"
  std::string summary;
  std::string details;
  std::vector<Flag> flags;
  std::function<int(Run&)> run;
};

const std::vector<Flag>& GlobalFlags() {
  static const auto* flags = new std::vector<Flag>{
      {"server", "HOST:PORT", "collectionsd's address (default $COLLECTIONS_SERVER or 127.0.0.1:50051)"},
      {"format", "FORMAT", "table (default, for a terminal), csv (for spreadsheets) or json (for scripts)"},
      {"actor", "NAME", "who you are, recorded on the events you cause"},
      {"timeout", "SECONDS", "how long to wait for an answer (default 30; date advance 3600)"},
      {"help", "", "show this help"},
  };
  return *flags;
}

// --- Parsing helpers ------------------------------------------------------------

bool ParseDay(const std::string& s, v1::Date* out) {
  std::vector<std::string> parts = absl::StrSplit(s, '-');
  int y = 0, m = 0, d = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &y) || !absl::SimpleAtoi(parts[1], &m) ||
      !absl::SimpleAtoi(parts[2], &d)) {
    return false;
  }
  const absl::CivilDay day(y, m, d);
  if (day.year() != y || day.month() != m || day.day() != d) return false;
  out->set_year(y);
  out->set_month(m);
  out->set_day(d);
  return true;
}

// An optional --name=YYYY-MM-DD into *date; false (with the usage message
// written) when it is not a date.
bool DateFlag(Run& run, const std::string& name, v1::Date* date, int* exit) {
  if (!run.args.Has(name)) return true;
  if (ParseDay(run.args.Get(name), date)) return true;
  *exit = run.Usage(absl::StrCat("--", name, " must be a date like 2026-11-29, not \"",
                                 run.args.Get(name), "\""));
  return false;
}

template <typename Enum>
bool ParseEnum(const std::string& text, const std::string& prefix,
               bool (*parse)(const std::string&, Enum*), Enum* out) {
  std::string name = absl::AsciiStrToUpper(text);
  std::replace(name.begin(), name.end(), '-', '_');
  return parse(prefix + name, out) && static_cast<int>(*out) != 0;
}

// --- Reports --------------------------------------------------------------------

const std::vector<Flag>& ReportFlags() {
  static const auto* flags = new std::vector<Flag>{
      {"from", "DATE", "first business date of the period (default: 29 days before --to)"},
      {"to", "DATE", "last business date (default: the current one)"},
      {"product", "NAME", "only cases of this product"},
      {"region", "NAME", "only borrowers of this region"},
      {"policy_version", "N", "only cases under this policy version"},
      {"queue", "NAME", "only this work queue (tasks' queue; cases' assigned queue)"},
      {"cure_window_days", "N", "effectiveness and agents: days a cure or payment counts for an action (default 30)"},
      {"html", "FILE", "write one self-contained HTML page with charts instead"},
      {"section", "NAME", "--format=csv: which table to print (default the first)"},
  };
  return *flags;
}

// The request from the report flags; false with *exit set on bad input.
bool ReportRequestOf(Run& run, v1::ReportRequest* r, int* exit) {
  if (!DateFlag(run, "from", r->mutable_from(), exit)) return false;
  if (!DateFlag(run, "to", r->mutable_to(), exit)) return false;
  r->set_product(run.args.Get("product"));
  r->set_region(run.args.Get("region"));
  r->set_queue(run.args.Get("queue"));
  for (const char* name : {"policy_version", "cure_window_days"}) {
    absl::StatusOr<int64_t> v = run.args.Int(name, 0);
    if (!v.ok()) {
      *exit = run.Usage(std::string(v.status().message()));
      return false;
    }
    if (std::string(name) == "policy_version") r->set_policy_version(*v);
    else r->set_cure_window_days(static_cast<int32_t>(*v));
  }
  return true;
}

std::vector<std::string> FilterText(const v1::ReportRequest& r) {
  std::vector<std::string> f;
  if (!r.product().empty()) f.push_back("product " + r.product());
  if (!r.region().empty()) f.push_back("region " + r.region());
  if (r.policy_version() > 0) f.push_back(absl::StrCat("policy version ", r.policy_version()));
  if (!r.queue().empty()) f.push_back("queue " + r.queue());
  return f;
}

int WriteHtml(Run& run, const ReportSet& set, const v1::ReportRequest& request) {
  const std::string path = run.args.Get("html");
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    run.err << "collectionsctl " << run.command << ": cannot write " << path << "\n";
    return kBadUsage;
  }
  const std::string page = HtmlPage(
      set, FilterText(request),
      absl::StrCat("Generated by collectionsctl from ", run.server, " at ",
                   absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", absl::Now(), absl::LocalTimeZone())));
  file << page;
  file.close();
  if (!file) {
    run.err << "collectionsctl " << run.command << ": cannot write " << path << "\n";
    return kBadUsage;
  }
  run.err << "wrote " << path << " (" << page.size() << " bytes)\n";
  return kOk;
}

// One report: fetch, then print it or write the page.
template <typename Report>
Command ReportCommand(
    const std::string& name, const std::string& summary, const std::string& details,
    grpc::Status (v1::ReportService::Stub::*rpc)(grpc::ClientContext*, const v1::ReportRequest&,
                                                 Report*),
    std::optional<Report> ReportSet::*slot) {
  return {"report " + name, "[flags]", summary, details, ReportFlags(),
          [rpc, slot](Run& run) -> int {
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

int ReportAll(Run& run) {
  v1::ReportRequest request;
  int exit = kOk;
  if (!ReportRequestOf(run, &request, &exit)) return exit;
  if (run.format == Format::kCsv && !run.args.Has("html")) {
    return run.Usage("report all prints tables or JSON; for CSV run one report at a time");
  }
  auto stub = v1::ReportService::NewStub(run.Channel());
  ReportSet set;
  int worst = kOk;
  auto fetch = [&](const char* name, auto rpc, auto& slot) {
    typename std::decay_t<decltype(slot)>::value_type report;
    auto context = run.Context();
    grpc::Status s = ((*stub).*rpc)(context.get(), request, &report);
    if (s.ok()) {
      slot = report;
    } else {
      set.errors.push_back({name, s.error_message()});
      worst = std::max(worst, run.Failed(s));
    }
  };
  fetch("Portfolio", &v1::ReportService::Stub::Portfolio, set.portfolio);
  fetch("Stage funnel", &v1::ReportService::Stub::StageFunnel, set.funnel);
  fetch("Roll rates", &v1::ReportService::Stub::RollRates, set.roll_rates);
  fetch("Strategy effectiveness", &v1::ReportService::Stub::StrategyEffectiveness,
        set.effectiveness);
  fetch("Overdue reasons", &v1::ReportService::Stub::OverdueReasons, set.reasons);
  fetch("Agent productivity", &v1::ReportService::Stub::AgentProductivity, set.agents);
  fetch("SLA and incidents", &v1::ReportService::Stub::SlaBreaches, set.sla);
  if (set.errors.size() == 7) return worst;  // nothing to show
  if (run.args.Has("html")) {
    const int written = WriteHtml(run, set, request);
    return written != kOk ? written : worst;
  }
  std::vector<Document> docs;
  if (set.portfolio) docs.push_back(View(*set.portfolio));
  if (set.funnel) docs.push_back(View(*set.funnel));
  if (set.roll_rates) docs.push_back(View(*set.roll_rates));
  if (set.effectiveness) docs.push_back(View(*set.effectiveness));
  if (set.reasons) docs.push_back(View(*set.reasons));
  if (set.agents) docs.push_back(View(*set.agents));
  if (set.sla) docs.push_back(View(*set.sla));
  if (run.format == Format::kJson) run.out << "[\n";
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) run.out << (run.format == Format::kJson ? ",\n" : "\n");
    std::string error;
    Render(docs[i], run.format, "", run.out, &error);
  }
  if (run.format == Format::kJson) run.out << "]\n";
  return worst;
}

// --- Cases ----------------------------------------------------------------------

// The oneof member's name: "payment", "task_completed", ...
std::string EventKind(const v1::CaseEvent& e) {
  const google::protobuf::OneofDescriptor* kind = e.GetDescriptor()->FindOneofByName("kind");
  const google::protobuf::FieldDescriptor* f =
      e.GetReflection()->GetOneofFieldDescriptor(e, kind);
  if (f == nullptr) return "unknown";
  if (e.has_signal()) {
    const google::protobuf::FieldDescriptor* s = e.signal().GetReflection()->GetOneofFieldDescriptor(
        e.signal(), e.signal().GetDescriptor()->FindOneofByName("signal"));
    if (s != nullptr) return "signal." + s->name();
  }
  return f->name();
}

int64_t Overdue(const v1::OverdueAmounts& o) {
  return o.principal_fen() + o.interest_fen() + o.penalty_fen();
}

std::string Cny(int64_t fen) { return FormatCny(fen, true) + " CNY"; }

// --case=ID, --loan=ID or a positional case id; false with *exit set.
template <typename Request>
bool CaseTarget(Run& run, Request* r, int* exit) {
  std::string id = run.args.Get("case");
  if (id.empty() && !run.args.positional().empty()) id = run.args.positional()[0];
  if (!id.empty()) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(id, &n) || n <= 0) {
      *exit = run.Usage(absl::StrCat("the case id must be a positive number, not \"", id, "\""));
      return false;
    }
    r->set_case_id(n);
    return true;
  }
  if (run.args.Has("loan")) {
    r->set_loan_id(run.args.Get("loan"));
    return true;
  }
  *exit = run.Usage("say which case: --case=ID (or the id after the command) or --loan=LOAN_ID");
  return false;
}

int CaseShow(Run& run) {
  v1::GetCaseRequest request;
  int exit = kOk;
  if (!CaseTarget(run, &request, &exit)) return exit;
  absl::StatusOr<int64_t> last = run.args.Int("events", 0),
                          page_size = run.args.Int("page_size", 500);
  for (const auto* v : {&last, &page_size}) {
    if (!v->ok()) return run.Usage(std::string(v->status().message()));
  }
  if (*last < 0) return run.Usage("--events must be 0 (all) or more");
  if (*page_size < 1 || *page_size > 500) return run.Usage("--page_size must be 1..500");
  request.set_events_page_size(static_cast<int32_t>(*page_size));
  auto stub = v1::CaseService::NewStub(run.Channel());
  // The history comes in pages (oldest first); the first page carries the
  // rest of the file.
  v1::GetCaseResponse file;
  std::deque<v1::CaseEvent> history;
  int64_t total_events = 0;
  do {
    v1::GetCaseResponse page;
    auto context = run.Context();
    grpc::Status s = stub->GetCase(context.get(), request, &page);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      // Waiting cannot shrink a case file: say so rather than "try again".
      run.err << "collectionsctl " << run.command << ": the case file is too large for one "
              << "answer (" << s.error_message() << "); retrying will not help. A server that "
              << "pages case histories (issue 10) answers this; --page_size=N asks for fewer "
              << "events at a time\n";
      return kRefused;
    }
    if (!s.ok()) return run.Failed(s);
    for (v1::CaseEvent& e : *page.mutable_events()) {
      ++total_events;
      history.push_back(std::move(e));
      if (*last > 0 && static_cast<int64_t>(history.size()) > *last) history.pop_front();
    }
    page.clear_events();
    std::string next = page.next_events_page_token();
    if (next == request.events_page_token()) next.clear();  // no progress: stop
    if (request.events_page_token().empty()) {
      file = std::move(page);
    } else {
      *file.mutable_case_() = page.case_();  // the newest state
    }
    request.set_events_page_token(next);
  } while (!request.events_page_token().empty());
  const v1::Case& c = file.case_();
  Document doc{"case", absl::StrCat("Case ", c.case_id()), {}, {}};
  Table fields{{{"field", Kind::kText}, {"value", Kind::kText}}, {}};
  auto field = [&](const char* name, const std::string& value) {
    fields.Add({Cell::Text(name), Cell::Text(value)});
  };
  field("loan_id", c.loan_id());
  field("borrower", absl::StrCat(c.borrower().name(), " (", c.borrower().borrower_id(), ")"));
  field("product", c.product());
  field("region", c.borrower().region());
  field("stage", StageText(c.stage()));
  field("class", ClassText(c.classification().case_class()));
  field("why", c.classification().explanation());
  field("days_past_due", absl::StrCat(c.days_past_due()));
  field("overdue", Cny(Overdue(c.overdue())));
  field("principal_outstanding", Cny(c.principal_outstanding_fen()));
  field("paid_total", Cny(c.paid_total_fen()));  // everything received
  // Received but paying nothing owed: held for core banking to refund or apply.
  if (c.unallocated_fen() != 0) field("unallocated", Cny(c.unallocated_fen()));
  if (c.active_plan_id() != 0) {
    field("active_plan", absl::StrCat(c.active_plan_id(), ", still owed ",
                                      Cny(c.active_plan_outstanding_fen())));
  }
  field("waived_total", Cny(c.waived_total_fen()));
  field("assigned_queue", c.assigned_queue());
  field("policy_version", absl::StrCat(c.policy_version()));
  field("opened_on", DateText(c.opened_on()));
  field("stage_entered_on", DateText(c.stage_entered_on()));
  if (c.overdue_reason() != 0) field("overdue_reason", ReasonText(c.overdue_reason()));
  if (c.legal().phase() != 0) {
    field("legal_phase",
          absl::AsciiStrToLower(v1::LegalPhase_Name(c.legal().phase()).substr(12)));
  }
  if (c.close_reason() != 0) {
    field("close_reason",
          absl::AsciiStrToLower(v1::CloseReason_Name(c.close_reason()).substr(13)));
  }
  doc.sections.push_back({"case", "", fields});

  Table events{{{"seq", Kind::kInt}, {"day", Kind::kText}, {"event", Kind::kText},
                {"actor", Kind::kText}, {"stage", Kind::kText}, {"summary", Kind::kText}},
               {}};
  if (static_cast<int64_t>(history.size()) < total_events) {
    doc.meta.push_back({"note", absl::StrCat("the last ", history.size(), " of ", total_events,
                                             " events; --events=0 shows all")});
  }
  for (const v1::CaseEvent& e : history) {
    const std::string stage = e.stage_before() == e.stage_after()
                                  ? StageText(e.stage_after())
                                  : absl::StrCat(StageText(e.stage_before()), " -> ",
                                                 StageText(e.stage_after()));
    events.Add({Cell::Int(e.sequence()), Cell::Text(DateText(e.business_date())),
                Cell::Text(EventKind(e)), Cell::Text(e.actor()), Cell::Text(stage),
                Cell::Text(e.summary())});
  }
  doc.sections.push_back({"events", "Events", events});
  Table tasks{{{"task_id", Kind::kInt}, {"type", Kind::kText}, {"queue", Kind::kText},
               {"state", Kind::kText}, {"hold", Kind::kText}},
              {}};
  for (const v1::Task& t : file.tasks()) {
    tasks.Add({Cell::Int(t.task_id()), Cell::Text(ActionText(t.type())), Cell::Text(t.queue()),
               Cell::Text(absl::AsciiStrToLower(v1::TaskState_Name(t.state()).substr(11))),
               Cell::Text(t.hold_reason())});
  }
  doc.sections.push_back({"tasks", "Tasks", tasks});
  Table payments{{{"payment_id", Kind::kText}, {"paid_on", Kind::kText}, {"amount", Kind::kMoney},
                  {"unallocated", Kind::kMoney}, {"channel", Kind::kText}},
                 {}};
  for (const v1::Payment& p : file.payments()) {
    payments.Add({Cell::Text(p.payment_id()), Cell::Text(DateText(p.paid_on())),
                  Cell::Money(p.amount_fen()), Cell::Money(p.unallocated_fen()),
                  Cell::Text(p.channel())});
  }
  doc.sections.push_back({"payments", "Payments", payments});
  Table plans{{{"plan_id", Kind::kInt}, {"kind", Kind::kText}, {"state", Kind::kText},
               {"total", Kind::kMoney}, {"waiver", Kind::kMoney}, {"instalments", Kind::kInt}},
              {}};
  for (const v1::Plan& p : file.plans()) {
    plans.Add({Cell::Int(p.plan_id()),
               Cell::Text(absl::AsciiStrToLower(v1::PlanKind_Name(p.kind()).substr(10))),
               Cell::Text(absl::AsciiStrToLower(v1::PlanState_Name(p.state()).substr(11))),
               Cell::Money(p.total_fen()), Cell::Money(p.waiver_fen()),
               Cell::Int(p.instalments_size())});
  }
  doc.sections.push_back({"plans", "Plans", plans});
  return run.Print(doc);
}

int CaseList(Run& run) {
  v1::ListCasesRequest request;
  for (absl::string_view s : absl::StrSplit(run.args.Get("stage"), ',', absl::SkipEmpty())) {
    v1::Stage stage;
    if (!ParseEnum(std::string(s), "STAGE_", &v1::Stage_Parse, &stage)) {
      return run.Usage(absl::StrCat("--stage: \"", s, "\" is not one of reminder, counselling, "
                                    "repayment_plan, legal_action, resolved, closed"));
    }
    request.add_stages(stage);
  }
  for (absl::string_view s : absl::StrSplit(run.args.Get("class"), ',', absl::SkipEmpty())) {
    v1::CaseClass c;
    if (!ParseEnum(std::string(s), "CASE_CLASS_", &v1::CaseClass_Parse, &c)) {
      return run.Usage(absl::StrCat("--class: \"", s, "\" is not one of mild, moderate, severe"));
    }
    request.add_classes(c);
  }
  absl::StatusOr<int64_t> min = run.args.Int("min_dpd", 0), max = run.args.Int("max_dpd", 0),
                          version = run.args.Int("policy_version", 0),
                          limit = run.args.Int("limit", 100);
  for (const auto* v : {&min, &max, &version, &limit}) {
    if (!v->ok()) return run.Usage(std::string(v->status().message()));
  }
  if (*limit < 1) return run.Usage("--limit must be at least 1");
  request.set_min_days_past_due(static_cast<int32_t>(*min));
  request.set_max_days_past_due(static_cast<int32_t>(*max));
  request.set_policy_version(*version);
  request.set_assigned_queue(run.args.Get("queue"));
  auto stub = v1::CaseService::NewStub(run.Channel());
  Table t{{{"case_id", Kind::kInt}, {"loan_id", Kind::kText}, {"stage", Kind::kText},
           {"class", Kind::kText}, {"dpd", Kind::kInt}, {"overdue", Kind::kMoney},
           {"queue", Kind::kText}, {"policy", Kind::kInt}},
          {}};
  bool more = true;
  while (more && static_cast<int64_t>(t.rows.size()) < *limit) {
    request.set_page_size(
        static_cast<int32_t>(std::min<int64_t>(1000, *limit - t.rows.size())));
    v1::ListCasesResponse page;
    auto context = run.Context();
    grpc::Status s = stub->ListCases(context.get(), request, &page);
    if (!s.ok()) return run.Failed(s);
    for (const v1::CaseSummary& c : page.cases()) {
      t.Add({Cell::Int(c.case_id()), Cell::Text(c.loan_id()), Cell::Text(StageText(c.stage())),
             Cell::Text(ClassText(c.case_class())), Cell::Int(c.days_past_due()),
             Cell::Money(c.overdue_total_fen()), Cell::Text(c.assigned_queue()),
             Cell::Int(c.policy_version())});
    }
    request.set_page_token(page.next_page_token());
    more = !page.next_page_token().empty();
  }
  Document doc{"cases", "Cases", {}, {{"cases", "", t}}};
  if (more) doc.meta.push_back({"note", absl::StrCat("first ", *limit, "; --limit shows more")});
  return run.Print(doc);
}

// --- The overdue feed -------------------------------------------------------------

int Import(Run& run) {
  if (run.args.positional().size() != 1) {
    return run.Usage("name one CSV file (or - for standard input)");
  }
  const std::string path = run.args.positional()[0];
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) {
      run.err << "collectionsctl import: cannot read " << path << "\n";
      return kBadUsage;
    }
  }
  std::istream& in = path == "-" ? std::cin : file;
  FeedReader feed(in);
  if (absl::Status s = feed.Start(); !s.ok()) {
    run.err << "collectionsctl import: " << path << ": " << s.message() << "\n"
            << kFeedColumnsHelp;
    return kBadUsage;
  }

  auto stub = v1::CaseService::NewStub(run.Channel());
  v1::ImportDelinquenciesResponse response;
  auto context = run.Context(absl::Hours(24));
  auto writer = stub->ImportDelinquencies(context.get(), &response);
  std::vector<int64_t> line_of;  // stream index -> line in the file
  std::vector<RowProblem> problems;
  const bool tty = isatty(STDERR_FILENO);
  const absl::Time start = absl::Now();
  absl::Time shown = start;
  int64_t rows = 0;
  v1::ImportDelinquenciesRequest request;
  RowProblem problem;
  int64_t line = 0;
  bool sent_all = true;
  while (feed.Next(request.mutable_record(), &problem, &line)) {
    ++rows;
    if (!problem.message.empty()) {
      problems.push_back(problem);
      continue;
    }
    if (!writer->Write(request)) {
      sent_all = false;  // the stream broke; Finish says why
      break;
    }
    line_of.push_back(line);
    // Progress: a line rewritten in place on a terminal, else one line
    // every 100,000 rows.
    const absl::Time now = absl::Now();
    if ((tty && now - shown > absl::Milliseconds(250)) || (!tty && rows % 100000 == 0)) {
      shown = now;
      run.err << (tty ? "\r" : "") << "import: " << rows << " rows read, " << line_of.size()
              << " sent (" << static_cast<int64_t>(rows / std::max(1e-3, absl::ToDoubleSeconds(now - start)))
              << " rows/s)" << (tty ? "" : "\n") << std::flush;
    }
  }
  if (tty && rows > 0) run.err << "\r" << std::string(60, ' ') << "\r" << std::flush;
  if (sent_all) writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) {
    // A row the server could not decode: it names the row's place in the
    // stream, which maps back to a line of the file.
    const auto& trailers = context->GetServerTrailingMetadata();
    auto bad = trailers.find("collections-import-bad-frame");
    int64_t frame = -1;
    if (bad != trailers.end() &&
        absl::SimpleAtoi(absl::string_view(bad->second.data(), bad->second.size()), &frame) &&
        frame >= 0 && frame < static_cast<int64_t>(line_of.size())) {
      run.err << "collectionsctl import: the server could not decode line " << line_of[frame]
              << " of " << path
              << " (is the file UTF-8?) and stopped there: nothing from that line on was "
                 "imported; the lines before it were (see the counts below). Fix that line "
                 "and import the file again (rows already imported are unchanged)\n";
      return run.Failed(s);
    }
    run.err << "collectionsctl import: the server stopped the import after " << line_of.size()
            << " rows were sent; rows it acknowledged before are stored and importing the file "
               "again is safe\n";
    return run.Failed(s);
  }
  if (!feed.ok()) problems.push_back({line, "", "", feed.fatal()});

  for (const v1::ImportRowError& e : response.errors()) {
    const int64_t at = e.index() >= 0 && e.index() < static_cast<int64_t>(line_of.size())
                           ? line_of[e.index()]
                           : 0;
    problems.push_back({at, e.loan_id(), e.field(), e.message()});
  }
  std::sort(problems.begin(), problems.end(),
            [](const RowProblem& a, const RowProblem& b) { return a.line < b.line; });
  const int64_t rejected = response.rejected() + (static_cast<int64_t>(problems.size()) -
                                                  response.errors_size());
  Table summary{{{"rows", Kind::kInt}, {"opened", Kind::kInt}, {"updated", Kind::kInt},
                 {"unchanged", Kind::kInt}, {"rejected", Kind::kInt}},
                {}};
  summary.Add({Cell::Int(rows), Cell::Int(response.opened()), Cell::Int(response.updated()),
               Cell::Int(response.unchanged()), Cell::Int(rejected)});
  Table listed{{{"line", Kind::kInt}, {"loan_id", Kind::kText}, {"field", Kind::kText},
                {"problem", Kind::kText}},
               {}};
  for (const RowProblem& p : problems) {
    listed.Add({Cell::Int(p.line), Cell::Text(p.loan_id), Cell::Text(p.field),
                Cell::Text(p.message)});
  }
  Document doc{"import", absl::StrCat("Import of ", path), {},
               {{"summary", "", summary}, {"rejected", "Rejected rows", listed}}};
  if (int printed = run.Print(doc); printed != kOk) return printed;
  return rejected > 0 || !feed.ok() ? kRejectedRows : kOk;
}

// --- Payments and signals -------------------------------------------------------------

int Pay(Run& run) {
  v1::RecordPaymentRequest request;
  int exit = kOk;
  if (!CaseTarget(run, &request, &exit)) return exit;
  v1::Payment& p = *request.mutable_payment();
  p.set_payment_id(run.args.Get("payment_id"));
  if (p.payment_id().empty()) {
    return run.Usage("--payment_id is required (core banking's id: repeating it is safe)");
  }
  absl::StatusOr<int64_t> amount = run.args.Cny("amount");
  if (!amount.ok()) return run.Usage(std::string(amount.status().message()));
  p.set_amount_fen(*amount);
  if (!DateFlag(run, "paid_on", p.mutable_paid_on(), &exit)) return exit;
  p.set_channel(run.args.Get("channel"));
  auto stub = v1::CaseService::NewStub(run.Channel());
  v1::RecordPaymentResponse out;
  auto context = run.Context();
  grpc::Status s = stub->RecordPayment(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  const v1::Payment& paid = out.payment();
  Table t{{{"case_id", Kind::kInt}, {"payment_id", Kind::kText}, {"amount", Kind::kMoney},
           {"penalty", Kind::kMoney}, {"interest", Kind::kMoney}, {"principal", Kind::kMoney},
           {"unallocated", Kind::kMoney}, {"stage", Kind::kText}, {"overdue_left", Kind::kMoney},
           {"duplicate", Kind::kText}},
          {}};
  t.Add({Cell::Int(out.case_().case_id()), Cell::Text(paid.payment_id()),
         Cell::Money(paid.amount_fen()), Cell::Money(paid.allocated().penalty_fen()),
         Cell::Money(paid.allocated().interest_fen()),
         Cell::Money(paid.allocated().principal_fen()), Cell::Money(paid.unallocated_fen()),
         Cell::Text(StageText(out.case_().stage())),
         Cell::Money(Overdue(out.case_().overdue())), Cell::Text(out.duplicate() ? "yes" : "no")});
  return run.Print({"payment", "Payment", {}, {{"payment", "", t}}});
}

int SignalCase(Run& run) {
  if (run.args.positional().empty()) {
    return run.Usage("name the signal: promise, hardship, dispute, dispute_resolved, "
                     "cease_contact, bankruptcy, deceased or note");
  }
  const std::string kind = run.args.positional()[0];
  v1::SignalCaseRequest request;
  absl::StatusOr<int64_t> id = run.args.Int("case", 0);
  if (!id.ok()) return run.Usage(std::string(id.status().message()));
  if (*id <= 0) return run.Usage("--case=ID is required");
  request.set_case_id(*id);
  request.set_request_id(run.args.Get("request_id"));
  v1::Signal& signal = *request.mutable_signal();
  const std::string text = run.args.Get("text");
  int exit = kOk;
  if (kind == "promise") {
    absl::StatusOr<int64_t> amount = run.args.Cny("amount");
    if (!amount.ok()) return run.Usage(std::string(amount.status().message()));
    signal.mutable_promise_to_pay()->set_amount_fen(*amount);
    if (!run.args.Has("due")) return run.Usage("--due=DATE is required for a promise");
    if (!DateFlag(run, "due", signal.mutable_promise_to_pay()->mutable_due_date(), &exit)) {
      return exit;
    }
  } else if (kind == "hardship") {
    signal.mutable_hardship_declared()->set_reason(text);
  } else if (kind == "dispute") {
    signal.mutable_dispute_opened()->set_reason(text);
  } else if (kind == "dispute_resolved") {
    signal.mutable_dispute_resolved()->set_resolution(text);
    signal.mutable_dispute_resolved()->set_upheld(run.args.Has("upheld"));
  } else if (kind == "cease_contact") {
    signal.mutable_cease_contact()->set_reason(text);
  } else if (kind == "bankruptcy") {
    signal.mutable_bankruptcy()->set_court_reference(text);
  } else if (kind == "deceased") {
    if (!DateFlag(run, "date", signal.mutable_deceased()->mutable_date_of_death(), &exit)) {
      return exit;
    }
  } else if (kind == "note") {
    if (text.empty()) return run.Usage("--text is required for a note");
    signal.mutable_note()->set_text(text);
  } else {
    return run.Usage(absl::StrCat("unknown signal \"", kind, "\""));
  }
  auto stub = v1::CaseService::NewStub(run.Channel());
  v1::SignalCaseResponse out;
  auto context = run.Context();
  grpc::Status s = stub->SignalCase(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  const v1::Case& c = out.case_();
  Table t{{{"case_id", Kind::kInt}, {"signal", Kind::kText}, {"stage", Kind::kText},
           {"class", Kind::kText}, {"version", Kind::kInt}},
          {}};
  t.Add({Cell::Int(c.case_id()), Cell::Text(kind), Cell::Text(StageText(c.stage())),
         Cell::Text(ClassText(c.classification().case_class())), Cell::Int(c.version())});
  return run.Print({"signal", "Signal recorded", {}, {{"signal", "", t}}});
}

// --- Policies ---------------------------------------------------------------------

int PolicyGet(Run& run) {
  absl::StatusOr<int64_t> version = run.args.Int("version", 0);
  if (!version.ok()) return run.Usage(std::string(version.status().message()));
  if (run.format == Format::kCsv) return run.Usage("a policy prints as textproto (table) or json");
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::GetPolicyRequest request;
  request.set_version(*version);
  v1::GetPolicyResponse out;
  auto context = run.Context();
  grpc::Status s = stub->GetPolicy(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  std::string text;
  if (run.format == Format::kJson) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(out.policy(), &text, options);
  } else {
    // Ready to edit and `policy put` again: without the stored version.
    v1::Policy policy = out.policy();
    text = absl::StrCat("# policy version ", policy.version(), "\n");
    policy.clear_version();
    std::string body;
    google::protobuf::TextFormat::PrintToString(policy, &body);
    text += body;
  }
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

int PolicyPut(Run& run) {
  if (run.args.positional().size() != 1) return run.Usage("name one policy file (textproto)");
  const std::string path = run.args.positional()[0];
  std::ifstream file(path);
  if (!file) {
    run.err << "collectionsctl policy put: cannot read " << path << "\n";
    return kBadUsage;
  }
  std::stringstream text;
  text << file.rdbuf();
  v1::PutPolicyRequest request;
  // Parse errors name the line and column.
  class Collector : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int line, int column, const std::string& message) override {
      if (first.empty()) first = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
    }
    std::string first;
  } errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), request.mutable_policy())) {
    run.err << "collectionsctl policy put: " << path << ": " << errors.first << "\n";
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
  Table t{{{"version", Kind::kInt}, {"name", Kind::kText}, {"open_cases", Kind::kInt},
           {"current", Kind::kText}, {"created_at", Kind::kText}},
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
    if (!absl::SimpleAtoi(id, &n)) return run.Usage(absl::StrCat("--cases: \"", id, "\" is not a case id"));
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
  Table t{{{"to_version", Kind::kInt}, {"migrated", Kind::kInt}, {"skipped", Kind::kInt},
           {"failed", Kind::kInt}},
          {}};
  t.Add({Cell::Int(out.to_version()), Cell::Int(out.migrated()), Cell::Int(out.skipped()),
         Cell::Int(out.failed())});
  Table errors{{{"case_id", Kind::kInt}, {"problem", Kind::kText}}, {}};
  for (const auto& e : out.errors()) errors.Add({Cell::Int(e.case_id()), Cell::Text(e.message())});
  const int printed = run.Print(
      {"migration", "Migration", {}, {{"result", "", t}, {"failed", "Failed", errors}}});
  return printed != kOk ? printed : out.failed() > 0 ? kRefused : kOk;
}

// --- The business date ---------------------------------------------------------------

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
  Table t{{{"business_date", Kind::kText}, {"cases_aged", Kind::kInt},
           {"stage_changes", Kind::kInt}, {"timers_fired", Kind::kInt}},
          {}};
  t.Add({Cell::Text(DateText(out.business_date())), Cell::Int(out.cases_aged()),
         Cell::Int(out.stage_changes()), Cell::Int(out.timers_fired())});
  return run.Print({"date", "Business date", {}, {{"date", "", t}}});
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
       {{"stage", "S[,S...]", "reminder, counselling, repayment_plan, legal_action, resolved, closed"},
        {"class", "C[,C...]", "mild, moderate, severe"},
        {"min_dpd", "N", "at least N days past due"},
        {"max_dpd", "N", "at most N days past due"},
        {"queue", "NAME", "assigned to this queue"},
        {"policy_version", "N", "under this policy version"},
        {"limit", "N", "at most N cases (default 100)"}},
       CaseList},
      {"import", "FILE.csv", "stream the overdue feed from a CSV file",
       absl::StrCat("Each row is sent as it is read; a progress line shows on a terminal.\n"
                    "Rows the file gets wrong, and rows the server rejects, are listed with\n"
                    "their line. Importing a file again is safe (idempotent per loan and date).\n"
                    "Exit status 3 when some rows were rejected.\n\n",
                    kFeedColumnsHelp),
       {}, Import},
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
      {"policy put", "FILE", "store a new policy version (textproto); new cases get it",
       "Validated by the server; running cases keep their version until migrated.", {},
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
      {"date advance",
       "--to=DATE",
       "move the business date on, aging cases day by day",
       "Each day: aging, due timers, the day's snapshot for reports. --to equal to\n"
       "the current date runs that day again (and refreshes its snapshot; today's\n"
       "book in reports is live anyway).",
       {{"to", "DATE", "the new business date"}},
       DateAdvance},
  };
  return *commands;
}

std::string MainHelp() {
  std::string out =
      "collectionsctl: reports, cases, the overdue feed and policies of collectionsd.\n\n"
      "Usage: collectionsctl COMMAND [SUBCOMMAND] [FLAGS]\n\nCommands:\n";
  for (const Command& c : Commands()) {
    absl::StrAppend(&out, "  ", c.path, std::string(c.path.size() < 24 ? 24 - c.path.size() : 1, ' '),
                    c.summary, "\n");
  }
  absl::StrAppend(&out, "\nFlags of every command:\n", FlagHelp(GlobalFlags()),
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
        absl::StrAppend(&group, "  ", c.path, std::string(c.path.size() < 24 ? 24 - c.path.size() : 1, ' '),
                        c.summary, "\n");
      }
    }
    if (!group.empty()) {
      const bool help = words.size() > 1 && words[1] == "--help";
      (help ? out : err) << (help ? "" : absl::StrCat("collectionsctl ", words[0], ": which one?\n"))
                         << group;
      return help ? kOk : kBadUsage;
    }
    err << "collectionsctl: unknown command \"" << words[0] << "\"; see 'collectionsctl --help'\n";
    return kBadUsage;
  }
  words.erase(words.begin(), words.begin() + used);
  std::vector<Flag> flags = command->flags;
  flags.insert(flags.end(), GlobalFlags().begin(), GlobalFlags().end());
  absl::StatusOr<Args> args = Args::Parse(words, flags);
  Run run{args.ok() ? *args : Args(), command->path, out, err, "", Format::kTable, "",
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
  run.actor = run.args.Get("actor");
  absl::StatusOr<int64_t> timeout = run.args.Int("timeout", 30);
  if (!timeout.ok() || *timeout < 1) return run.Usage("--timeout must be a number of seconds");
  run.timeout = absl::Seconds(*timeout);
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
