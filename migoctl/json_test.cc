#include "json.h"

#include <catch2/catch.hpp>

using migo::Json;

TEST_CASE("json escapes and keeps key order") {
  Json j = Json::object().set("b", 1).set("a", "x\"y\\z\n\t\x01").set("n", Json()).set("t", true);
  CHECK(j.dump(0) == R"({"b":1,"a":"x\"y\\z\n\t\u0001","n":null,"t":true})");
  j.set("b", 2);
  CHECK(j.dump(0) == R"({"b":2,"a":"x\"y\\z\n\t\u0001","n":null,"t":true})");
}

TEST_CASE("json keeps valid UTF-8 and replaces invalid bytes") {
  const std::string fffd = "\xef\xbf\xbd";  // U+FFFD, as UTF-8
  CHECK(Json("bücher").dump(0) == "\"bücher\"");
  CHECK(Json(std::string("a\xff" "b")).dump(0) == "\"a" + fffd + "b\"");
  CHECK(Json(std::string("\xc0\xaf")).dump(0) == "\"" + fffd + fffd + "\"");  // overlong '/'
  CHECK(Json(std::string("\xed\xa0\x80")).dump(0) == "\"" + fffd + fffd + fffd + "\"");  // surrogate
}

TEST_CASE("json arrays, numbers, nesting") {
  Json a = Json::array();
  a.push(uint64_t{18446744073709551615ull}).push(int64_t{-3}).push(0.5).push(20.0 / 21).push(Json::object());
  CHECK(a.dump(0) == "[18446744073709551615,-3,0.5,0.9524,{}]");  // fractions to 4 decimals
  CHECK(Json::array().dump() == "[]");
}
