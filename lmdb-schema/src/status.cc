// status.cc — names for status codes, used in messages and --json output.
#include "migo/status.h"

namespace migo {

const char* code_name(Code c) noexcept {
  switch (c) {
    case Code::ok: return "ok";
    case Code::not_found: return "not_found";
    case Code::invalid: return "invalid";
    case Code::exists: return "exists";
    case Code::refused: return "refused";
    case Code::not_initialized: return "not_initialized";
    case Code::corrupt: return "corrupt";
    case Code::unavailable: return "unavailable";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace migo
