// request_fuzz.cc — libFuzzer target for the policy request parser.
// The first byte chooses how the rest is cut into pieces, so the fuzzer
// also explores requests split at every possible point. Whatever the input,
// the parser must not crash, read out of bounds, or buffer past its limits.
//   mkdir -p /tmp/corpus && build/clang/policy-daemon/policy_request_fuzz /tmp/corpus \
//     policy-daemon/testdata -max_total_time=600
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 97;
  std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  migo::RequestParser parser;
  for (size_t at = 0; at < all.size(); at += piece) {
    std::string_view in = all.substr(at, piece);
    for (;;) {
      auto s = parser.feed(in);
      if (s == migo::RequestParser::State::error) return 0;
      if (s == migo::RequestParser::State::need_more) break;
      migo::PolicyRequest r = parser.take();
      std::string why;
      (void)migo::interpret(r, &why);
    }
  }
  return 0;
}
