// The plumbing every engine's storage commands share: a command that fills
// an answer and hands it over once the commit is durable (SubmitFor), and
// the idempotent replay of an answer stored under a request id, scoped to
// (principal, method, target) and checked against a digest of the request
// (IdempotencyKeyFor, FindStoredAnswer, SaveAnswer). No gRPC types: engines
// use these.
//
// Thread-safe as the store is: SubmitFor's command runs on the writer
// thread, its `done` on the writer's callback thread.
#ifndef COLLECTIONS_SERVER_COMMANDS_H_
#define COLLECTIONS_SERVER_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "google/protobuf/message.h"
#include "storage/store.h"

namespace collections::server {

// The write latency the callers of SubmitFor see: from a command's Submit
// to its `done` (the writer's queue, the command, the group commit). The
// store's WriterStats has no timings; this is what the server can observe
// of them. Process-wide, for the metrics endpoint: `owner` names who set
// the observer, and only that owner's Clear removes it. Thread-safe.
void SetWriteLatencyObserver(const void* owner, std::function<void(absl::Duration)> observer);
void ClearWriteLatencyObserver(const void* owner);
void ObserveWriteLatency(absl::Duration took);

// How long a caller answered RESOURCE_EXHAUSTED (a full queue, a full
// disk) should back off before retrying: in the message (WithRetryHint) and
// in the trailing metadata kRetryPushbackHeader, in milliseconds.
inline constexpr absl::Duration kRetryBackoff = absl::Seconds(1);
inline constexpr char kRetryPushbackHeader[] = "grpc-retry-pushback-ms";

// `status` with "; back off 1s before retrying" added when it is
// RESOURCE_EXHAUSTED; any other status unchanged.
absl::Status WithRetryHint(const absl::Status& status);

// Whether the caller still waits for a command's answer: OK, or CANCELLED /
// DEADLINE_EXCEEDED once its call was cancelled or its deadline passed (a
// command that finds so writes nothing). Null: the caller always waits.
using CallAlive = std::function<absl::Status()>;

// Runs `body` as one storage command filling a fresh Answer, then calls
// done(answer) once the commit is durable, or done(error) (and then nothing
// `body` wrote is kept). When `alive` says, as the command is about to run,
// that the caller has gone, `body` does not run and done gets alive's
// status. A full writer queue is RESOURCE_EXHAUSTED with the back-off hint.
template <typename Answer>
void SubmitFor(storage::Store* store,
               std::function<absl::Status(storage::UnitOfWork&, Answer&)> body,
               std::function<void(absl::StatusOr<Answer>)> done, CallAlive alive = nullptr,
               storage::WriteLane lane = storage::WriteLane::kAny) {
  auto out = std::make_shared<Answer>();
  store->Submit(
      [body = std::move(body), out, alive = std::move(alive)](storage::UnitOfWork& uow) {
        if (alive) RETURN_IF_ERROR(alive());
        *out = Answer();  // a command that lost a race runs again from scratch
        return body(uow, *out);
      },
      [out, done = std::move(done), submitted = absl::Now()](absl::Status status) {
        ObserveWriteLatency(absl::Now() - submitted);
        if (status.ok()) {
          done(std::move(*out));
        } else {
          done(WithRetryHint(status));
        }
      },
      lane);
}

// What identifies one idempotent request: the operation (scope), the key
// (who sent it, what it is about, and its request_id) and the SHA-256 of the
// request itself. Built by IdempotencyKeyFor, never by hand, so that every
// engine scopes its keys the same way.
struct IdempotencyKey {
  std::string scope;           // the operation, e.g. "/collections.v1.CaseService/SignalCase"
  std::string key;             // principal, target and request_id
  std::string request_id;      // as the caller sent it (for messages)
  std::string request_digest;  // hex SHA-256 of the deterministic serialization
};

// INVALID_ARGUMENT "request_id is required" when `request_id` is empty,
// "request_id is too long (at most 64 bytes)" beyond 64 bytes: for the
// operations a retry could otherwise apply twice.
absl::Status CheckRequiredRequestId(const std::string& request_id);

// Hex SHA-256 of `request`'s deterministic serialization.
std::string RequestDigest(const google::protobuf::Message& request);

// The key of `request`, sent by `principal` to `method` about `target` (the
// case, plan or task id) with `request_id`. Another principal, method or
// target never shares a key: their requests are separate requests.
IdempotencyKey IdempotencyKeyFor(const std::string& method, const std::string& principal,
                                 int64_t target, const std::string& request_id,
                                 const google::protobuf::Message& request);

// The answer stored under `key` by SaveAnswer, parsed into *answer: true when
// there is one (the request was seen: answer it again), false when there is
// none. INVALID_ARGUMENT when the key was used for a different request (the
// digests differ; a row stored before digests were kept has none and is
// replayed). INTERNAL when the stored bytes do not parse.
absl::StatusOr<bool> FindStoredAnswer(storage::UnitOfWork& uow, const IdempotencyKey& key,
                                      google::protobuf::Message* answer);

// Stores `answer` under `key`, with the request's digest, in the same
// transaction as the change it reports, so a retry gets it again.
absl::Status SaveAnswer(storage::UnitOfWork& uow, const IdempotencyKey& key,
                        const google::protobuf::Message& answer);

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_COMMANDS_H_
