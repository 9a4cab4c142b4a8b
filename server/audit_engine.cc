#include "server/audit_engine.h"

#include <algorithm>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/dates.h"

namespace collections::server {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr size_t kMaxPrincipal = 256;

v1::AuditRecord ToProto(const storage::AuditRecord& r) {
  v1::AuditRecord out;
  out.set_id(r.id);
  *out.mutable_recorded_at() = workflow::TimeToProto(r.recorded_at);
  out.set_principal(r.entry.principal);
  out.set_certificate(r.entry.certificate);
  out.set_peer(r.entry.peer);
  out.set_action(r.entry.action);
  out.set_case_id(r.entry.case_id);
  out.set_detail(r.entry.detail);
  out.set_previous_hash(r.previous_hash);
  out.set_hash(r.hash);
  return out;
}

// The error a read answers with when its audit row could not be written:
// the write's code (UNAVAILABLE, ABORTED: retry) and why.
absl::Status Unrecorded(const absl::Status& write) {
  if (write.ok()) return write;
  return absl::Status(write.code(),
                      absl::StrCat("the read could not be recorded in the audit log, so nothing "
                                   "was returned: ",
                                   write.message()));
}

}  // namespace

storage::AuditEntry AuditEntryFor(const security::Principal& caller, std::string action,
                                  int64_t case_id, std::string detail) {
  storage::AuditEntry e;
  e.principal = caller.name;
  e.certificate = caller.certificate;
  e.peer = caller.peer;
  e.action = std::move(action);
  e.case_id = case_id;
  e.detail = std::move(detail);
  return e;
}

void RecordRead(storage::Store& store, storage::AuditEntry entry,
                std::function<void(absl::Status)> done) {
  store.Submit(
      [entry = std::move(entry)](storage::UnitOfWork& uow) { return uow.AppendAudit(entry); },
      std::move(done), storage::WriteLane::kAudited);
}

absl::Status RecordedRead(storage::Store& store, storage::AuditEntry entry,
                          const std::function<void()>& read) {
  auto recorded = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> written = recorded->get_future();
  RecordRead(store, std::move(entry), [recorded](absl::Status s) { recorded->set_value(s); });
  read();
  return Unrecorded(written.get());
}

absl::Status RecordAfterRead(storage::Store& store, storage::AuditEntry entry) {
  return Unrecorded(store.Write(
      [entry = std::move(entry)](storage::UnitOfWork& uow) { return uow.AppendAudit(entry); },
      storage::WriteLane::kAudited));
}

absl::StatusOr<storage::AuditFilter> AuditEngine::CheckList(
    const v1::ListAuditRecordsRequest& request) {
  storage::AuditFilter f;
  if (request.principal().size() > kMaxPrincipal) {
    return absl::InvalidArgumentError(absl::StrCat("principal: at most ", kMaxPrincipal, " bytes"));
  }
  f.principal = request.principal();
  if (request.case_id() < 0) return absl::InvalidArgumentError("case_id must not be negative");
  f.case_id = request.case_id();
  if (request.has_from()) f.from = workflow::TimeFromProto(request.from());
  if (request.has_to()) f.to = workflow::TimeFromProto(request.to());
  if (request.has_from() && request.has_to() && f.to <= f.from) {
    return absl::InvalidArgumentError("to must be after from");
  }
  if (request.page_size() < 0 || request.page_size() > storage::kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be 0..", storage::kMaxPageSize,
                                                   " (0: ", kDefaultPageSize, ")"));
  }
  f.limit = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &f.after_id) || f.after_id <= 0)) {
    return absl::InvalidArgumentError("page_token is not one this server gave out");
  }
  return f;
}

absl::StatusOr<v1::ListAuditRecordsResponse> AuditEngine::List(const storage::AuditFilter& filter) {
  storage::AuditFilter one_more = filter;
  one_more.limit = filter.limit + 1;  // tells whether another page exists
  ASSIGN_OR_RETURN(std::vector<storage::AuditRecord> rows, store_->ListAuditRecords(one_more));
  v1::ListAuditRecordsResponse out;
  const size_t n = std::min<size_t>(rows.size(), filter.limit);
  for (size_t i = 0; i < n; ++i) *out.add_records() = ToProto(rows[i]);
  if (rows.size() > n) out.set_next_page_token(absl::StrCat(rows[n - 1].id));
  return out;
}

absl::StatusOr<v1::VerifyAuditChainResponse> AuditEngine::Verify() {
  ASSIGN_OR_RETURN(storage::AuditVerification v, store_->VerifyAuditChain());
  v1::VerifyAuditChainResponse out;
  out.set_intact(v.problem == storage::AuditVerification::Problem::kNone);
  out.set_rows_checked(v.rows_checked);
  out.set_last_id(v.last_id);
  out.set_last_hash(v.last_hash);
  out.set_broken_id(v.broken_id);
  out.set_reason(v.reason);
  switch (v.problem) {
    case storage::AuditVerification::Problem::kNone:
      out.set_problem(v1::VerifyAuditChainResponse::PROBLEM_UNSPECIFIED);
      break;
    case storage::AuditVerification::Problem::kEdited:
      out.set_problem(v1::VerifyAuditChainResponse::PROBLEM_EDITED);
      break;
    case storage::AuditVerification::Problem::kDeleted:
      out.set_problem(v1::VerifyAuditChainResponse::PROBLEM_DELETED);
      break;
  }
  return out;
}

}  // namespace collections::server
