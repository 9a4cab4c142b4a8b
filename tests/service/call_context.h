// The client contexts the tests (service and end-to-end) make their calls
// with, and the one place they put the caller's identity on a call: a
// bearer token from the development identity provider
// (tests/service/test_credentials.h), as a bank's tools send one.
#ifndef COLLECTIONS_TESTS_SERVICE_CALL_CONTEXT_H_
#define COLLECTIONS_TESTS_SERVICE_CALL_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace collections::testing {

// The principal a test calls as when it does not say: every role, no firm.
inline constexpr char kTester[] = "tester";

// Marks `context` as a call by `actor` with `role` ("agent" when none is
// given; kTester has every role), speaking for `firm_id` when given.
void SetCaller(grpc::ClientContext& context, const std::string& actor, const std::string& role = "",
               const std::string& firm_id = "");

// A context with a deadline `timeout` from now, for a call by kTester.
inline std::unique_ptr<grpc::ClientContext> DeadlineContext(
    absl::Duration timeout = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  SetCaller(*context, kTester);
  return context;
}

// The same without credentials: what an anonymous caller sends.
inline std::unique_ptr<grpc::ClientContext> AnonymousContext(
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
  auto context = AnonymousContext(timeout);
  SetCaller(*context, actor, role);
  return context;
}

// A context for a legal firm's receiver: the role "legal", speaking for
// `firm_id`.
inline std::unique_ptr<grpc::ClientContext> FirmContext(
    const std::string& firm_id, absl::Duration timeout = absl::Seconds(30)) {
  auto context = AnonymousContext(timeout);
  SetCaller(*context, firm_id + "-receiver", "legal", firm_id);
  return context;
}

}  // namespace collections::testing

#endif  // COLLECTIONS_TESTS_SERVICE_CALL_CONTEXT_H_
