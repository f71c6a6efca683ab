// from_header_test.cc — the From parser against the golden corpus in
// testdata/from: every mailbox found, or the error.
#include "from_header.h"

#include <catch2/catch.hpp>

#include "golden.h"

using namespace migo;

namespace {
std::string render(const std::string& in) {
  auto r = parse_from(in);
  if (!r.ok()) return "error: " + r.status().message() + "\n";
  std::string out;
  for (const Mailbox& m : *r) out += "display=[" + m.display + "] local=[" + m.local + "] domain=[" + m.domain + "]\n";
  return out;
}
}  // namespace

TEST_CASE("golden From headers") { CHECK(test::check_golden(TESTDATA, render) >= 30); }

TEST_CASE("size and count limits") {
  CHECK_FALSE(parse_from(std::string(kMaxFromBytes + 1, 'a')).ok());
  std::string many;
  for (size_t i = 0; i <= kMaxMailboxes; i++) many += "a" + std::to_string(i) + "@example.com,";
  CHECK_THAT(parse_from(many).status().message(), Catch::Contains("more than"));
}
