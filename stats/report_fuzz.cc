// report_fuzz.cc — libFuzzer target for the DSN/ARF reader.
//   build/clang/stats/stats_report_fuzz /tmp/corpus stats/testdata/reports -max_total_time=600
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = migo::parse_report(std::string_view(reinterpret_cast<const char*>(data), size));
  if (r.ok()) (void)migo::describe(*r);
  return 0;
}
