// options_test.cc — configuration files read with a key table, and the
// pages and help written from the same table.
#include "options.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "temp_dir.h"

using namespace migo;

namespace {

struct Settings {
  std::string action = "DUNNO";
  long seconds = 30;
};

std::vector<ConfigKey> keys_of(Settings* s) {
  return {
      {"action", "ACTION", "DUNNO", "what to answer", store_value(&s->action)},
      {"seconds", "SECONDS", "30", "how long\nto wait",
       [s](const std::string& v) -> Status {
         if (!whole_number(v, 1, 60, &s->seconds)) return {Code::invalid, "a whole number from 1 to 60"};
         return {};
       }},
  };
}

Status read(const std::string& text, Settings* s) {
  test::TempDir dir;
  std::ofstream(dir / "f.conf") << text;
  return read_config_file(dir / "f.conf", keys_of(s));
}

}  // namespace

TEST_CASE("a configuration file sets the keys it names and leaves the rest") {
  Settings s;
  REQUIRE(read("# a comment\n\n  action = REJECT go away   # trailing comment\n", &s).ok());
  CHECK(s.action == "REJECT go away");
  CHECK(s.seconds == 30);
  REQUIRE(read("seconds=5\r\n", &s).ok());
  CHECK(s.seconds == 5);
}

TEST_CASE("a configuration file's errors name the file, the line and what is wrong") {
  Settings s;
  Status st = read("action = A\nnonsense = 1\n", &s);
  CHECK(st.code() == Code::invalid);
  CHECK_THAT(st.message(), Catch::Contains("f.conf:2: unknown key: nonsense"));
  st = read("\n\nseconds 5\n", &s);
  CHECK_THAT(st.message(), Catch::Contains("f.conf:3: expected key = value"));
  st = read("seconds = 61\n", &s);
  CHECK_THAT(st.message(), Catch::Contains("f.conf:1: seconds: a whole number from 1 to 60"));
  st = read_config_file("/nonexistent/f.conf", keys_of(&s));
  CHECK(st.code() == Code::unavailable);
  CHECK_THAT(st.message(), Catch::Contains("cannot read /nonexistent/f.conf"));
}

TEST_CASE("--help and the section 5 page list every key with its default") {
  Settings s;
  ConfigFileDoc doc{"x.conf", "/etc/x.conf", "x's file", "About x.\n", keys_of(&s), "x(8)", " = ", "action = A\n"};
  std::string help = config_keys_text(doc);
  CHECK_THAT(help, Catch::Contains("  action   what to answer"));
  CHECK_THAT(help, Catch::Contains("(default: DUNNO)"));
  CHECK_THAT(help, Catch::Contains("           to wait"));
  std::string page = config_man_page(doc);
  CHECK_THAT(page, Catch::Contains(".TH X.CONF 5 "));
  CHECK_THAT(page, Catch::Contains("\\fBaction\\fR = \\fIACTION\\fR"));
  CHECK_THAT(page, Catch::Contains("\\fBseconds\\fR = \\fISECONDS\\fR"));
  CHECK_THAT(page, Catch::Contains("Default: \\fB30\\fR"));
  CHECK_THAT(page, Catch::Contains(".SH EXAMPLE"));
}
