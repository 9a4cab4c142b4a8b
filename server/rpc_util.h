// Helpers shared by the service implementations: status conversion,
// reactors that finish an RPC at once (for errors) and unary RPCs finished with an engine's answer.
#ifndef COLLECTIONS_SERVER_RPC_UTIL_H_
#define COLLECTIONS_SERVER_RPC_UTIL_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_callback.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/commands.h"
#include "server/executor.h"

namespace collections::server {

// absl::Status and grpc::Status use the same code numbers (gRPC 1.51 has no
// conversion of its own).
inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// A reactor of any callback kind (ServerReadReactor<Req>,
// ServerWriteReactor<Resp>, ServerBidiReactor<Req, Resp>) that finishes the
// RPC with `status` at once and deletes itself when gRPC is done with it.
template <typename Reactor>
class FinishNowReactor final : public Reactor {
 public:
  explicit FinishNowReactor(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// Unary: finishes through the context's default reactor.
inline grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx,
                                             grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

// Finishes `reactor` with `result`: its value goes into `response`, its
// status is the RPC's.
template <typename Response>
void FinishWith(grpc::ServerUnaryReactor* reactor, Response* response,
                absl::StatusOr<Response> result) {
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
}

// A `done` callback for an engine's write: finishes the unary RPC with its
// answer (see FinishWith).
template <typename Response>
std::function<void(absl::StatusOr<Response>)> AnswerWith(grpc::ServerUnaryReactor* reactor,
                                                         Response* response) {
  return [reactor, response](absl::StatusOr<Response> result) {
    FinishWith(reactor, response, std::move(result));
  };
}

// Whether the caller of `context` still waits (see CallAlive): checked by
// a command or queued work just before it runs, so that a call cancelled
// or past its deadline while it waited changes nothing. The context stays
// valid until the RPC is finished, which happens only after that check.
inline CallAlive AliveCheck(grpc::CallbackServerContext* context) {
  return [context]() -> absl::Status {
    if (context->deadline() <= std::chrono::system_clock::now()) {
      return absl::DeadlineExceededError(
          "the call's deadline passed while it waited to run; nothing changed");
    }
    if (context->IsCancelled()) {
      return absl::CancelledError("the call was cancelled while it waited to run; nothing changed");
    }
    return absl::OkStatus();
  };
}

// Runs `work` for a unary RPC on the executor: at once RESOURCE_EXHAUSTED
// (with the back-off hint) when the executor's queue is full, and the
// abandoned call's status instead of `work` when its caller left while it
// waited. `work` finishes `reactor` itself.
inline void ScheduleUnary(grpc::CallbackServerContext* context, Executor* executor,
                          grpc::ServerUnaryReactor* reactor, std::function<void()> work) {
  absl::Status admitted =
      executor->TrySchedule([alive = AliveCheck(context), reactor, work = std::move(work)] {
        if (absl::Status gone = alive(); !gone.ok()) {
          reactor->Finish(ToGrpcStatus(gone));
          return;
        }
        work();
      });
  if (!admitted.ok()) reactor->Finish(ToGrpcStatus(admitted));
}

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_RPC_UTIL_H_
