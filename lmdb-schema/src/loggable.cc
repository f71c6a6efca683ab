// loggable.cc — see loggable.h. (loggable_login lives in credentials.cc,
// beside the username rules it applies; this file needs nothing else.)
#include "migo/loggable.h"

namespace migo {

std::string loggable_text(std::string_view text, size_t max) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < max; i++) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '"';
  if (text.size() > max) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace migo
