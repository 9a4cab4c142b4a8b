// ExperimentEngine: what ExperimentService and ReportService.ExperimentReport
// do, without the gRPC plumbing (docs/experiments.md). It stores
// experiments (storage/experiments.h), keeps ExperimentRegistry current for
// the imports that assign new cases, makes the winner's policy current when
// an experiment ends (through PolicyEngine::Put), moves challenger cases to
// the champion on a roll-back (one `experiment_assigned` event per case),
// and computes the experiment report with workflow/experiment.h's
// statistics.
//
// Thread-safe. The Check* methods are cheap and never block; the others
// block (database reads and writes) and belong on the executor, never on a
// gRPC callback thread.
#ifndef COLLECTIONS_SERVER_EXPERIMENT_ENGINE_H_
#define COLLECTIONS_SERVER_EXPERIMENT_ENGINE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collections/v1/experiment_service.pb.h"
#include "collections/v1/report_service.pb.h"
#include "server/clock.h"
#include "server/experiment_registry.h"
#include "server/policy_engine.h"
#include "server/policy_registry.h"
#include "storage/audit.h"
#include "storage/store.h"

namespace collections::server {

class CaseEngine;

class ExperimentEngine {
 public:
  ExperimentEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
                   const CaseEngine* cases, PolicyEngine* policy_engine,
                   ExperimentRegistry* registry);

  // The checks a request passes before any work: INVALID_ARGUMENT naming
  // the field, nothing changed.
  static absl::Status CheckCreate(const v1::CreateExperimentRequest& request);
  static absl::Status CheckGet(const v1::GetExperimentRequest& request);
  static absl::Status CheckAction(const v1::ExperimentActionRequest& request);
  static absl::Status CheckEnd(const v1::EndExperimentRequest& request);
  static absl::Status CheckReport(const v1::ExperimentReportRequest& request);

  // `by` is the caller as the audit log records it; its principal scopes the
  // request ids and is recorded as the creator and on roll-back events.
  absl::StatusOr<v1::ExperimentAnswer> Create(const v1::CreateExperimentRequest& request,
                                              const storage::AuditEntry& by);
  absl::StatusOr<v1::ExperimentAnswer> Get(int64_t experiment_id);
  absl::StatusOr<v1::ListExperimentsResponse> List();
  absl::StatusOr<v1::ExperimentAnswer> Pause(const v1::ExperimentActionRequest& request,
                                             const storage::AuditEntry& by);
  absl::StatusOr<v1::ExperimentAnswer> Resume(const v1::ExperimentActionRequest& request,
                                              const storage::AuditEntry& by);
  absl::StatusOr<v1::ExperimentAnswer> End(const v1::EndExperimentRequest& request,
                                           const storage::AuditEntry& by);
  absl::StatusOr<v1::RollBackExperimentResponse> RollBack(
      const v1::ExperimentActionRequest& request, const storage::AuditEntry& by);

  absl::StatusOr<v1::ExperimentReportAnswer> Report(const v1::ExperimentReportRequest& request);

 private:
  // One change of state as a command: idempotent under (by, method,
  // experiment, request_id); `change` checks the stored experiment and
  // changes it (an error changes nothing).
  absl::StatusOr<v1::ExperimentAnswer> ChangeState(
      const std::string& method, int64_t experiment_id, const std::string& request_id,
      const google::protobuf::Message& request, const storage::AuditEntry& by,
      const std::function<absl::Status(v1::Experiment&)>& change);

  storage::Store* const store_;
  const Clock* const clock_;
  PolicyRegistry* const policies_;
  const CaseEngine* const cases_;
  PolicyEngine* const policy_engine_;
  ExperimentRegistry* const registry_;
  absl::Mutex end_mu_;  // one End at a time (it may store a policy version)
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_EXPERIMENT_ENGINE_H_
