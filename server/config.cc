#include "server/config.h"

#include <algorithm>
#include <string>

namespace collections::server {

namespace {

// libpq's conninfo whitespace (isspace in the C locale).
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

std::string RedactConnection(const std::string& connection) {
  // libpq reads "key = value" pairs separated by any whitespace, with
  // optional whitespace around '=' and single-quoted values (backslash
  // escapes); every spelling it accepts is redacted.
  static constexpr char kKey[] = "password";
  static constexpr size_t kKeyLength = sizeof(kKey) - 1;
  std::string out = connection;
  size_t pos = 0;
  while ((pos = out.find(kKey, pos)) != std::string::npos) {
    const size_t after_key = pos + kKeyLength;
    // Only a key at the start of a token, not e.g. "xpassword=".
    if (pos > 0 && !IsSpace(out[pos - 1]) && out[pos - 1] != '/') {
      pos = after_key;
      continue;
    }
    size_t equals = after_key;
    while (equals < out.size() && IsSpace(out[equals])) ++equals;
    if (equals == out.size() || out[equals] != '=') {
      pos = after_key;
      continue;
    }
    size_t value = equals + 1;
    while (value < out.size() && IsSpace(out[value])) ++value;
    size_t end = value;
    if (end < out.size() && out[end] == '\'') {
      // Quoted value: up to the closing quote (backslash escapes).
      ++end;
      while (end < out.size() && out[end] != '\'') {
        if (out[end] == '\\') ++end;
        ++end;
      }
      if (end < out.size()) ++end;
    } else {
      while (end < out.size() && !IsSpace(out[end])) ++end;
    }
    end = std::min(end, out.size());
    out.replace(value, end - value, "***");
    pos = value + 3;
  }
  return out;
}

}  // namespace collections::server
