#include "server/legal_engine.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "server/case_engine.h"
#include "server/commands.h"
#include "server/transitions.h"
#include "workflow/dates.h"
#include "workflow/state_machine.h"

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

}  // namespace

LegalEngine::LegalEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
                         const CaseEngine* cases)
    : store_(store), clock_(clock), policies_(policies), cases_(cases) {}

absl::Status LegalEngine::CheckStream(const v1::StreamHandoffsRequest& request) {
  RETURN_IF_ERROR(CheckFirm(request.firm_id()));
  if (request.after_sequence() < 0) {
    return absl::InvalidArgumentError("after_sequence must not be negative");
  }
  return absl::OkStatus();
}

absl::Status LegalEngine::CheckAcknowledge(const v1::AcknowledgeHandoffRequest& request) {
  RETURN_IF_ERROR(CheckFirm(request.firm_id()));
  if (request.sequence() <= 0) return absl::InvalidArgumentError("sequence is required");
  if (!request.accepted() && request.refusal_reason().empty()) {
    return absl::InvalidArgumentError("refusal_reason is required when refusing a case");
  }
  if (request.refusal_reason().size() > 4096) {
    return absl::InvalidArgumentError("refusal_reason is too long");
  }
  return absl::OkStatus();
}

absl::Status LegalEngine::CheckMilestone(const v1::ReportLegalMilestoneRequest& request) {
  const v1::LegalMilestone& m = request.milestone();
  RETURN_IF_ERROR(CheckFirm(m.firm_id()));
  if (request.case_id() <= 0) return absl::InvalidArgumentError("case_id is required");
  if (m.kind() == v1::LEGAL_MILESTONE_KIND_REFUSED) {
    return absl::InvalidArgumentError("milestone.kind: refuse a case with AcknowledgeHandoff");
  }
  RETURN_IF_ERROR(CheckRequiredRequestId(request.request_id()));
  if (m.court().size() > 512 || m.court_case_number().size() > 512 ||
      m.conclusion().size() > 4096) {
    return absl::InvalidArgumentError("milestone text is too long");
  }
  if (!workflow::IsUnset(m.on())) {
    return workflow::DayFromProto(m.on(), "milestone.on").status();
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> LegalEngine::CheckHistory(const v1::GetHandoffHistoryRequest& request) {
  RETURN_IF_ERROR(CheckFirm(request.firm_id()));
  if (request.sequence() <= 0) return absl::InvalidArgumentError("sequence is required");
  if (request.page_size() < 0 || request.page_size() > kMaxHistoryPage) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be 0..", kMaxHistoryPage, " (0: ", kDefaultHistoryPage, ")"));
  }
  // The token is "<handoff sequence>:<last event sequence given>".
  int64_t after = 0;
  if (!request.page_token().empty()) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(request.page_token(), absl::MaxSplits(':', 1));
    int64_t token_handoff = 0;
    if (!absl::SimpleAtoi(parts.first, &token_handoff) || token_handoff != request.sequence() ||
        !absl::SimpleAtoi(parts.second, &after) || after <= 0) {
      return absl::InvalidArgumentError(
          "page_token is not one this server gave out for this handoff");
    }
  }
  return after;
}

// A bounded message, so that no case's history can block the firm's
// stream; the firm pages through the rest with GetHandoffHistory.
absl::StatusOr<std::vector<v1::Handoff>> LegalEngine::NextHandoffs(const std::string& firm,
                                                                   int64_t after) const {
  ASSIGN_OR_RETURN(std::vector<v1::Handoff> list, store_->ListHandoffs(firm, after, 100));
  for (v1::Handoff& h : list) {
    if (h.case_().version() <= 0) continue;
    ASSIGN_OR_RETURN(
        std::vector<v1::CaseEvent> events,
        store_->ListEventsPage(h.case_id(), 0, h.case_().version(), kHandoffHistoryEvents + 1,
                               /*newest=*/true));
    if (static_cast<int>(events.size()) > kHandoffHistoryEvents) {
      events.erase(events.begin());
      h.set_history_truncated(true);
    }
    for (v1::CaseEvent& e : events) *h.add_history() = std::move(e);
  }
  return list;
}

void LegalEngine::Acknowledge(
    v1::AcknowledgeHandoffRequest request, const std::string& actor,
    std::function<void(absl::StatusOr<v1::AcknowledgeHandoffResponse>)> done, CallAlive alive) {
  const absl::CivilDay today = cases_->BusinessDate();
  SubmitFor<v1::AcknowledgeHandoffResponse>(
      store_,
      [this, req = std::move(request), actor, today](
          storage::UnitOfWork& uow, v1::AcknowledgeHandoffResponse&) -> absl::Status {
        ASSIGN_OR_RETURN(auto handoff, uow.LoadHandoff(req.sequence()));
        // Another firm's handoff looks the same as none: nothing leaks.
        if (!handoff || handoff->firm_id != req.firm_id()) {
          return absl::NotFoundError(
              absl::StrCat("handoff ", req.sequence(), " not found for firm ", req.firm_id()));
        }
        if (handoff->acknowledged) return absl::OkStatus();  // once is enough
        RETURN_IF_ERROR(uow.AcknowledgeHandoff(req.sequence(), req.accepted(), req.refusal_reason(),
                                               clock_->Now()));
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
        e.set_actor(actor);
        v1::LegalMilestone& m = *e.mutable_legal_milestone();
        m.set_kind(req.accepted() ? v1::LEGAL_MILESTONE_KIND_ACCEPTED
                                  : v1::LEGAL_MILESTONE_KIND_REFUSED);
        m.set_firm_id(req.firm_id());
        m.set_conclusion(req.refusal_reason());
        return DecideAndApply(uow, *policies_, *clock_, &*c, e).status();
      },
      std::move(done), std::move(alive));
}

void LegalEngine::ReportMilestone(
    v1::ReportLegalMilestoneRequest request, const std::string& actor,
    std::function<void(absl::StatusOr<v1::ReportLegalMilestoneResponse>)> done, CallAlive alive) {
  const absl::CivilDay today = cases_->BusinessDate();
  SubmitFor<v1::ReportLegalMilestoneResponse>(
      store_,
      [this, req = std::move(request), actor, today](
          storage::UnitOfWork& uow, v1::ReportLegalMilestoneResponse& out) -> absl::Status {
        // Scoped to the caller and the case.
        const IdempotencyKey key =
            IdempotencyKeyFor("/collections.v1.LegalService/ReportLegalMilestone", actor,
                              req.case_id(), req.request_id(), req);
        ASSIGN_OR_RETURN(bool seen, FindStoredAnswer(uow, key, &out));
        if (seen) return absl::OkStatus();
        ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(req.case_id()));
        if (!c || c->legal().firm_id() != req.milestone().firm_id()) {
          // Not this firm's case: indistinguishable from no case at all.
          return absl::NotFoundError(absl::StrCat("case_id ", req.case_id(), " not found for firm ",
                                                  req.milestone().firm_id()));
        }
        v1::CaseEvent e;
        *e.mutable_business_date() = workflow::DayToProto(today);
        e.set_actor(actor);
        *e.mutable_legal_milestone() = req.milestone();
        ASSIGN_OR_RETURN(workflow::Transition t, DecideAndApply(uow, *policies_, *clock_, &*c, e));
        *out.mutable_case_() = t.next;
        return SaveAnswer(uow, key, out);
      },
      std::move(done), std::move(alive));
}

absl::StatusOr<v1::GetHandoffHistoryResponse> LegalEngine::History(
    const v1::GetHandoffHistoryRequest& request, int64_t after) const {
  ASSIGN_OR_RETURN(std::vector<v1::Handoff> found,
                   store_->ListHandoffs(request.firm_id(), request.sequence() - 1, 1));
  // Another firm's handoff looks the same as none: nothing leaks.
  if (found.empty() || found[0].sequence() != request.sequence()) {
    return absl::NotFoundError(
        absl::StrCat("handoff ", request.sequence(), " not found for firm ", request.firm_id()));
  }
  const v1::Handoff& h = found[0];
  const int page = request.page_size() == 0 ? kDefaultHistoryPage : request.page_size();
  v1::GetHandoffHistoryResponse out;
  out.set_case_id(h.case_id());
  if (h.case_().version() <= 0) return out;
  ASSIGN_OR_RETURN(std::vector<v1::CaseEvent> events,
                   store_->ListEventsPage(h.case_id(), after, h.case_().version(), page + 1,
                                          /*newest=*/false));
  if (static_cast<int>(events.size()) > page) {
    events.resize(page);
    out.set_next_page_token(absl::StrCat(h.sequence(), ":", events.back().sequence()));
  }
  for (v1::CaseEvent& e : events) *out.add_events() = std::move(e);
  return out;
}

}  // namespace collections::server
