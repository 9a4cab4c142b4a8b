// TaskEngine: what TaskService does, without the gRPC plumbing. Every
// change is a storage Command on the store's single writer (a claim too: it
// leases rows); its callback runs once the commit is durable.
//
// Claims enforce contact compliance (workflow/compliance.h) through the
// store's claim `hold`: a contact task that may not go out now keeps its
// place with the reason, and its not_before moves to when the hold may lift
// so that it stops crowding the head of its queue. Completion records the
// outcome and runs it through the state machine in the same command.
//
// Thread-safe. Callbacks run on the store's answer thread and must not block.
#ifndef COLLECTIONS_SERVER_TASK_ENGINE_H_
#define COLLECTIONS_SERVER_TASK_ENGINE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collections/v1/task_service.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/repeated_field.h"
#include "server/clock.h"
#include "server/commands.h"
#include "server/policy_registry.h"
#include "storage/store.h"

namespace collections::server {

class CaseEngine;

// A validated claim: who, from where, how many, for how long.
struct ClaimArgs {
  std::string worker;
  std::vector<std::string> queues;
  std::vector<v1::TaskType> types;  // empty: any
  int max_tasks = 1;
  absl::Duration lease;
  // Who claims, for the audit log: a claim that leases tasks (their
  // payloads carry phone numbers and addresses) appends this entry, with
  // the task and case ids as its detail, in the claim's transaction. An
  // empty action records nothing.
  storage::AuditEntry audit;
  // A stream's claim: on SQLite, one that leases fewer than asked also
  // looks up the next ready time and reports the queues drained (Claimed),
  // so that the stream waits instead of claiming again at once. A unary
  // claim answers with what it leased and needs neither.
  bool stream = false;
};

struct Claimed {
  std::vector<v1::Task> tasks;  // leased, most urgent first
  // When nothing was leased, or (a stream's claim on SQLite) fewer than
  // asked: the earliest time a task of these queues becomes ready by time
  // alone (a not_before, a hold lifting).
  std::optional<absl::Time> recheck;
  // Nothing leased, or (a stream's claim on SQLite, whose one writer ran
  // every earlier command, so nothing claimable was skipped; on PostgreSQL
  // SKIP LOCKED may have hidden rows another writer or replica held) fewer
  // than asked, and none held aside: nothing else of these queues is ready
  // now. The stream then waits for the next ready task instead of claiming
  // again at once.
  bool drained = false;
};

class TaskEngine {
 public:
  TaskEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
             const CaseEngine* cases);

  // The checks every claim passes (ClaimTasks and StreamTasks): bounds on
  // worker, queues, types and max_tasks; the lease (unset: the policy's
  // default) within the current policy's bounds. INVALID_ARGUMENT naming
  // the field.
  absl::StatusOr<ClaimArgs> CheckClaim(
      const std::string& worker, const google::protobuf::RepeatedPtrField<std::string>& queues,
      const google::protobuf::RepeatedField<int>& types, int max_tasks,
      const google::protobuf::Duration* lease) const;

  void Claim(const ClaimArgs& args, std::function<void(absl::StatusOr<Claimed>)> done,
             CallAlive alive = nullptr);
  // `holder` is the authenticated caller: a lease held by another principal
  // is PERMISSION_DENIED. With `claim_next` (CheckClaim's), the same command
  // then claims as Claim does, into the response's next_tasks; a repeat
  // answers those of them still leased under the same tokens.
  void Complete(v1::CompleteTaskRequest request, const std::string& holder,
                std::optional<ClaimArgs> claim_next,
                std::function<void(absl::StatusOr<v1::CompleteTaskResponse>)> done,
                CallAlive alive = nullptr);
  void Fail(v1::FailTaskRequest request, const std::string& holder,
            std::function<void(absl::StatusOr<v1::FailTaskResponse>)> done,
            CallAlive alive = nullptr);
  void Extend(v1::ExtendLeaseRequest request, const std::string& holder,
              std::function<void(absl::StatusOr<v1::ExtendLeaseResponse>)> done,
              CallAlive alive = nullptr);
  void Release(v1::ReleaseTaskRequest request, const std::string& holder,
               std::function<void(absl::StatusOr<v1::ReleaseTaskResponse>)> done,
               CallAlive alive = nullptr);
  // Best effort, for tasks leased to a caller that went away before they
  // reached it: gives them back untouched.
  void ReleaseUndelivered(const std::vector<v1::Task>& tasks);

  // Blocking read.
  absl::StatusOr<v1::ListTasksResponse> List(const v1::ListTasksRequest& request);

 private:
  // Claim's command, inside any command's unit of work; sets `recheck`
  // only while held tasks are being moved aside (Claim adds the rest).
  absl::Status ClaimIn(storage::UnitOfWork& uow, const ClaimArgs& args, absl::Time now,
                       Claimed& out);
  // A repeated completion's next tasks, as the tasks table has them now:
  // those still leased under the answer's tokens, with payload and key.
  static absl::Status RefillNextTasks(storage::UnitOfWork& uow, absl::Time now,
                                      v1::CompleteTaskResponse& out);

  storage::Store* const store_;
  const Clock* const clock_;
  PolicyRegistry* const policies_;
  const CaseEngine* const cases_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_TASK_ENGINE_H_
