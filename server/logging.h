// A small logger for the server: one line per message on stderr,
//   2026-01-01T08:00:00.123456Z INFO  message
// with a UTC timestamp and the level. Abseil 20220623 has no absl/log.
// Thread-safe; lines from different threads never interleave.
#ifndef COLLECTIONS_SERVER_LOGGING_H_
#define COLLECTIONS_SERVER_LOGGING_H_

#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace collections::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below `level` are dropped. Default: kInfo.
void SetMinLogLevel(LogLevel level);
// Parses "debug", "info", "warning", "error"; false if unknown.
bool ParseLogLevel(absl::string_view text, LogLevel* level);

void Log(LogLevel level, absl::string_view message);

// Sends gRPC's own log lines (gpr_log) through Log, so that the server's
// stderr has one format. Process-wide; call once from main().
void RouteGrpcLogging();

// The formatted line Log() writes for `message` at `when` (without the
// newline). Exposed for tests.
std::string FormatLogLine(absl::Time when, LogLevel level,
                          absl::string_view message);

template <typename... Args>
void LogInfo(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kInfo, absl::StrFormat(format, args...));
}
template <typename... Args>
void LogWarning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kWarning, absl::StrFormat(format, args...));
}
template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kError, absl::StrFormat(format, args...));
}
template <typename... Args>
void LogDebug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kDebug, absl::StrFormat(format, args...));
}

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_LOGGING_H_
