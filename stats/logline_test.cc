// logline_test.cc — the Postfix log line parser against golden files in
// testdata/log/: every line of NAME.in is parsed and described on one line
// of NAME.out.
#include "logline.h"

#include <catch2/catch.hpp>

#include "golden.h"

using namespace migo;

namespace {
std::string render(const std::string& input) {
  std::string out;
  size_t at = 0;
  while (at < input.size()) {
    size_t nl = input.find('\n', at);
    if (nl == std::string::npos) nl = input.size();
    auto e = parse_log_line(std::string_view(input).substr(at, nl - at));
    out += e.ok() ? describe(*e) : "malformed: " + e.status().message();
    out += "\n";
    at = nl + 1;
  }
  return out;
}
}  // namespace

TEST_CASE("golden Postfix log lines") {
  CHECK(test::check_golden(TESTDATA "/log", render) >= 4);
}

TEST_CASE("absurd lines are malformed without being scanned") {
  std::string huge = "Nov 23 relay postfix/smtp[1]: ABCDE12345: to=<" + std::string(kMaxLogLine, 'a') + ">";
  auto e = parse_log_line(huge);
  CHECK(e.status().code() == Code::invalid);
}
