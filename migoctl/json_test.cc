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

TEST_CASE("json reading: pointers, text, numbers, items; nothing there is null") {
  Json j = Json::object()
               .set("s", "x")
               .set("n", uint64_t{7})
               .set("neg", int64_t{-2})
               .set("f", 0.25)
               .set("b", false)
               .set("o", Json::object().set("in", "deep"))
               .set("a", Json::array().push(1).push("two"));
  CHECK(j.at("/s").text() == "x");
  CHECK(j.at("/n").text() == "7");
  CHECK(j.at("/neg").text() == "-2");
  CHECK(j.at("/f").number() == 0.25);
  CHECK(j.at("/b").text() == "no");
  CHECK_FALSE(j.at("/b").is_true());
  CHECK_FALSE(j.at("/s").is_true());  // only true is true
  CHECK(Json(true).is_true());
  CHECK(j.at("/o/in").text() == "deep");
  CHECK(j.at("/a").items().size() == 2);
  CHECK(j.at("/a/1").text() == "two");
  CHECK(j.at("/missing").is_null());
  CHECK(j.at("/s/below").is_null());  // through a scalar
  CHECK(j.at("no-slash").is_null());  // a malformed pointer
  CHECK(j.at("/missing").text().empty());
  CHECK(j.at("/s").items().empty());
}
