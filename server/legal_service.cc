#include "server/legal_service.h"

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "server/case_engine.h"
#include "server/handoff_notifier.h"
#include "server/rpc_util.h"
#include "server/transitions.h"
#include "workflow/dates.h"
#include "workflow/state_machine.h"
#include "workflow/status_macros.h"

namespace collections::server {
namespace {

// Events a handoff carries at most (the most recent); see
// Handoff.history_truncated.
constexpr int kHandoffHistoryEvents = 200;
// GetHandoffHistory's page sizes, as GetCase's.
constexpr int kDefaultHistoryPage = 100;
constexpr int kMaxHistoryPage = 500;

absl::Status CheckFirm(const std::string& firm_id) {
  if (firm_id.empty() || firm_id.size() > workflow::kMaxIdLength) {
    return absl::InvalidArgumentError("firm_id must be 1..64 bytes");
  }
  return absl::OkStatus();
}

// One firm's subscription: sends its handoffs after `after` in order, then
// waits for more. Lifetime: deleted when gRPC is done with it and no fetch
// or wait still refers to it.
class HandoffStream final : public grpc::ServerWriteReactor<v1::Handoff> {
 public:
  HandoffStream(const ServiceContext& context, std::string firm, int64_t after)
      : context_(context), firm_(std::move(firm)), after_(after) {
    Fetch();
  }

  void OnWriteDone(bool ok) override {
    bool fetch = false;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      if (!ok) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
        return;
      }
      after_ = queue_.front().sequence();
      queue_.pop_front();
      if (!queue_.empty()) {
        StartWrite(&queue_.front());
      } else {
        fetch = true;
      }
    }
    if (fetch) Fetch();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void OnDone() override {
    bool last = false;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      last = outstanding_ == 0;
    }
    if (last) delete this;
  }

 private:
  // Reads what came after `after_` off the gRPC threads.
  void Fetch() {
    Hold();
    const uint64_t epoch = context_.handoffs->epoch();
    int64_t after;
    {
      absl::MutexLock lock(&mu_);
      after = after_;
    }
    context_.executor->Schedule([this, epoch, after] {
      Fetched(epoch, Load(after));
      Release();
    });
  }

  // The next handoffs, each with the most recent events of the case file up
  // to the handoff: a bounded message, so that no case's history can block
  // the firm's stream. The firm pages through the rest with
  // GetHandoffHistory.
  absl::StatusOr<std::vector<v1::Handoff>> Load(int64_t after) {
    ASSIGN_OR_RETURN(std::vector<v1::Handoff> list,
                     context_.store->ListHandoffs(firm_, after, 100));
    for (v1::Handoff& h : list) {
      if (h.case_().version() <= 0) continue;
      ASSIGN_OR_RETURN(std::vector<v1::CaseEvent> events,
                       context_.store->ListEventsPage(h.case_id(), 0, h.case_().version(),
                                                      kHandoffHistoryEvents + 1,
                                                      /*newest=*/true));
      if (static_cast<int>(events.size()) > kHandoffHistoryEvents) {
        events.erase(events.begin());
        h.set_history_truncated(true);
      }
      for (v1::CaseEvent& e : events) *h.add_history() = std::move(e);
    }
    return list;
  }

  void Fetched(uint64_t epoch, absl::StatusOr<std::vector<v1::Handoff>> result) {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    if (!result.ok()) {
      FinishLocked(ToGrpcStatus(result.status()));
      return;
    }
    if (result->empty()) {
      ++outstanding_;
      mu_.Unlock();
      context_.handoffs->Wait(epoch, [this](bool stopping) {
        if (stopping) {
          absl::MutexLock lock(&mu_);
          FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    "the server is shutting down; resume from the last sequence"));
        } else {
          Fetch();
        }
        Release();
      });
      mu_.Lock();
      return;
    }
    for (v1::Handoff& h : *result) queue_.push_back(std::move(h));
    StartWrite(&queue_.front());
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) return;
    finishing_ = true;
    Finish(std::move(status));
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    ++outstanding_;
  }
  void Release() {
    bool last = false;
    {
      absl::MutexLock lock(&mu_);
      last = --outstanding_ == 0 && done_;
    }
    if (last) delete this;
  }

  const ServiceContext context_;
  const std::string firm_;
  absl::Mutex mu_;
  int64_t after_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::Handoff> queue_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // fetches and waits in flight
};


}  // namespace

grpc::ServerWriteReactor<v1::Handoff>* LegalServiceImpl::StreamHandoffs(
    grpc::CallbackServerContext* context, const v1::StreamHandoffsRequest* request) {
  absl::Status invalid = CheckFirm(request->firm_id());
  if (invalid.ok() && request->after_sequence() < 0) {
    invalid = absl::InvalidArgumentError("after_sequence must not be negative");
  }
  if (!invalid.ok()) {
    return new FinishNowReactor<grpc::ServerWriteReactor<v1::Handoff>>(ToGrpcStatus(invalid));
  }
  return new HandoffStream(context_, request->firm_id(), request->after_sequence());
}

grpc::ServerUnaryReactor* LegalServiceImpl::AcknowledgeHandoff(
    grpc::CallbackServerContext* context, const v1::AcknowledgeHandoffRequest* request,
    v1::AcknowledgeHandoffResponse* response) {
  absl::Status invalid = CheckFirm(request->firm_id());
  if (invalid.ok() && request->sequence() <= 0) {
    invalid = absl::InvalidArgumentError("sequence is required");
  }
  if (invalid.ok() && !request->accepted() && request->refusal_reason().empty()) {
    invalid = absl::InvalidArgumentError("refusal_reason is required when refusing a case");
  }
  if (invalid.ok() && request->refusal_reason().size() > 4096) {
    invalid = absl::InvalidArgumentError("refusal_reason is too long");
  }
  if (!invalid.ok()) return FinishUnary(context, ToGrpcStatus(invalid));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::CivilDay today = context_.cases->BusinessDate();
  SubmitUnary<v1::AcknowledgeHandoffResponse>(
      context_.store, reactor, response,
      [this, req = *request, today](storage::UnitOfWork& uow,
                                    v1::AcknowledgeHandoffResponse&) -> absl::Status {
        ASSIGN_OR_RETURN(auto handoff, uow.LoadHandoff(req.sequence()));
        // Another firm's handoff looks the same as none: nothing leaks.
        if (!handoff || handoff->firm_id != req.firm_id()) {
          return absl::NotFoundError(absl::StrCat("handoff ", req.sequence(), " not found for firm ",
                                                  req.firm_id()));
        }
        if (handoff->acknowledged) return absl::OkStatus();  // once is enough
        RETURN_IF_ERROR(uow.AcknowledgeHandoff(req.sequence(), req.accepted(),
                                               req.refusal_reason(), context_.clock->Now()));
        if (handoff->kind != v1::HANDOFF_KIND_NEW_CASE) return absl::OkStatus();
        ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(handoff->case_id));
        // Only a case still with this firm moves; a stale acknowledgement
        // (the borrower paid meanwhile) is just recorded.
        if (!c || c->legal().phase() != v1::LEGAL_PHASE_HANDED_OFF ||
            c->legal().firm_id() != req.firm_id()) {
          return absl::OkStatus();
        }
        v1::CaseEvent e;
        *e.mutable_business_date() = workflow::DayToProto(today);
        e.set_actor(absl::StrCat("legal:", req.firm_id()));
        v1::LegalMilestone& m = *e.mutable_legal_milestone();
        m.set_kind(req.accepted() ? v1::LEGAL_MILESTONE_KIND_ACCEPTED
                                  : v1::LEGAL_MILESTONE_KIND_REFUSED);
        m.set_firm_id(req.firm_id());
        m.set_conclusion(req.refusal_reason());
        return DecideAndApply(uow, *context_.policies, *context_.clock, &*c, e).status();
      });
  return reactor;
}

grpc::ServerUnaryReactor* LegalServiceImpl::ReportLegalMilestone(
    grpc::CallbackServerContext* context, const v1::ReportLegalMilestoneRequest* request,
    v1::ReportLegalMilestoneResponse* response) {
  const v1::LegalMilestone& m = request->milestone();
  absl::Status invalid = CheckFirm(m.firm_id());
  if (invalid.ok() && request->case_id() <= 0) {
    invalid = absl::InvalidArgumentError("case_id is required");
  }
  if (invalid.ok() && m.kind() == v1::LEGAL_MILESTONE_KIND_REFUSED) {
    invalid = absl::InvalidArgumentError(
        "milestone.kind: refuse a case with AcknowledgeHandoff");
  }
  if (invalid.ok() && request->request_id().size() > workflow::kMaxIdLength) {
    invalid = absl::InvalidArgumentError("request_id is too long");
  }
  if (invalid.ok() && (m.court().size() > 512 || m.court_case_number().size() > 512 ||
                       m.conclusion().size() > 4096)) {
    invalid = absl::InvalidArgumentError("milestone text is too long");
  }
  if (invalid.ok() && !workflow::IsUnset(m.on())) {
    invalid = workflow::DayFromProto(m.on(), "milestone.on").status();
  }
  if (!invalid.ok()) return FinishUnary(context, ToGrpcStatus(invalid));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::CivilDay today = context_.cases->BusinessDate();
  SubmitUnary<v1::ReportLegalMilestoneResponse>(
      context_.store, reactor, response,
      [this, req = *request, today](storage::UnitOfWork& uow,
                                    v1::ReportLegalMilestoneResponse& out) -> absl::Status {
        if (!req.request_id().empty()) {
          ASSIGN_OR_RETURN(auto seen, uow.FindResponse("legal.milestone", req.request_id()));
          if (seen) {
            return out.ParseFromString(*seen) ? absl::OkStatus()
                                               : absl::InternalError("stored response is corrupt");
          }
        }
        ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(req.case_id()));
        if (!c || c->legal().firm_id() != req.milestone().firm_id()) {
          // Not this firm's case: indistinguishable from no case at all.
          return absl::NotFoundError(absl::StrCat("case_id ", req.case_id(), " not found for firm ",
                                                  req.milestone().firm_id()));
        }
        v1::CaseEvent e;
        *e.mutable_business_date() = workflow::DayToProto(today);
        e.set_actor(absl::StrCat("legal:", req.milestone().firm_id()));
        *e.mutable_legal_milestone() = req.milestone();
        ASSIGN_OR_RETURN(workflow::Transition t,
                         DecideAndApply(uow, *context_.policies, *context_.clock, &*c, e));
        *out.mutable_case_() = t.next;
        if (!req.request_id().empty()) {
          RETURN_IF_ERROR(uow.SaveResponse("legal.milestone", req.request_id(), out.SerializeAsString()));
        }
        return absl::OkStatus();
      });
  return reactor;
}

grpc::ServerUnaryReactor* LegalServiceImpl::GetHandoffHistory(
    grpc::CallbackServerContext* context, const v1::GetHandoffHistoryRequest* request,
    v1::GetHandoffHistoryResponse* response) {
  absl::Status invalid = CheckFirm(request->firm_id());
  if (invalid.ok() && request->sequence() <= 0) {
    invalid = absl::InvalidArgumentError("sequence is required");
  }
  if (invalid.ok() && (request->page_size() < 0 || request->page_size() > kMaxHistoryPage)) {
    invalid = absl::InvalidArgumentError(absl::StrCat("page_size must be 0..", kMaxHistoryPage,
                                                      " (0: ", kDefaultHistoryPage, ")"));
  }
  // The token is "<handoff sequence>:<last event sequence given>".
  int64_t after = 0;
  if (invalid.ok() && !request->page_token().empty()) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(request->page_token(), absl::MaxSplits(':', 1));
    int64_t token_handoff = 0;
    if (!absl::SimpleAtoi(parts.first, &token_handoff) ||
        token_handoff != request->sequence() || !absl::SimpleAtoi(parts.second, &after) ||
        after <= 0) {
      invalid = absl::InvalidArgumentError(
          "page_token is not one this server gave out for this handoff");
    }
  }
  if (!invalid.ok()) return FinishUnary(context, ToGrpcStatus(invalid));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.executor->Schedule([this, reactor, request, response, after] {
    auto result = [&]() -> absl::StatusOr<v1::GetHandoffHistoryResponse> {
      ASSIGN_OR_RETURN(std::vector<v1::Handoff> found,
                       context_.store->ListHandoffs(request->firm_id(), request->sequence() - 1, 1));
      // Another firm's handoff looks the same as none: nothing leaks.
      if (found.empty() || found[0].sequence() != request->sequence()) {
        return absl::NotFoundError(absl::StrCat("handoff ", request->sequence(),
                                                " not found for firm ", request->firm_id()));
      }
      const v1::Handoff& h = found[0];
      const int page = request->page_size() == 0 ? kDefaultHistoryPage : request->page_size();
      v1::GetHandoffHistoryResponse out;
      out.set_case_id(h.case_id());
      if (h.case_().version() <= 0) return out;
      ASSIGN_OR_RETURN(std::vector<v1::CaseEvent> events,
                       context_.store->ListEventsPage(h.case_id(), after, h.case_().version(),
                                                      page + 1, /*newest=*/false));
      if (static_cast<int>(events.size()) > page) {
        events.resize(page);
        out.set_next_page_token(absl::StrCat(h.sequence(), ":", events.back().sequence()));
      }
      for (v1::CaseEvent& e : events) *out.add_events() = std::move(e);
      return out;
    }();
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

}  // namespace collections::server
