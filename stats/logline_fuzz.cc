// logline_fuzz.cc — libFuzzer target for the Postfix log line parser: every
// line of the input is parsed; nothing may crash or read out of bounds.
//   build/clang/stats/stats_logline_fuzz /tmp/corpus stats/testdata/log -max_total_time=600
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "logline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  while (at <= all.size()) {
    size_t nl = all.find('\n', at);
    if (nl == std::string_view::npos) nl = all.size();
    auto e = migo::parse_log_line(all.substr(at, nl - at));
    if (e.ok()) (void)migo::describe(*e);
    at = nl + 1;
  }
  return 0;
}
