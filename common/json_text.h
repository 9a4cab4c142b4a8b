// JsonEscaped: text as the inside of a JSON string (RFC 8259): quotes,
// backslashes and control characters escaped; every other byte, UTF-8
// included, as it is. Shared by the server's JSON log lines and
// collectionsctl's JSON output. Pure.
#ifndef COLLECTIONS_COMMON_JSON_TEXT_H_
#define COLLECTIONS_COMMON_JSON_TEXT_H_

#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace collections {

inline std::string JsonEscaped(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

}  // namespace collections

#endif  // COLLECTIONS_COMMON_JSON_TEXT_H_
