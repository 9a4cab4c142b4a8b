// collectionsctl's case commands: `case show` (a case file, its history
// paged) and `case list`.
#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/report_views.h"
#include "collections/v1/case_service.grpc.pb.h"

namespace collections::ctl {
namespace {

// The oneof member's name: "payment", "task_completed", ...
std::string EventKind(const v1::CaseEvent& e) {
  const google::protobuf::OneofDescriptor* kind = e.GetDescriptor()->FindOneofByName("kind");
  const google::protobuf::FieldDescriptor* f = e.GetReflection()->GetOneofFieldDescriptor(e, kind);
  if (f == nullptr) return "unknown";
  if (e.has_signal()) {
    const google::protobuf::FieldDescriptor* s =
        e.signal().GetReflection()->GetOneofFieldDescriptor(
            e.signal(), e.signal().GetDescriptor()->FindOneofByName("signal"));
    if (s != nullptr) return "signal." + s->name();
  }
  return f->name();
}

std::string Cny(int64_t fen) { return FormatCny(fen, true) + " CNY"; }

}  // namespace

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
    field("active_plan",
          absl::StrCat(c.active_plan_id(), ", still owed ", Cny(c.active_plan_outstanding_fen())));
  }
  field("waived_total", Cny(c.waived_total_fen()));
  field("assigned_queue", c.assigned_queue());
  field("policy_version", absl::StrCat(c.policy_version()));
  field("opened_on", DateText(c.opened_on()));
  field("stage_entered_on", DateText(c.stage_entered_on()));
  if (c.overdue_reason() != 0) field("overdue_reason", ReasonText(c.overdue_reason()));
  if (c.legal().phase() != 0) {
    field("legal_phase", absl::AsciiStrToLower(v1::LegalPhase_Name(c.legal().phase()).substr(12)));
  }
  if (c.close_reason() != 0) {
    field("close_reason", absl::AsciiStrToLower(v1::CloseReason_Name(c.close_reason()).substr(13)));
  }
  doc.sections.push_back({"case", "", fields});

  Table events{{{"seq", Kind::kInt},
                {"day", Kind::kText},
                {"event", Kind::kText},
                {"actor", Kind::kText},
                {"stage", Kind::kText},
                {"summary", Kind::kText}},
               {}};
  if (static_cast<int64_t>(history.size()) < total_events) {
    doc.meta.push_back({"note", absl::StrCat("the last ", history.size(), " of ", total_events,
                                             " events; --events=0 shows all")});
  }
  for (const v1::CaseEvent& e : history) {
    const std::string stage =
        e.stage_before() == e.stage_after()
            ? StageText(e.stage_after())
            : absl::StrCat(StageText(e.stage_before()), " -> ", StageText(e.stage_after()));
    events.Add({Cell::Int(e.sequence()), Cell::Text(DateText(e.business_date())),
                Cell::Text(EventKind(e)), Cell::Text(e.actor()), Cell::Text(stage),
                Cell::Text(e.summary())});
  }
  doc.sections.push_back({"events", "Events", events});
  Table tasks{{{"task_id", Kind::kInt},
               {"type", Kind::kText},
               {"queue", Kind::kText},
               {"state", Kind::kText},
               {"hold", Kind::kText}},
              {}};
  for (const v1::Task& t : file.tasks()) {
    tasks.Add({Cell::Int(t.task_id()), Cell::Text(ActionText(t.type())), Cell::Text(t.queue()),
               Cell::Text(absl::AsciiStrToLower(v1::TaskState_Name(t.state()).substr(11))),
               Cell::Text(t.hold_reason())});
  }
  doc.sections.push_back({"tasks", "Tasks", tasks});
  Table payments{{{"payment_id", Kind::kText},
                  {"paid_on", Kind::kText},
                  {"amount", Kind::kMoney},
                  {"unallocated", Kind::kMoney},
                  {"channel", Kind::kText}},
                 {}};
  for (const v1::Payment& p : file.payments()) {
    payments.Add({Cell::Text(p.payment_id()), Cell::Text(DateText(p.paid_on())),
                  Cell::Money(p.amount_fen()), Cell::Money(p.unallocated_fen()),
                  Cell::Text(p.channel())});
  }
  doc.sections.push_back({"payments", "Payments", payments});
  Table plans{{{"plan_id", Kind::kInt},
               {"kind", Kind::kText},
               {"state", Kind::kText},
               {"total", Kind::kMoney},
               {"waiver", Kind::kMoney},
               {"instalments", Kind::kInt}},
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
      return run.Usage(absl::StrCat("--stage: \"", s,
                                    "\" is not one of reminder, counselling, "
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
  Table t{{{"case_id", Kind::kInt},
           {"loan_id", Kind::kText},
           {"stage", Kind::kText},
           {"class", Kind::kText},
           {"dpd", Kind::kInt},
           {"overdue", Kind::kMoney},
           {"queue", Kind::kText},
           {"policy", Kind::kInt}},
          {}};
  bool more = true;
  while (more && static_cast<int64_t>(t.rows.size()) < *limit) {
    request.set_page_size(static_cast<int32_t>(std::min<int64_t>(1000, *limit - t.rows.size())));
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

}  // namespace collections::ctl
