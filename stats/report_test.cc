// report_test.cc — the DSN/ARF reader against golden reports in
// testdata/reports/ (real-world shapes, truncated and hostile ones).
#include "report.h"

#include <catch2/catch.hpp>

#include "golden.h"

using namespace migo;

TEST_CASE("golden delivery status notifications and feedback reports") {
  int n = test::check_golden(TESTDATA "/reports", [](const std::string& in) {
    auto r = parse_report(in);
    return r.ok() ? describe(*r) : "invalid: " + r.status().message() + "\n";
  });
  CHECK(n >= 10);
}

TEST_CASE("a report too large is refused before it is read") {
  std::string big(kMaxReportBytes + 1, 'a');
  CHECK(parse_report(big).status().code() == Code::invalid);
}
