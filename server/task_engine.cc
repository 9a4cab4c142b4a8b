#include "server/task_engine.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/case_engine.h"
#include "server/commands.h"
#include "server/contact_gate.h"
#include "server/logging.h"
#include "server/transitions.h"
#include "workflow/compliance.h"
#include "workflow/dates.h"
#include "workflow/state_machine.h"

namespace collections::server {
namespace {

constexpr int kMaxQueues = 16;
constexpr size_t kMaxName = 64;  // worker ids, queue names, request ids
constexpr size_t kMaxReason = 512;
constexpr int kMaxClaim = 100;
// A claim reads max_tasks candidates per queue; when some were held (and
// moved aside), it goes round again reading more (x4 + 16 each time), at
// most this many rounds in one command.
constexpr int kClaimRounds = 6;

absl::Status CheckName(const std::string& value, absl::string_view field) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (value.size() > kMaxName) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is too long (at most ", kMaxName, " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status CheckTaskRef(int64_t task_id) {
  if (task_id <= 0) return absl::InvalidArgumentError("task_id must be positive");
  return absl::OkStatus();
}

// The lease bounds of the current policy: `d` unset means the default.
absl::StatusOr<absl::Duration> LeaseWithin(const v1::Policy& policy,
                                           const google::protobuf::Duration* d,
                                           absl::string_view field) {
  const v1::TaskRules& rules = policy.tasks();
  if (d == nullptr) return absl::Seconds(rules.default_lease_seconds());
  ASSIGN_OR_RETURN(absl::Duration lease, workflow::DurationFromProto(*d, field));
  if (lease < absl::Seconds(1) || lease > absl::Seconds(rules.max_lease_seconds())) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be 1 s to ",
                                                   rules.max_lease_seconds(),
                                                   " s (the policy's max_lease_seconds)"));
  }
  return lease;
}

// The lease check with a clear answer for a task whose case moved on (a
// token that was never issued is still called that).
absl::Status ExplainLeaseError(storage::UnitOfWork& uow, int64_t task_id, int64_t lease_token,
                               absl::Status status) {
  if (status.code() != absl::StatusCode::kFailedPrecondition) return status;
  ASSIGN_OR_RETURN(std::optional<v1::Task> task, uow.LoadTask(task_id));
  if (!task || task->state() != v1::TASK_STATE_CANCELLED) return status;
  if (lease_token <= 0 || lease_token > task->lease_token()) return status;
  ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(task->case_id()));
  return absl::FailedPreconditionError(absl::StrCat(
      "task ", task_id, " was cancelled because case ", task->case_id(), " moved on (now ",
      c ? v1::Stage_Name(c->stage()) : "gone", "); drop it: nothing to do"));
}

// A lease belongs to the principal that claimed it.
absl::Status HeldBy(const v1::Task& task, const std::string& holder) {
  if (task.lease_owner() == holder) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("task ", task.task_id(), " is leased to ", task.lease_owner(), ", not ", holder,
                   ": only the principal that claimed it may complete, fail, extend or "
                   "release it"));
}

// The holder presents the lease's secret: compared in constant time, and
// never repeated in the answer. A lease taken before lease keys existed has
// none and is checked by its token as before.
absl::Status KeyMatches(int64_t task_id, const std::string& stored, const std::string& presented) {
  if (stored.empty()) return absl::OkStatus();
  if (presented.size() == stored.size() &&
      CRYPTO_memcmp(presented.data(), stored.data(), stored.size()) == 0) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("the lease key does not match task ", task_id,
                   "'s lease: send the lease_key the claim returned"));
}

// The lease check (with ExplainLeaseError's answers), then HeldBy, then the
// lease key: one read of the task. Returns the task as leased.
absl::StatusOr<v1::Task> CheckHolder(storage::UnitOfWork& uow, int64_t task_id, int64_t lease_token,
                                     const std::string& lease_key, const std::string& holder,
                                     absl::Time now) {
  std::string stored_key;
  absl::StatusOr<v1::Task> leased = uow.CheckLease(task_id, lease_token, now, &stored_key);
  if (!leased.ok()) return ExplainLeaseError(uow, task_id, lease_token, leased.status());
  RETURN_IF_ERROR(HeldBy(*leased, holder));
  RETURN_IF_ERROR(KeyMatches(task_id, stored_key, lease_key));
  return leased;
}

// The audit row of a claim that leased `tasks`: their ids and their cases'
// ids, the case too when they are all of one case. Ids only: the payloads
// hold the personal data.
storage::AuditEntry ClaimAudit(storage::AuditEntry entry, const std::vector<v1::Task>& tasks) {
  std::set<int64_t> cases;
  std::string task_ids;
  for (const v1::Task& t : tasks) {
    cases.insert(t.case_id());
    absl::StrAppend(&task_ids, task_ids.empty() ? "" : ",", t.task_id());
  }
  entry.case_id = cases.size() == 1 ? *cases.begin() : 0;
  entry.detail =
      absl::StrCat(tasks.size() == 1 ? "task " : "tasks ", task_ids,
                   cases.size() == 1 ? " of case " : " of cases ", absl::StrJoin(cases, ","));
  return entry;
}

}  // namespace

TaskEngine::TaskEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
                       const CaseEngine* cases)
    : store_(store), clock_(clock), policies_(policies), cases_(cases) {}

absl::StatusOr<ClaimArgs> TaskEngine::CheckClaim(
    const std::string& worker, const google::protobuf::RepeatedPtrField<std::string>& queues,
    const google::protobuf::RepeatedField<int>& types, int max_tasks,
    const google::protobuf::Duration* lease) const {
  ClaimArgs args;
  RETURN_IF_ERROR(CheckName(worker, "worker_id"));
  args.worker = worker;
  if (queues.empty() || queues.size() > kMaxQueues) {
    return absl::InvalidArgumentError(absl::StrCat("queues: name 1 to ", kMaxQueues, " queues"));
  }
  for (const std::string& q : queues) {
    RETURN_IF_ERROR(CheckName(q, "queues"));
    if (std::find(args.queues.begin(), args.queues.end(), q) == args.queues.end()) {
      args.queues.push_back(q);
    }
  }
  for (int t : types) {
    if (t == v1::TASK_TYPE_UNSPECIFIED || !v1::TaskType_IsValid(t)) {
      return absl::InvalidArgumentError(absl::StrCat("task_types: unknown task type ", t));
    }
    args.types.push_back(static_cast<v1::TaskType>(t));
  }
  if (max_tasks < 1 || max_tasks > kMaxClaim) {
    return absl::InvalidArgumentError(absl::StrCat("max_tasks must be 1..", kMaxClaim));
  }
  args.max_tasks = max_tasks;
  ASSIGN_OR_RETURN(args.lease, LeaseWithin(policies_->Current(), lease, "lease"));
  return args;
}

absl::Status TaskEngine::ClaimIn(storage::UnitOfWork& uow, const ClaimArgs& args, absl::Time now,
                                 Claimed& out) {
  ContactGate gate(uow, *policies_, now);
  storage::ClaimSpec spec;
  spec.queues = args.queues;
  spec.types = args.types;
  spec.worker = args.worker;
  spec.max_tasks = args.max_tasks;
  spec.lease = args.lease;
  spec.now = now;
  // Candidates read and checked per queue: just enough at first (held
  // ones move aside for the next round); the default margin when a
  // type filter skips some.
  if (args.types.empty()) spec.scan_limit = args.max_tasks;
  spec.hold = [&gate](const v1::Task& task) { return gate.Hold(task); };
  // Held tasks move out of the way (Defer), so another round sees the
  // ones behind them.
  int deferred = 0;
  for (int round = 0; round < kClaimRounds; ++round) {
    gate.NewRound();
    absl::StatusOr<std::vector<v1::Task>> leased = uow.ClaimTasks(spec);
    // The gate's own failure first: on PostgreSQL it leaves the
    // transaction aborted, and ClaimTasks' next statement only says so.
    RETURN_IF_ERROR(gate.status());
    RETURN_IF_ERROR(leased.status());
    RETURN_IF_ERROR(gate.Record(*leased));
    ASSIGN_OR_RETURN(deferred, gate.Defer());
    spec.max_tasks -= static_cast<int>(leased->size());
    for (v1::Task& t : *leased) out.tasks.push_back(std::move(t));
    if (spec.max_tasks == 0 || deferred == 0) break;
    if (spec.scan_limit > 0) spec.scan_limit = std::min(spec.scan_limit * 4 + 16, 4096);
  }
  if (!out.tasks.empty() && !args.audit.action.empty()) {
    RETURN_IF_ERROR(uow.AppendAudit(ClaimAudit(args.audit, out.tasks)));
  }
  // Still moving held tasks aside: look again at once, for the claimable
  // ones behind them.
  if (out.tasks.empty() && deferred > 0) out.recheck = now;
  return absl::OkStatus();
}

void TaskEngine::Claim(const ClaimArgs& args, std::function<void(absl::StatusOr<Claimed>)> done,
                       CallAlive alive) {
  SubmitFor<Claimed>(
      store_,
      [this, args](storage::UnitOfWork& uow, Claimed& out) -> absl::Status {
        const absl::Time now = clock_->Now();
        RETURN_IF_ERROR(ClaimIn(uow, args, now, out));
        // Nothing (or, a stream's claim on SQLite, fewer than asked)
        // leased, nothing held: when the next task will be ready, for a
        // claim that waits (a completion's claim_next does not ask). On
        // PostgreSQL another writer's or replica's locks may have hidden
        // claimable rows (SKIP LOCKED); SQLite's one writer ran every
        // earlier command.
        const bool short_of_asked = static_cast<int>(out.tasks.size()) < args.max_tasks;
        if (short_of_asked && !out.recheck &&
            (out.tasks.empty() ||
             (args.stream && store_->backend() == storage::Backend::kSqlite))) {
          ASSIGN_OR_RETURN(out.recheck, uow.NextReadyTime(args.queues, now));
          out.drained = true;
        }
        return absl::OkStatus();
      },
      // Claims append to the audit log (the tasks carry personal data).
      std::move(done), std::move(alive), storage::WriteLane::kAudited);
}

void TaskEngine::Complete(v1::CompleteTaskRequest request, const std::string& holder,
                          std::optional<ClaimArgs> claim_next,
                          std::function<void(absl::StatusOr<v1::CompleteTaskResponse>)> done,
                          CallAlive alive) {
  absl::Status invalid = CheckTaskRef(request.task_id());
  if (invalid.ok()) invalid = CheckName(request.request_id(), "request_id");
  if (invalid.ok() && request.outcome().outcome_case() == v1::TaskOutcome::OUTCOME_NOT_SET) {
    invalid = absl::InvalidArgumentError("outcome: one outcome for the task's type is required");
  }
  if (invalid.ok() && request.outcome().ByteSizeLong() > 16 * 1024) {
    invalid = absl::InvalidArgumentError("outcome is too large (at most 16 KiB)");
  }
  if (!invalid.ok()) {
    done(invalid);
    return;
  }
  const absl::CivilDay today = cases_->BusinessDate();
  // A completion that claims the next tasks is a claim too, and audited,
  // but it goes to any writer, not to the claims' lane (storage::WriteLane):
  // its transition's many statements are most of it, and on PostgreSQL's
  // writer pool they then run in parallel, the audit chain's lock held only
  // for each commit. On the first writer alone, one-task cycles with claim_next
  // ran at 128-155/s on PostgreSQL against 297-332/s spread (5,000 tasks,
  // 16 workers). One writer on SQLite: the same either way.
  SubmitFor<v1::CompleteTaskResponse>(
      store_,
      [this, request = std::move(request), holder, today, claim_next = std::move(claim_next)](
          storage::UnitOfWork& uow, v1::CompleteTaskResponse& out) -> absl::Status {
        const int64_t id = request.task_id();
        // Scoped to the caller and the task: another principal's request_id
        // is not a replay of this one. The digest leaves the lease out: a
        // retry under another lease is told so below.
        v1::CompleteTaskRequest content = request;
        content.clear_lease_token();
        content.clear_lease_key();
        const IdempotencyKey key = IdempotencyKeyFor("/collections.v1.TaskService/CompleteTask",
                                                     holder, id, request.request_id(), content);
        ASSIGN_OR_RETURN(bool seen, FindStoredAnswer(uow, key, &out));
        if (seen) {
          if (out.task().lease_token() != request.lease_token()) {
            return absl::FailedPreconditionError(
                absl::StrCat("task ", id, ": request_id ", request.request_id(),
                             " completed another lease of this task"));
          }
          out.set_duplicate(true);
          return RefillNextTasks(uow, clock_->Now(), out);
        }
        const absl::Time now = clock_->Now();
        RETURN_IF_ERROR(
            CheckHolder(uow, id, request.lease_token(), request.lease_key(), holder, now).status());
        absl::StatusOr<v1::Task> task =
            uow.CompleteTask(id, request.lease_token(), request.outcome(), now);
        if (!task.ok()) return ExplainLeaseError(uow, id, request.lease_token(), task.status());
        ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(task->case_id()));
        if (!c) return absl::InternalError(absl::StrCat("case ", task->case_id(), " is missing"));

        // The outcome as an event; Decide rejects one of the wrong type.
        v1::CaseEvent event;
        *event.mutable_business_date() = workflow::DayToProto(today);
        event.set_actor(task->lease_owner());
        v1::TaskCompleted* completed = event.mutable_task_completed();
        completed->set_task_id(id);
        completed->set_task_type(task->type());
        *completed->mutable_outcome() = request.outcome();
        ASSIGN_OR_RETURN(workflow::Transition t,
                         DecideAndApply(uow, *policies_, *clock_, &*c, std::move(event)));
        // The call's reservation against the connected cap becomes a
        // connected call, or goes.
        if (workflow::IsCallTask(task->type())) {
          RETURN_IF_ERROR(
              uow.EndContact(id, request.lease_token(),
                             request.outcome().has_call() &&
                                 request.outcome().call().result() == v1::CALL_RESULT_REACHED));
        }

        v1::Task& done_task = *out.mutable_task();
        done_task = *std::move(task);
        done_task.set_state(v1::TASK_STATE_COMPLETED);
        done_task.clear_lease_expires_at();
        done_task.clear_payload();  // the worker has it; keeps the stored answer small
        out.set_case_stage(t.next.stage());
        if (!claim_next) return SaveAnswer(uow, key, out);
        Claimed next;
        RETURN_IF_ERROR(ClaimIn(uow, *claim_next, now, next));
        for (v1::Task& leased : next.tasks) *out.add_next_tasks() = std::move(leased);
        // The stored answer names the next tasks and their lease tokens,
        // without payloads or lease keys (personal data and the leases'
        // secrets stay in the tasks table only); a repeat reads them there.
        v1::CompleteTaskResponse stored = out;
        for (v1::Task& leased : *stored.mutable_next_tasks()) {
          leased.clear_payload();
          leased.clear_lease_key();
        }
        return SaveAnswer(uow, key, stored);
      },
      std::move(done), std::move(alive));
}

absl::Status TaskEngine::RefillNextTasks(storage::UnitOfWork& uow, absl::Time now,
                                         v1::CompleteTaskResponse& out) {
  google::protobuf::RepeatedPtrField<v1::Task> still_leased;
  for (const v1::Task& named : out.next_tasks()) {
    std::string key;
    absl::StatusOr<v1::Task> task = uow.CheckLease(named.task_id(), named.lease_token(), now, &key);
    if (task.ok()) {
      task->set_lease_key(key);
      *still_leased.Add() = *std::move(task);
    } else if (task.status().code() != absl::StatusCode::kFailedPrecondition &&
               task.status().code() != absl::StatusCode::kNotFound) {
      return task.status();  // not "the lease has ended": a real failure
    }
  }
  out.mutable_next_tasks()->Swap(&still_leased);
  return absl::OkStatus();
}

void TaskEngine::Fail(v1::FailTaskRequest request, const std::string& holder,
                      std::function<void(absl::StatusOr<v1::FailTaskResponse>)> done,
                      CallAlive alive) {
  absl::Status invalid = CheckTaskRef(request.task_id());
  std::optional<absl::Duration> retry_after;
  if (invalid.ok() && request.reason().size() > kMaxReason) {
    invalid = absl::InvalidArgumentError(
        absl::StrCat("reason is too long (at most ", kMaxReason, " bytes)"));
  }
  if (invalid.ok() && request.has_retry_after()) {
    absl::StatusOr<absl::Duration> d =
        workflow::DurationFromProto(request.retry_after(), "retry_after");
    if (!d.ok()) {
      invalid = d.status();
    } else if (*d > absl::Hours(24 * 30)) {
      invalid = absl::InvalidArgumentError("retry_after must be at most 30 days");
    } else {
      retry_after = *d;
    }
  }
  if (!invalid.ok()) {
    done(invalid);
    return;
  }
  SubmitFor<v1::FailTaskResponse>(
      store_,
      [this, request = std::move(request), holder, retry_after](
          storage::UnitOfWork& uow, v1::FailTaskResponse& out) -> absl::Status {
        const int64_t id = request.task_id();
        const absl::Time now = clock_->Now();
        ASSIGN_OR_RETURN(v1::Task leased, CheckHolder(uow, id, request.lease_token(),
                                                      request.lease_key(), holder, now));
        ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(leased.case_id()));
        if (!c) return absl::InternalError(absl::StrCat("case ", leased.case_id(), " is missing"));
        ASSIGN_OR_RETURN(const v1::Policy* policy, policies_->Get(c->policy_version()));
        const v1::TaskRules& rules = policy->tasks();
        const int attempts = leased.attempts();
        const bool incident = attempts >= rules.max_attempts();
        // The policy's backoff doubles per attempt, at most a day.
        const absl::Duration backoff = std::min(absl::Seconds(rules.retry_backoff_seconds()) *
                                                    (int64_t{1} << std::clamp(attempts - 1, 0, 20)),
                                                absl::Hours(24));
        const absl::Time retry_at = now + retry_after.value_or(backoff);
        const std::string reason = request.reason().empty() ? "no reason given" : request.reason();
        const std::string text =
            incident ? absl::StrCat("incident: failed ", attempts, " of ", rules.max_attempts(),
                                    " attempts; last: ", reason)
                     : absl::StrCat(workflow::kRetryHoldPrefix, attempts, " of ",
                                    rules.max_attempts(), " failed: ", reason);
        ASSIGN_OR_RETURN(v1::Task task,
                         uow.ReturnTask(id, request.lease_token(), retry_at, incident, text, now));
        // A call that reached the borrower is completed as reached; a
        // failure says it did not, so its reservation against the
        // connected cap goes (the attempt still counts).
        if (workflow::IsCallTask(task.type())) {
          RETURN_IF_ERROR(uow.EndContact(id, request.lease_token(), false));
        }
        task.set_state(incident ? v1::TASK_STATE_INCIDENT : v1::TASK_STATE_READY);
        task.clear_lease_owner();
        task.clear_lease_expires_at();
        *task.mutable_not_before() = workflow::TimeToProto(retry_at);
        task.set_hold_reason(text);
        if (incident) {
          LogWarning("task %d of case %d is an incident: %s", id, task.case_id(), text);
        }
        *out.mutable_task() = std::move(task);
        return absl::OkStatus();
      },
      std::move(done), std::move(alive));
}

void TaskEngine::Extend(v1::ExtendLeaseRequest request, const std::string& holder,
                        std::function<void(absl::StatusOr<v1::ExtendLeaseResponse>)> done,
                        CallAlive alive) {
  absl::Status invalid = CheckTaskRef(request.task_id());
  absl::StatusOr<absl::Duration> by = LeaseWithin(
      policies_->Current(), request.has_extend_by() ? &request.extend_by() : nullptr, "extend_by");
  if (invalid.ok()) invalid = by.status();
  if (!invalid.ok()) {
    done(invalid);
    return;
  }
  SubmitFor<v1::ExtendLeaseResponse>(
      store_,
      [this, request = std::move(request), holder, by = *by](
          storage::UnitOfWork& uow, v1::ExtendLeaseResponse& out) -> absl::Status {
        const absl::Time now = clock_->Now();
        RETURN_IF_ERROR(CheckHolder(uow, request.task_id(), request.lease_token(),
                                    request.lease_key(), holder, now)
                            .status());
        absl::StatusOr<v1::Task> task =
            uow.ExtendLease(request.task_id(), request.lease_token(), now + by, now);
        if (!task.ok()) {
          return ExplainLeaseError(uow, request.task_id(), request.lease_token(), task.status());
        }
        *out.mutable_task() = *std::move(task);
        return absl::OkStatus();
      },
      std::move(done), std::move(alive));
}

void TaskEngine::Release(v1::ReleaseTaskRequest request, const std::string& holder,
                         std::function<void(absl::StatusOr<v1::ReleaseTaskResponse>)> done,
                         CallAlive alive) {
  if (absl::Status invalid = CheckTaskRef(request.task_id()); !invalid.ok()) {
    done(invalid);
    return;
  }
  SubmitFor<v1::ReleaseTaskResponse>(
      store_,
      [this, request = std::move(request), holder](storage::UnitOfWork& uow,
                                                   v1::ReleaseTaskResponse& out) -> absl::Status {
        const int64_t id = request.task_id();
        RETURN_IF_ERROR(
            CheckHolder(uow, id, request.lease_token(), request.lease_key(), holder, clock_->Now())
                .status());
        absl::StatusOr<v1::Task> task = uow.ReleaseTask(id, request.lease_token(), clock_->Now());
        if (!task.ok()) return ExplainLeaseError(uow, id, request.lease_token(), task.status());
        // Nobody was contacted: the caps must not count it.
        RETURN_IF_ERROR(uow.DeleteContact(id, request.lease_token()));
        task->set_state(v1::TASK_STATE_READY);
        task->set_attempts(task->attempts() - 1);
        task->clear_lease_owner();
        task->clear_lease_expires_at();
        *out.mutable_task() = *std::move(task);
        return absl::OkStatus();
      },
      std::move(done), std::move(alive));
}

void TaskEngine::ReleaseUndelivered(const std::vector<v1::Task>& tasks) {
  for (const v1::Task& t : tasks) {
    v1::ReleaseTaskRequest request;
    request.set_task_id(t.task_id());
    request.set_lease_token(t.lease_token());
    Release(request, t.lease_owner(),
            [id = t.task_id()](absl::StatusOr<v1::ReleaseTaskResponse> r) {
              // Expiry returns it anyway; only the wait is longer.
              if (!r.ok())
                LogWarning("could not release undelivered task %d: %s", id, r.status().ToString());
            });
  }
}

absl::StatusOr<v1::ListTasksResponse> TaskEngine::List(const v1::ListTasksRequest& request) {
  storage::TaskFilter filter;
  for (int s : request.states()) {
    if (s == v1::TASK_STATE_UNSPECIFIED || !v1::TaskState_IsValid(s)) {
      return absl::InvalidArgumentError(absl::StrCat("states: unknown state ", s));
    }
    filter.states.push_back(static_cast<v1::TaskState>(s));
  }
  if (filter.states.empty()) {
    filter.states = {v1::TASK_STATE_READY, v1::TASK_STATE_LEASED, v1::TASK_STATE_INCIDENT};
  }
  if (request.queues_size() > kMaxQueues) {
    return absl::InvalidArgumentError(absl::StrCat("queues: at most ", kMaxQueues));
  }
  for (const std::string& q : request.queues()) {
    RETURN_IF_ERROR(CheckName(q, "queues"));
    filter.queues.push_back(q);
  }
  if (request.case_id() < 0) return absl::InvalidArgumentError("case_id must not be negative");
  if (request.page_size() < 0 || request.page_size() > storage::kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be 0..", storage::kMaxPageSize, " (0: 100)"));
  }
  int64_t after = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &after) || after <= 0)) {
    return absl::InvalidArgumentError("page_token is not one this server gave out");
  }
  filter.held_only = request.held_only();
  filter.case_id = request.case_id();
  filter.after_task_id = after;
  const int page = request.page_size() == 0 ? 100 : request.page_size();
  filter.limit = page + 1;  // one more tells whether another page exists
  ASSIGN_OR_RETURN(std::vector<v1::Task> tasks, store_->FindTasks(filter));
  v1::ListTasksResponse out;
  for (size_t i = 0; i < tasks.size() && static_cast<int>(i) < page; ++i) {
    *out.add_tasks() = std::move(tasks[i]);
  }
  if (static_cast<int>(tasks.size()) > page) {
    out.set_next_page_token(absl::StrCat(out.tasks(page - 1).task_id()));
  }
  return out;
}

}  // namespace collections::server
