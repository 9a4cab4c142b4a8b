#include "server/config.h"

#include <string>

namespace collections::server {

std::string RedactConnection(const std::string& connection) {
  static constexpr char kKey[] = "password=";
  std::string out = connection;
  size_t pos = 0;
  while ((pos = out.find(kKey, pos)) != std::string::npos) {
    // Only a key at the start of a token, not e.g. "xpassword=".
    if (pos > 0 && out[pos - 1] != ' ' && out[pos - 1] != '/') {
      pos += sizeof(kKey) - 1;
      continue;
    }
    size_t value = pos + sizeof(kKey) - 1;
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
      while (end < out.size() && out[end] != ' ') ++end;
    }
    out.replace(value, end - value, "***");
    pos = value + 3;
  }
  return out;
}

}  // namespace collections::server
