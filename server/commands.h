// The plumbing every engine's storage commands share: a command that fills
// an answer and hands it over once the commit is durable (SubmitFor), and
// the idempotent replay of an answer stored under a request id
// (FindStoredAnswer, SaveAnswer). No gRPC types: engines use these.
//
// Thread-safe as the store is: SubmitFor's command runs on the writer
// thread, its `done` on the writer's callback thread.
#ifndef COLLECTIONS_SERVER_COMMANDS_H_
#define COLLECTIONS_SERVER_COMMANDS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/message.h"
#include "storage/store.h"

namespace collections::server {

// Runs `body` as one storage command filling a fresh Answer, then calls
// done(answer) once the commit is durable, or done(error) (and then nothing
// `body` wrote is kept).
template <typename Answer>
void SubmitFor(storage::Store* store,
               std::function<absl::Status(storage::UnitOfWork&, Answer&)> body,
               std::function<void(absl::StatusOr<Answer>)> done) {
  auto out = std::make_shared<Answer>();
  store->Submit([body = std::move(body), out](storage::UnitOfWork& uow) { return body(uow, *out); },
                [out, done = std::move(done)](absl::Status status) {
                  if (status.ok()) {
                    done(std::move(*out));
                  } else {
                    done(status);
                  }
                });
}

// The answer stored for (scope, key) by SaveAnswer, parsed into *answer:
// true when there is one (the request was seen: answer it again), false
// when there is none. INTERNAL when the stored bytes do not parse.
inline absl::StatusOr<bool> FindStoredAnswer(storage::UnitOfWork& uow, const std::string& scope,
                                             const std::string& key,
                                             google::protobuf::Message* answer) {
  ASSIGN_OR_RETURN(std::optional<std::string> seen, uow.FindResponse(scope, key));
  if (!seen) return false;
  if (!answer->ParseFromString(*seen)) {
    return absl::InternalError(absl::StrCat("stored response for ", scope, " is corrupt"));
  }
  return true;
}

// Stores `answer` for (scope, key) in the same transaction as the change it
// reports, so a retry with the same key gets it again.
inline absl::Status SaveAnswer(storage::UnitOfWork& uow, const std::string& scope,
                               const std::string& key, const google::protobuf::Message& answer) {
  return uow.SaveResponse(scope, key, answer.SerializeAsString());
}

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_COMMANDS_H_
