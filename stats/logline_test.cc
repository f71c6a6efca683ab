// logline_test.cc — the Postfix log line parser against golden files in
// testdata/log/: every line of NAME.in is parsed and described on one line
// of NAME.out.
#include "logline.h"

#include <catch2/catch.hpp>

#include "golden.h"

using namespace migo;

namespace {
// The golden files include a second instance's lines (postfix-out), which
// its admin configures: --syslog-name postfix-out.
const std::vector<std::string> kNames{"postfix", "postfix-out"};

std::string render(const std::string& input) {
  std::string out;
  size_t at = 0;
  while (at < input.size()) {
    size_t nl = input.find('\n', at);
    if (nl == std::string::npos) nl = input.size();
    auto e = parse_log_line(std::string_view(input).substr(at, nl - at), kNames);
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

TEST_CASE("only the tag before the line's first ': ' says whose line it is") {
  const char* inner = "Nov 25 10:00:01 mx migo-milter[812]: 4Abc1Def2Gh: reject: x/y[1]: 4Vict1m2Qid: reject: END-OF-MESSAGE x";
  auto e = parse_log_line(inner);
  REQUIRE(e.ok());
  CHECK(e->kind == LogEvent::Kind::ignored);
  // The same text as Postfix's own line is a refusal.
  auto own = parse_log_line("Nov 25 10:00:01 mx postfix/smtpd[8]: 4Vict1m2Qid: reject: END-OF-MESSAGE x");
  REQUIRE(own.ok());
  CHECK(own->kind == LogEvent::Kind::refused);
}

TEST_CASE("a second instance's syslog name counts only when configured") {
  std::string line = "Nov 25 10:00:06 mx postfix-out/smtp[77]: 4Vict1m2Qid: to=<r@x.test>, relay=x, status=sent (ok)";
  CHECK(parse_log_line(line)->kind == LogEvent::Kind::ignored);
  CHECK(parse_log_line(line, kNames)->kind == LogEvent::Kind::delivery);
}

TEST_CASE("is_postfix_tag") {
  CHECK(is_postfix_tag("postfix", kNames));
  CHECK(is_postfix_tag("postfix/submission/smtpd", kNames));
  CHECK(is_postfix_tag("postfix-out/qmgr", kNames));
  CHECK_FALSE(is_postfix_tag("postfix/", kNames));
  CHECK_FALSE(is_postfix_tag("postfixx/smtp", kNames));
  CHECK_FALSE(is_postfix_tag("migo-milter", kNames));
  CHECK_FALSE(is_postfix_tag("x/y", kNames));
  CHECK_FALSE(is_postfix_tag("", kNames));
}
