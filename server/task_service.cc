#include "server/task_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/audit_engine.h"
#include "server/rpc_util.h"
#include "server/task_dispatcher.h"
#include "server/task_engine.h"
#include "workflow/dates.h"

namespace collections::server {
namespace {

using Wake = TaskDispatcher::Wake;

constexpr absl::Duration kMaxWait = absl::Seconds(60);
// A long-poll answers this long before the call's own deadline, so that
// the client gets an empty list rather than DEADLINE_EXCEEDED.
constexpr absl::Duration kDeadlineMargin = absl::Milliseconds(50);
constexpr int kMaxClaim = 100;
constexpr int64_t kMaxCredits = 1000;

// The reactors below live until gRPC is done with them (OnDone) and every
// store callback or wait that refers to them has run: refs_ counts both.
// They never call the engine or PassOn under their own lock (a wake-up
// passed on runs another reactor's callback).

// ClaimTasks: claim; with nothing leased, wait and claim again when woken.
class ClaimReactor final : public grpc::ServerUnaryReactor {
 public:
  ClaimReactor(TaskEngine* engine, TaskDispatcher* dispatcher, ClaimArgs args, absl::Time deadline,
               v1::ClaimTasksResponse* response)
      : engine_(engine),
        dispatcher_(dispatcher),
        args_(std::move(args)),
        deadline_(deadline),
        response_(response) {
    Attempt();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (wait_id_ != 0 && dispatcher_->Cancel(wait_id_)) --refs_;
      wait_id_ = 0;
    }
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "claim cancelled"));
  }

  void OnDone() override { Unref(); }

 private:
  void Attempt() {
    {
      absl::MutexLock lock(&mu_);
      ++refs_;
    }
    const uint64_t epoch = dispatcher_->epoch();
    engine_->Claim(args_, [this, epoch](absl::StatusOr<Claimed> r) {
      OnClaimed(epoch, std::move(r));
      Unref();
    });
  }

  void OnClaimed(uint64_t epoch, absl::StatusOr<Claimed> r) {
    if (!r.ok()) {
      FinishOnce(ToGrpcStatus(r.status()));
      return;
    }
    if (!r->tasks.empty()) {
      bool delivered = false;
      {
        absl::MutexLock lock(&mu_);
        if (!finished_) {
          finished_ = delivered = true;
          for (const v1::Task& t : r->tasks) *response_->add_tasks() = t;
        }
      }
      if (delivered) {
        Finish(grpc::Status::OK);
      } else {
        engine_->ReleaseUndelivered(r->tasks);  // the caller went away
      }
      return;
    }
    const uint64_t id = dispatcher_->NewWaitId();
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      wait_id_ = id;
      ++refs_;  // the wait's
    }
    TaskDispatcher::WaitSpec spec;
    spec.queues = args_.queues;
    spec.types = args_.types;
    spec.epoch = epoch;
    spec.recheck = r->recheck.value_or(absl::InfiniteFuture());
    spec.deadline = deadline_;
    Wake now;
    if (!dispatcher_->Wait(
            id, std::move(spec), [this, id](Wake why) { OnWake(id, why); }, &now)) {
      OnWake(id, now);
    }
  }

  void OnWake(uint64_t id, Wake why) {
    bool finished;
    {
      absl::MutexLock lock(&mu_);
      if (wait_id_ == id) wait_id_ = 0;
      finished = finished_;
    }
    if (finished) {
      if (why == Wake::kReady) dispatcher_->PassOn(args_.queues);
    } else if (why == Wake::kReady) {
      Attempt();
    } else {
      FinishOnce(grpc::Status::OK);  // nothing became ready in time
    }
    Unref();
  }

  void FinishOnce(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(std::move(status));
  }

  void Unref() {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  TaskEngine* const engine_;
  TaskDispatcher* const dispatcher_;
  const ClaimArgs args_;
  const absl::Time deadline_;
  v1::ClaimTasksResponse* const response_;
  absl::Mutex mu_;
  int refs_ ABSL_GUARDED_BY(mu_) = 1;  // gRPC's, until OnDone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wait_id_ ABSL_GUARDED_BY(mu_) = 0;
};

// StreamTasks: the worker grants credits; each pushed task takes one.
// Claims run one at a time, for at most the credits left; with nothing
// leased the stream waits like a long-poll without a deadline. Tasks leased
// but not yet written when the stream ends are released.
class StreamReactor final
    : public grpc::ServerBidiReactor<v1::StreamTasksRequest, v1::StreamTasksResponse> {
 public:
  StreamReactor(TaskEngine* engine, TaskDispatcher* dispatcher, std::string holder,
                storage::AuditEntry audit)
      : engine_(engine),
        dispatcher_(dispatcher),
        holder_(std::move(holder)),
        audit_(std::move(audit)) {
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        // The worker closed its side: push what is leased, then finish.
        reads_done_ = true;
        CancelWaitLocked();
        EndIfIdleLocked();
        return;
      }
      if (finished_) return;
      if (absl::Status s = AcceptLocked(); !s.ok()) {
        FinishLocked(ToGrpcStatus(s));
        return;
      }
      StartRead(&in_);
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    std::vector<v1::Task> undelivered;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (ok) {
        outbox_.pop_front();
      } else {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      }
      if (finished_) {
        undelivered.assign(outbox_.begin(), outbox_.end());
        outbox_.clear();
        if (finish_pending_) {
          finish_pending_ = false;
          Finish(pending_status_);
        }
      } else {
        WriteNextLocked();
        EndIfIdleLocked();
      }
    }
    if (!undelivered.empty()) engine_->ReleaseUndelivered(undelivered);
    Pump();
  }

  void OnCancel() override {
    std::vector<v1::Task> undelivered;
    {
      absl::MutexLock lock(&mu_);
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
      undelivered = TakeUnwrittenLocked();
    }
    if (!undelivered.empty()) engine_->ReleaseUndelivered(undelivered);
  }

  void OnDone() override { Unref(); }

 private:
  // The first message starts the stream; each adds credits.
  absl::Status AcceptLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!started_) {
      google::protobuf::RepeatedField<int> any_type;
      absl::StatusOr<ClaimArgs> args = engine_->CheckClaim(
          in_.worker_id(), in_.queues(), any_type, 1, in_.has_lease() ? &in_.lease() : nullptr);
      if (!args.ok()) return args.status();
      args_ = *std::move(args);
      args_.worker = holder_;  // leases belong to the authenticated caller
      args_.audit = audit_;
      args_.stream = true;
      started_ = true;
    }
    if (in_.credits() < 0 || credits_ + in_.credits() > kMaxCredits) {
      return absl::InvalidArgumentError(
          absl::StrCat("credits: at most ", kMaxCredits, " outstanding, never negative"));
    }
    credits_ += in_.credits();
    return absl::OkStatus();
  }

  void Pump() {
    ClaimArgs args;
    uint64_t epoch;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || reads_done_ || !started_ || claiming_ || wait_id_ != 0 || credits_ <= 0) {
        return;
      }
      claiming_ = true;
      ++refs_;
      args = args_;
      args.max_tasks = static_cast<int>(std::min<int64_t>(credits_, kMaxClaim));
      epoch = dispatcher_->epoch();
    }
    engine_->Claim(args, [this, epoch](absl::StatusOr<Claimed> r) {
      OnClaimed(epoch, std::move(r));
      Unref();
    });
  }

  void OnClaimed(uint64_t epoch, absl::StatusOr<Claimed> r) {
    std::vector<v1::Task> undelivered;
    bool again = false;
    {
      absl::MutexLock lock(&mu_);
      claiming_ = false;
      if (!r.ok()) {
        FinishLocked(ToGrpcStatus(r.status()));
      } else if (finished_) {
        undelivered = std::move(r->tasks);
      } else if (!r->tasks.empty()) {
        credits_ -= static_cast<int64_t>(r->tasks.size());
        for (v1::Task& t : r->tasks) outbox_.push_back(std::move(t));
        WriteNextLocked();
        // Credits left: claim again at once while more may be ready; wait
        // for the next ready task when the claim found the queues drained
        // (an empty claim after every task was a command for nothing).
        if (credits_ > 0 && r->drained && !reads_done_) {
          again = WaitLocked(epoch, r->recheck);
        } else {
          again = true;
        }
      } else if (reads_done_) {
        EndIfIdleLocked();
      } else {
        again = WaitLocked(epoch, r->recheck);
      }
    }
    if (!undelivered.empty()) engine_->ReleaseUndelivered(undelivered);
    if (again) Pump();
  }

  // Waits for ready tasks of the stream's queues (no claim in flight);
  // `epoch` is the dispatcher's before the claim that found them drained.
  // True when the stream should claim again at once instead (tasks became
  // ready since `epoch`).
  bool WaitLocked(uint64_t epoch, std::optional<absl::Time> recheck)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t id = dispatcher_->NewWaitId();
    wait_id_ = id;
    ++refs_;  // the wait's
    TaskDispatcher::WaitSpec spec;
    spec.queues = args_.queues;
    spec.epoch = epoch;
    spec.recheck = recheck.value_or(absl::InfiniteFuture());
    Wake now;
    if (dispatcher_->Wait(
            id, std::move(spec), [this, id](Wake why) { OnWake(id, why); }, &now)) {
      return false;
    }
    wait_id_ = 0;
    --refs_;  // the claim's reference is still held: never the last
    if (now == Wake::kReady) return true;
    FinishLocked(Stopping());
    return false;
  }

  void OnWake(uint64_t id, Wake why) {
    bool again = false, pass_on = false;
    {
      absl::MutexLock lock(&mu_);
      if (wait_id_ == id) wait_id_ = 0;
      if (finished_ || reads_done_) {
        pass_on = why == Wake::kReady;
        EndIfIdleLocked();
      } else if (why == Wake::kReady) {
        again = true;
      } else {
        FinishLocked(Stopping());
      }
    }
    if (pass_on) dispatcher_->PassOn(args_.queues);
    if (again) Pump();
    Unref();
  }

  static grpc::Status Stopping() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the server is shutting down; reconnect to another");
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || outbox_.empty()) return;
    writing_ = true;
    *out_.mutable_task() = outbox_.front();
    StartWrite(&out_);
  }

  void EndIfIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reads_done_ && !claiming_ && !writing_ && outbox_.empty()) {
      FinishLocked(grpc::Status::OK);
    }
  }

  // Finishes once; with a write in flight, when it completes (gRPC allows
  // one operation of each kind at a time).
  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    CancelWaitLocked();
    if (writing_) {
      finish_pending_ = true;
      pending_status_ = std::move(status);
    } else {
      Finish(std::move(status));
    }
  }

  // Leased tasks not yet handed to gRPC (the one being written is decided
  // by OnWriteDone).
  std::vector<v1::Task> TakeUnwrittenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<v1::Task> out;
    const size_t skip = writing_ ? 1 : 0;
    if (outbox_.size() > skip) {
      out.assign(outbox_.begin() + skip, outbox_.end());
      outbox_.erase(outbox_.begin() + skip, outbox_.end());
    }
    return out;
  }

  void CancelWaitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // A true Cancel means the wake will never run: drop its reference (gRPC
    // still holds one, so never the last).
    if (wait_id_ != 0 && dispatcher_->Cancel(wait_id_)) --refs_;
    wait_id_ = 0;
  }

  void Unref() {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  TaskEngine* const engine_;
  TaskDispatcher* const dispatcher_;
  v1::StreamTasksRequest in_;    // one read at a time
  v1::StreamTasksResponse out_;  // one write at a time

  absl::Mutex mu_;
  int refs_ ABSL_GUARDED_BY(mu_) = 1;  // gRPC's, until OnDone
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  const std::string holder_;         // the authenticated caller
  const storage::AuditEntry audit_;  // each batch it is handed is recorded as this
  ClaimArgs args_;                   // set once by the first message, before any claim
  int64_t credits_ ABSL_GUARDED_BY(mu_) = 0;
  bool claiming_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wait_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<v1::Task> outbox_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_pending_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status pending_status_ ABSL_GUARDED_BY(mu_);
};

// The claim `request` asks for, checked (TaskEngine::CheckClaim), made by
// `caller`: the lease belongs to the authenticated caller, not to the
// worker_id it names (only that principal may complete, fail, extend or
// release it), and a claim that leases is audited as a ClaimTasks.
absl::StatusOr<ClaimArgs> ClaimFor(const TaskEngine& tasks, const security::Principal& caller,
                                   const v1::ClaimTasksRequest& request) {
  absl::StatusOr<ClaimArgs> args =
      tasks.CheckClaim(request.worker_id(), request.queues(), request.task_types(),
                       request.max_tasks(), request.has_lease() ? &request.lease() : nullptr);
  if (!args.ok()) return args.status();
  args->worker = caller.name;
  args->audit = AuditEntryFor(caller, "ClaimTasks", 0, "");
  return args;
}

}  // namespace

grpc::ServerUnaryReactor* TaskServiceImpl::ClaimTasks(grpc::CallbackServerContext* context,
                                                      const v1::ClaimTasksRequest* request,
                                                      v1::ClaimTasksResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.TaskService/ClaimTasks");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  absl::StatusOr<ClaimArgs> args = ClaimFor(*context_.tasks, *caller, *request);
  if (!args.ok()) return FinishUnary(context, ToGrpcStatus(args.status()));
  absl::Duration wait = absl::ZeroDuration();
  if (request->has_wait()) {
    absl::StatusOr<absl::Duration> w = workflow::DurationFromProto(request->wait(), "wait");
    if (w.ok() && *w > kMaxWait) w = absl::InvalidArgumentError("wait must be at most 60 s");
    if (!w.ok()) return FinishUnary(context, ToGrpcStatus(w.status()));
    wait = *w;
  }
  absl::Time deadline = absl::Now() + wait;
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    deadline = std::min(deadline, absl::FromChrono(context->deadline()) - kDeadlineMargin);
  }
  return new ClaimReactor(context_.tasks, context_.task_dispatcher, *std::move(args), deadline,
                          response);
}

grpc::ServerBidiReactor<v1::StreamTasksRequest, v1::StreamTasksResponse>*
TaskServiceImpl::StreamTasks(grpc::CallbackServerContext* context) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.TaskService/StreamTasks");
  if (!caller.ok()) {
    return new FinishNowReactor<
        grpc::ServerBidiReactor<v1::StreamTasksRequest, v1::StreamTasksResponse>>(
        ToGrpcStatus(caller.status()));
  }
  return new StreamReactor(context_.tasks, context_.task_dispatcher, caller->name,
                           AuditEntryFor(*caller, "StreamTasks", 0, ""));
}

grpc::ServerUnaryReactor* TaskServiceImpl::CompleteTask(grpc::CallbackServerContext* context,
                                                        const v1::CompleteTaskRequest* request,
                                                        v1::CompleteTaskResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.TaskService/CompleteTask");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  std::optional<ClaimArgs> claim_next;
  if (request->has_claim_next()) {
    // Claiming the next tasks is a claim: the caller must be allowed one.
    absl::StatusOr<security::Principal> claimer =
        context_.gate->Admit(*context, "/collections.v1.TaskService/ClaimTasks");
    if (!claimer.ok()) return FinishUnary(context, ToGrpcStatus(claimer.status()));
    const v1::ClaimTasksRequest& next = request->claim_next();
    absl::StatusOr<ClaimArgs> args = ClaimFor(*context_.tasks, *caller, next);
    if (args.ok() && next.has_wait()) {
      args = absl::InvalidArgumentError(
          "claim_next.wait must be unset: a completion does not wait for the next task "
          "(ClaimTasks does)");
    }
    if (!args.ok()) {
      return FinishUnary(context, ToGrpcStatus(absl::Status(
                                      args.status().code(),
                                      absl::StrCat("claim_next.", args.status().message()))));
    }
    claim_next = *std::move(args);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.tasks->Complete(*request, caller->name, std::move(claim_next),
                           AnswerWith(reactor, response), AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::FailTask(grpc::CallbackServerContext* context,
                                                    const v1::FailTaskRequest* request,
                                                    v1::FailTaskResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.TaskService/FailTask");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.tasks->Fail(*request, caller->name, AnswerWith(reactor, response), AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::ExtendLease(grpc::CallbackServerContext* context,
                                                       const v1::ExtendLeaseRequest* request,
                                                       v1::ExtendLeaseResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.TaskService/ExtendLease");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.tasks->Extend(*request, caller->name, AnswerWith(reactor, response),
                         AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::ReleaseTask(grpc::CallbackServerContext* context,
                                                       const v1::ReleaseTaskRequest* request,
                                                       v1::ReleaseTaskResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.TaskService/ReleaseTask");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.tasks->Release(*request, caller->name, AnswerWith(reactor, response),
                          AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListTasks(grpc::CallbackServerContext* context,
                                                     const v1::ListTasksRequest* request,
                                                     v1::ListTasksResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.TaskService/ListTasks");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor, [this, reactor, request, response] {
    FinishWith(reactor, response, context_.tasks->List(*request));
  });
  return reactor;
}

}  // namespace collections::server
