#include "server/logging.h"

#include <grpc/support/log.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace collections::server {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

absl::Mutex& OutputMutex() {
  static absl::Mutex* const mu = new absl::Mutex();
  return *mu;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO ";
    case LogLevel::kWarning:
      return "WARN ";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?    ";
}

void GrpcLogFunction(gpr_log_func_args* args) {
  LogLevel level = LogLevel::kInfo;
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      level = LogLevel::kDebug;
      break;
    case GPR_LOG_SEVERITY_INFO:
      level = LogLevel::kInfo;
      break;
    case GPR_LOG_SEVERITY_ERROR:
      level = LogLevel::kError;
      break;
  }
  const char* file = args->file != nullptr ? args->file : "?";
  // Keep only the file's base name.
  absl::string_view path(file);
  size_t slash = path.rfind('/');
  if (slash != absl::string_view::npos) path.remove_prefix(slash + 1);
  Log(level, absl::StrCat("grpc ", path, ":", args->line, ": ",
                          args->message != nullptr ? args->message : ""));
}

}  // namespace

void SetMinLogLevel(LogLevel level) {
  g_min_level.store(static_cast<int>(level));
}

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "debug") {
    *level = LogLevel::kDebug;
  } else if (t == "info") {
    *level = LogLevel::kInfo;
  } else if (t == "warning" || t == "warn") {
    *level = LogLevel::kWarning;
  } else if (t == "error") {
    *level = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

std::string FormatLogLine(absl::Time when, LogLevel level,
                          absl::string_view message) {
  return absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", when, absl::UTCTimeZone()), " ",
      LevelName(level), " ", message);
}

void Log(LogLevel level, absl::string_view message) {
  if (static_cast<int>(level) < g_min_level.load()) return;
  std::string line = FormatLogLine(absl::Now(), level, message);
  line.push_back('\n');
  absl::MutexLock lock(&OutputMutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void RouteGrpcLogging() { gpr_set_log_function(&GrpcLogFunction); }

}  // namespace collections::server
