#include "clients/common/grpc_status.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace collections::clients {

const char* StatusCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

bool OverMessageLimit(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
         absl::StrContains(absl::AsciiStrToLower(s.error_message()), "larger than max");
}

bool TlsFailure(const grpc::Status& s) {
  if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  const std::string m = absl::AsciiStrToLower(s.error_message());
  return absl::StrContains(m, "handshake") || absl::StrContains(m, "ssl") ||
         absl::StrContains(m, "tls") || absl::StrContains(m, "certificate");
}

std::string FailureText(const grpc::Status& s, const std::string& server) {
  const char* name = StatusCodeName(s.error_code());
  switch (s.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::StrCat(name, ": the server refused the credentials: ", s.error_message(),
                          " (check --token_file / COLLECTIONS_TOKEN_FILE, or the client "
                          "certificate)");
    case grpc::StatusCode::PERMISSION_DENIED:
      return absl::StrCat(name, ": not allowed: ", s.error_message());
    default:
      if (TlsFailure(s)) {
        return absl::StrCat(name, ": could not establish TLS with ", server,
                            ": check --tls_ca and the server's certificate name (",
                            s.error_message(), ")");
      }
      return absl::StrCat(name, ": ", s.error_message());
  }
}

}  // namespace collections::clients
