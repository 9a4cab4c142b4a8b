#include "server/logging.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json_text.h"

namespace collections::server {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};

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

void SetMinLogLevel(LogLevel level) { g_min_level.store(static_cast<int>(level)); }

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

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

bool ParseLogFormat(absl::string_view text, LogFormat* format) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "text") {
    *format = LogFormat::kText;
  } else if (t == "json") {
    *format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

std::string FormatLogLine(absl::Time when, LogLevel level, absl::string_view message,
                          LogFormat format, const std::vector<LogField>& fields) {
  const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", when, absl::UTCTimeZone());
  if (format == LogFormat::kText) {
    std::string line = absl::StrCat(time, " ", LevelName(level), " ", message);
    for (const LogField& field : fields) {
      // Values may come from callers (a request_id): quoted and escaped
      // when they hold anything that could split or fake a line.
      const bool plain =
          !field.value.empty() && std::all_of(field.value.begin(), field.value.end(), [](char c) {
            return c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != '=';
          });
      absl::StrAppend(&line, " ", field.key, "=",
                      plain ? field.value : absl::StrCat("\"", JsonEscaped(field.value), "\""));
    }
    return line;
  }
  std::string line = absl::StrCat("{\"time\":\"", time, "\",\"level\":\"",
                                  absl::StripTrailingAsciiWhitespace(LevelName(level)),
                                  "\",\"msg\":\"", JsonEscaped(message), "\"");
  for (const LogField& field : fields) {
    if (field.number) {
      absl::StrAppend(&line, ",\"", JsonEscaped(field.key), "\":", field.value);
    } else {
      absl::StrAppend(&line, ",\"", JsonEscaped(field.key), "\":\"", JsonEscaped(field.value),
                      "\"");
    }
  }
  line.push_back('}');
  return line;
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(); }

void Log(LogLevel level, absl::string_view message) { Log(level, message, {}); }

void Log(LogLevel level, absl::string_view message, const std::vector<LogField>& fields) {
  if (!LogEnabled(level)) return;
  std::string line =
      FormatLogLine(absl::Now(), level, message, static_cast<LogFormat>(g_format.load()), fields);
  line.push_back('\n');
  absl::MutexLock lock(&OutputMutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void RouteGrpcLogging() { gpr_set_log_function(&GrpcLogFunction); }

namespace {

// Protobuf's messages, per call site, in minutes of the clock given to
// RouteProtobufLogging.
class ProtobufLogLimiter {
 public:
  static ProtobufLogLimiter& Get() {
    static ProtobufLogLimiter* const limiter = new ProtobufLogLimiter();
    return *limiter;
  }

  void Restart(std::shared_ptr<const Clock> clock) {
    absl::MutexLock lock(&mu_);
    clock_ = std::move(clock);
    sites_.clear();
  }

  // Logs `message` from `site` unless this minute already had its lines.
  void Handle(LogLevel level, const std::string& site, const std::string& message) {
    std::string summary;
    bool write = false;
    {
      absl::MutexLock lock(&mu_);
      ++counts_.messages;
      const absl::Time now = clock_ != nullptr ? clock_->Now() : absl::Now();
      Site& s = sites_[site];
      // A new minute (or a clock set back): summarise the last one's rest.
      if (s.logged == 0 || now < s.minute_start || now - s.minute_start >= absl::Minutes(1)) {
        summary = Summary(site, s);
        s.minute_start = now;
        s.logged = 0;
        s.suppressed = 0;
      }
      if (s.logged < kProtobufLinesPerMinute) {
        ++s.logged;
        write = true;
      } else {
        ++s.suppressed;
        ++counts_.suppressed;
      }
    }
    if (!summary.empty()) Log(LogLevel::kWarning, summary);
    if (write) Log(level, absl::StrCat("protobuf ", site, ": ", message));
  }

  ProtobufLogCounts Counts() {
    absl::MutexLock lock(&mu_);
    return counts_;
  }

  void LogSummary() {
    std::vector<std::string> lines;
    ProtobufLogCounts counts;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [site, s] : sites_) {
        std::string summary = Summary(site, s);
        if (!summary.empty()) lines.push_back(std::move(summary));
        s.suppressed = 0;
      }
      counts = counts_;
    }
    for (const std::string& line : lines) Log(LogLevel::kWarning, line);
    LogInfo(
        "protobuf log: %d messages since start, %d of them suppressed (at most %d a minute "
        "per kind are logged)",
        counts.messages, counts.suppressed, kProtobufLinesPerMinute);
  }

 private:
  struct Site {
    absl::Time minute_start;
    int logged = 0;
    int64_t suppressed = 0;
  };

  static std::string Summary(const std::string& site, const Site& s) {
    if (s.suppressed == 0) return "";
    return absl::StrCat("protobuf ", site, ": ", s.suppressed,
                        " more like this suppressed (at most ", kProtobufLinesPerMinute,
                        " a minute are logged)");
  }

  absl::Mutex mu_;
  std::shared_ptr<const Clock> clock_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Site> sites_ ABSL_GUARDED_BY(mu_);
  ProtobufLogCounts counts_ ABSL_GUARDED_BY(mu_);
};

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* filename, int line,
                        const std::string& message) {
  LogLevel ours = LogLevel::kError;
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      ours = LogLevel::kInfo;
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      ours = LogLevel::kWarning;
      break;
    default:
      break;
  }
  absl::string_view path(filename != nullptr ? filename : "?");
  size_t slash = path.rfind('/');
  if (slash != absl::string_view::npos) path.remove_prefix(slash + 1);
  ProtobufLogLimiter::Get().Handle(ours, absl::StrCat(path, ":", line), message);
}

}  // namespace

void RouteProtobufLogging(std::shared_ptr<const Clock> clock) {
  ProtobufLogLimiter::Get().Restart(std::move(clock));
  google::protobuf::SetLogHandler(&ProtobufLogHandler);
}

ProtobufLogCounts GetProtobufLogCounts() { return ProtobufLogLimiter::Get().Counts(); }

void LogProtobufLogSummary() { ProtobufLogLimiter::Get().LogSummary(); }

}  // namespace collections::server
