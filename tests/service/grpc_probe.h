// Talks to the standard gRPC health and reflection services without their
// generated code (Debian's gRPC ships neither header): requests and replies
// are encoded by hand and parsed as protobuf unknown fields. Used by the
// service and end-to-end tests.
#ifndef COLLECTIONS_TESTS_SERVICE_GRPC_PROBE_H_
#define COLLECTIONS_TESTS_SERVICE_GRPC_PROBE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace collections::testing {

// grpc.health.v1.HealthCheckResponse.ServingStatus
enum class Serving { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// grpc.health.v1.Health/Check for `service` ("" = the whole server).
// With wait_for_ready the call waits (up to `timeout`) for the server to
// come up instead of failing at once with UNAVAILABLE.
grpc::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                         absl::Duration timeout, bool wait_for_ready, Serving* serving);

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with one
// list_services request: the fully qualified names of the served services.
grpc::Status ListServices(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout,
                          std::vector<std::string>* services);

}  // namespace collections::testing

#endif  // COLLECTIONS_TESTS_SERVICE_GRPC_PROBE_H_
