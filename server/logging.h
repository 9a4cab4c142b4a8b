// A small logger for the server: one line per message on stderr,
//   2026-01-01T08:00:00.123456Z INFO  message
// with a UTC timestamp and the level, or in JSON for log collectors,
//   {"time":"2026-01-01T08:00:00.123456Z","level":"INFO","msg":"message"}
// Some lines carry fields besides (LogField): every RPC's line, for one
//   {"time":...,"level":"DEBUG","msg":"rpc","method":"/collections.v1.CaseService/GetCase",
//    "status":"OK","duration_ms":1.204,"request_id":"...","principal":"..."}
// Abseil 20220623 has no absl/log.
// Thread-safe; lines from different threads never interleave.
#ifndef COLLECTIONS_SERVER_LOGGING_H_
#define COLLECTIONS_SERVER_LOGGING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/clock.h"

namespace collections::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below `level` are dropped. Default: kInfo.
void SetMinLogLevel(LogLevel level);
// Parses "debug", "info", "warning", "error"; false if unknown.
bool ParseLogLevel(absl::string_view text, LogLevel* level);

enum class LogFormat { kText = 0, kJson = 1 };
// Default: kText. Process-wide.
void SetLogFormat(LogFormat format);
// Parses "text", "json"; false if unknown.
bool ParseLogFormat(absl::string_view text, LogFormat* format);

void Log(LogLevel level, absl::string_view message);

// Whether a message at `level` would be written (to skip the work of one
// that would not).
bool LogEnabled(LogLevel level);

// A named value that goes with a message: in JSON a key of the line's
// object (a number when `number`, else a string), in text `key=value`
// after the message.
struct LogField {
  std::string key;
  std::string value;
  bool number = false;
};
void Log(LogLevel level, absl::string_view message, const std::vector<LogField>& fields);

// Sends gRPC's own log lines (gpr_log) through Log, so that the server's
// stderr has one format. Process-wide; call once from main().
void RouteGrpcLogging();

// Sends protobuf's own log messages (GOOGLE_LOG; e.g. one ERROR per request
// whose string field holds invalid UTF-8) through Log, rate-limited: at
// most kProtobufLinesPerMinute lines per call site (file:line, i.e. per kind
// of message) per minute of `clock`; the rest are counted and, once that
// minute is over, summarised in one line ("N more like this suppressed")
// before the next line of that kind, or at shutdown by
// LogProtobufLogSummary(). Process-wide; call once from main() (tests may
// call it again with their clock: that restarts the minutes, not the
// counts).
inline constexpr int kProtobufLinesPerMinute = 5;
void RouteProtobufLogging(std::shared_ptr<const Clock> clock);

// Protobuf's log messages since the process started: every one, and those
// the rate limit kept out of the log. For a metrics endpoint.
struct ProtobufLogCounts {
  int64_t messages = 0;
  int64_t suppressed = 0;
};
ProtobufLogCounts GetProtobufLogCounts();

// Logs suppressed messages not yet summarised and the counts. For shutdown.
void LogProtobufLogSummary();

// The formatted line Log() writes for `message` at `when` (without the
// newline). Exposed for tests.
std::string FormatLogLine(absl::Time when, LogLevel level, absl::string_view message,
                          LogFormat format = LogFormat::kText,
                          const std::vector<LogField>& fields = {});

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
