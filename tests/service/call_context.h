// The client contexts the tests (service and end-to-end) make their calls
// with, and the one place they put the caller's identity on a call. Today
// collectionsd takes the caller as self-asserted metadata
// (`collections-actor`, and `collections-role` for plan approvals); when it
// takes real credentials instead, SetCaller is what changes.
#ifndef COLLECTIONS_TESTS_SERVICE_CALL_CONTEXT_H_
#define COLLECTIONS_TESTS_SERVICE_CALL_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace collections::testing {

// Marks `context` as a call by `actor`, in `role` when one is given.
inline void SetCaller(grpc::ClientContext& context, const std::string& actor,
                      const std::string& role = "") {
  context.AddMetadata("collections-actor", actor);
  if (!role.empty()) context.AddMetadata("collections-role", role);
}

// A context with a deadline `timeout` from now, saying nothing of the caller.
inline std::unique_ptr<grpc::ClientContext> DeadlineContext(
    absl::Duration timeout = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

// A context with a deadline `timeout` from now, for a call by `actor` (in
// `role` when one is given).
inline std::unique_ptr<grpc::ClientContext> CallerContext(
    const std::string& actor, const std::string& role = "",
    absl::Duration timeout = absl::Seconds(30)) {
  auto context = DeadlineContext(timeout);
  SetCaller(*context, actor, role);
  return context;
}

}  // namespace collections::testing

#endif  // COLLECTIONS_TESTS_SERVICE_CALL_CONTEXT_H_
