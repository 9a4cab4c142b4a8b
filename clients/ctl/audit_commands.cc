// collectionsctl audit list / audit verify: the audit log (AuditService).
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/ctl/commands.h"
#include "collections/v1/audit_service.grpc.pb.h"

namespace collections::ctl {
namespace {

// --from / --to: an RFC 3339 instant ("2026-12-01T08:00:00Z") or a day
// ("2026-12-01", in UTC: its start for --from, its end for --to, so that
// both days are included).
bool TimeFlag(Run& run, const std::string& name, bool end_of_day, google::protobuf::Timestamp* out,
              int* exit) {
  const std::string text = run.args.Get(name);
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    v1::Date day;
    if (!ParseDay(text, &day)) {
      *exit = run.Usage(absl::StrCat("--", name, ": \"", text,
                                     "\" is neither a day (2026-12-01) nor an RFC 3339 time "
                                     "(2026-12-01T08:00:00Z)"));
      return false;
    }
    t = absl::FromCivil(absl::CivilDay(day.year(), day.month(), day.day()) + (end_of_day ? 1 : 0),
                        absl::UTCTimeZone());
  }
  out->set_seconds(absl::ToUnixSeconds(t));
  out->set_nanos(
      static_cast<int32_t>((t - absl::FromUnixSeconds(out->seconds())) / absl::Nanoseconds(1)));
  return true;
}

std::string TimeText(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ",
                          absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos()),
                          absl::UTCTimeZone());
}

}  // namespace

int AuditList(Run& run) {
  v1::ListAuditRecordsRequest request;
  request.set_principal(run.args.Get("principal"));
  absl::StatusOr<int64_t> case_id = run.args.Int("case", 0), limit = run.args.Int("limit", 100);
  for (const auto* v : {&case_id, &limit}) {
    if (!v->ok()) return run.Usage(std::string(v->status().message()));
  }
  if (*case_id < 0) return run.Usage("--case must be a case id");
  if (*limit < 1) return run.Usage("--limit must be at least 1");
  request.set_case_id(*case_id);
  int exit = kOk;
  if (run.args.Has("from") && !TimeFlag(run, "from", false, request.mutable_from(), &exit)) {
    return exit;
  }
  if (run.args.Has("to") && !TimeFlag(run, "to", true, request.mutable_to(), &exit)) return exit;
  auto stub = v1::AuditService::NewStub(run.Channel());
  Table t{{{"id", Kind::kInt},
           {"recorded_at", Kind::kText},
           {"principal", Kind::kText},
           {"certificate", Kind::kText},
           {"peer", Kind::kText},
           {"action", Kind::kText},
           {"case_id", Kind::kInt},
           {"detail", Kind::kText},
           {"hash", Kind::kText}},
          {}};
  bool more = true;
  while (more && static_cast<int64_t>(t.rows.size()) < *limit) {
    request.set_page_size(static_cast<int32_t>(std::min<int64_t>(1000, *limit - t.rows.size())));
    v1::ListAuditRecordsResponse page;
    auto context = run.Context();
    grpc::Status s = stub->ListAuditRecords(context.get(), request, &page);
    if (!s.ok()) return run.Failed(s);
    for (const v1::AuditRecord& r : page.records()) {
      t.Add({Cell::Int(r.id()), Cell::Text(TimeText(r.recorded_at())), Cell::Text(r.principal()),
             Cell::Text(r.certificate()), Cell::Text(r.peer()), Cell::Text(r.action()),
             Cell::Int(r.case_id()), Cell::Text(r.detail()), Cell::Text(r.hash())});
    }
    request.set_page_token(page.next_page_token());
    more = !page.next_page_token().empty();
  }
  Document doc{"audit", "Audit records", {}, {{"records", "", t}}};
  if (more) doc.meta.push_back({"note", absl::StrCat("first ", *limit, "; --limit shows more")});
  return run.Print(doc);
}

int AuditVerify(Run& run) {
  auto stub = v1::AuditService::NewStub(run.Channel());
  v1::VerifyAuditChainResponse out;
  auto context = run.Context(run.args.Has("timeout") ? run.timeout : absl::Hours(1));
  grpc::Status s = stub->VerifyAuditChain(context.get(), {}, &out);
  if (!s.ok()) return run.Failed(s);
  const char* problem = out.intact()                                                    ? "none"
                        : out.problem() == v1::VerifyAuditChainResponse::PROBLEM_EDITED ? "edited"
                                                                                        : "deleted";
  Table t{{{"intact", Kind::kText},
           {"rows_checked", Kind::kInt},
           {"last_id", Kind::kInt},
           {"last_hash", Kind::kText},
           {"broken_id", Kind::kInt},
           {"problem", Kind::kText},
           {"reason", Kind::kText}},
          {}};
  t.Add({Cell::Text(out.intact() ? "yes" : "no"), Cell::Int(out.rows_checked()),
         Cell::Int(out.last_id()), Cell::Text(out.last_hash()), Cell::Int(out.broken_id()),
         Cell::Text(problem), Cell::Text(out.reason())});
  const int printed = run.Print({"audit-verify", "Audit chain", {}, {{"chain", "", t}}});
  if (printed != kOk) return printed;
  if (out.intact()) return kOk;
  run.err << "collectionsctl audit verify: the audit chain is broken at row " << out.broken_id()
          << " (" << problem << "): " << out.reason() << "\n";
  return kRefused;
}

}  // namespace collections::ctl
