// from_header_fuzz.cc — libFuzzer target for the From parser: any bytes,
// no crash, no out-of-bounds read, and every mailbox it returns has a local
// part and a domain.
//   mkdir -p /tmp/fc && build/clang/milter/milter_from_fuzz /tmp/fc milter/testdata/from -max_total_time=600
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "from_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = migo::parse_from(std::string_view(reinterpret_cast<const char*>(data), size));
  if (r.ok())
    for (const auto& m : *r)
      if (m.local.empty() || m.domain.empty()) std::abort();
  return 0;
}
