#include "migo/loggable.h"

#include <catch2/catch.hpp>

using namespace migo;

TEST_CASE("hostile logins never reach a log line") {
  CHECK(loggable_login("smtpuser_abc") == "smtpuser_abc");
  CHECK(loggable_login("smtpuser_abc@x.org") == "smtpuser_abc@(5 bytes)");
  CHECK(loggable_login("evil\nFake log line") == "(malformed login, 18 bytes)");
}

TEST_CASE("client text is quoted, escaped and bounded") {
  CHECK(loggable_text("example.com") == "\"example.com\"");
  CHECK(loggable_text("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(loggable_text(std::string("x\ny\r\0\x7f\xc3\xa9", 8)) == "\"x\\x0ay\\x0d\\x00\\x7f\\xc3\\xa9\"");
  CHECK(loggable_text(std::string(300, 'a'), 10) == "\"aaaaaaaaaa\"...(300 bytes)");
  // What a forged Postfix line becomes: still readable, but inside quotes
  // and never at the start of a line.
  std::string forged = "x\nNov 25 10:00:01 mx postfix/smtp[1]: QID: removed";
  CHECK(loggable_text(forged).find('\n') == std::string::npos);
}
