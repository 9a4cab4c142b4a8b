// LegalEngine: what LegalService does, without the gRPC plumbing. Handoffs
// go to each firm in sequence order, each carrying the most recent events
// of its case file (the rest is paged by History); counsel acknowledges
// them and reports milestones, each an event through the state machine. A
// firm sees and touches only its own cases (identified, until
// authentication lands, by the firm_id it sends): another firm's handoff or
// case looks the same as none.
//
// Thread-safe; copyable (it holds only pointers that outlive it). The
// Check* methods are cheap and never block. Acknowledge and ReportMilestone
// hand a command to the store's writer and call `done` once the commit is
// durable; NextHandoffs and History block (database reads) and belong on
// the executor, never on a gRPC callback thread.
#ifndef COLLECTIONS_SERVER_LEGAL_ENGINE_H_
#define COLLECTIONS_SERVER_LEGAL_ENGINE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collections/v1/legal_service.pb.h"
#include "server/clock.h"
#include "server/commands.h"
#include "server/policy_registry.h"
#include "storage/store.h"

namespace collections::server {

class CaseEngine;

class LegalEngine {
 public:
  LegalEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
              const CaseEngine* cases);

  // The checks a request passes before any work: INVALID_ARGUMENT naming
  // the field, nothing changed.
  static absl::Status CheckStream(const v1::StreamHandoffsRequest& request);
  static absl::Status CheckAcknowledge(const v1::AcknowledgeHandoffRequest& request);
  static absl::Status CheckMilestone(const v1::ReportLegalMilestoneRequest& request);
  // Also decodes the page token: the event sequence the page starts after
  // (0 for the first page).
  static absl::StatusOr<int64_t> CheckHistory(const v1::GetHandoffHistoryRequest& request);

  // Blocking: the firm's next handoffs after sequence `after` (at most 100),
  // each with at most the 200 most recent events of its case file up to the
  // handoff (Handoff.history_truncated says when there are more).
  absl::StatusOr<std::vector<v1::Handoff>> NextHandoffs(const std::string& firm,
                                                        int64_t after) const;

  // `actor`: the authenticated principal, recorded on the case's event.
  void Acknowledge(v1::AcknowledgeHandoffRequest request, const std::string& actor,
                   std::function<void(absl::StatusOr<v1::AcknowledgeHandoffResponse>)> done,
                   CallAlive alive = nullptr);
  void ReportMilestone(v1::ReportLegalMilestoneRequest request, const std::string& actor,
                       std::function<void(absl::StatusOr<v1::ReportLegalMilestoneResponse>)> done,
                       CallAlive alive = nullptr);

  // Blocking: one page of a handoff's history, events after `after` (from
  // CheckHistory).
  absl::StatusOr<v1::GetHandoffHistoryResponse> History(const v1::GetHandoffHistoryRequest& request,
                                                        int64_t after) const;

 private:
  storage::Store* store_;
  const Clock* clock_;
  PolicyRegistry* policies_;
  const CaseEngine* cases_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_LEGAL_ENGINE_H_
