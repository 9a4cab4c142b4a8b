// collectionsctl pay and signal: a payment, and what was learned about a
// case.
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/report_views.h"
#include "collections/v1/case_service.grpc.pb.h"

namespace collections::ctl {

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
  Table t{{{"case_id", Kind::kInt},
           {"payment_id", Kind::kText},
           {"amount", Kind::kMoney},
           {"penalty", Kind::kMoney},
           {"interest", Kind::kMoney},
           {"principal", Kind::kMoney},
           {"unallocated", Kind::kMoney},
           {"stage", Kind::kText},
           {"overdue_left", Kind::kMoney},
           {"duplicate", Kind::kText}},
          {}};
  t.Add({Cell::Int(out.case_().case_id()), Cell::Text(paid.payment_id()),
         Cell::Money(paid.amount_fen()), Cell::Money(paid.allocated().penalty_fen()),
         Cell::Money(paid.allocated().interest_fen()),
         Cell::Money(paid.allocated().principal_fen()), Cell::Money(paid.unallocated_fen()),
         Cell::Text(StageText(out.case_().stage())), Cell::Money(Overdue(out.case_().overdue())),
         Cell::Text(out.duplicate() ? "yes" : "no")});
  return run.Print({"payment", "Payment", {}, {{"payment", "", t}}});
}

int SignalCase(Run& run) {
  if (run.args.positional().empty()) {
    return run.Usage(
        "name the signal: promise, hardship, dispute, dispute_resolved, "
        "cease_contact, bankruptcy, deceased or note");
  }
  const std::string kind = run.args.positional()[0];
  v1::SignalCaseRequest request;
  absl::StatusOr<int64_t> id = run.args.Int("case", 0);
  if (!id.ok()) return run.Usage(std::string(id.status().message()));
  if (*id <= 0) return run.Usage("--case=ID is required");
  request.set_case_id(*id);
  // The server requires one: without --request_id each run is a new
  // request (repeating it records the signal again).
  std::string request_id = run.args.Get("request_id");
  if (request_id.empty()) request_id = FreshRequestId();
  request.set_request_id(request_id);
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
  Table t{{{"case_id", Kind::kInt},
           {"signal", Kind::kText},
           {"stage", Kind::kText},
           {"class", Kind::kText},
           {"version", Kind::kInt}},
          {}};
  t.Add({Cell::Int(c.case_id()), Cell::Text(kind), Cell::Text(StageText(c.stage())),
         Cell::Text(ClassText(c.classification().case_class())), Cell::Int(c.version())});
  return run.Print({"signal", "Signal recorded", {}, {{"signal", "", t}}});
}

}  // namespace collections::ctl
