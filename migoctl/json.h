// json.h — migoctl's JSON value for --json output: a thin face on
// nlohmann::json (Debian's nlohmann-json3-dev), so the serialiser is a
// maintained library's, and callers keep a small builder API.
//
// Object keys keep their insertion order (ordered_json) so output is
// stable and diffable. Strings are escaped per RFC 8259; bytes that are not
// valid UTF-8 are replaced by U+FFFD, so the output always parses (and
// serialising never throws). Fractions are rounded to 4 decimals: rates
// read 0.9524, not 0.9523809523809523.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace migo {

class Json {
 public:
  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : j_(b) {}
  Json(int v) : j_(static_cast<int64_t>(v)) {}
  Json(int64_t v) : j_(v) {}
  Json(uint32_t v) : j_(static_cast<uint64_t>(v)) {}
  Json(uint64_t v) : j_(v) {}
  Json(double v);
  Json(const char* s) : j_(std::string(s)) {}
  Json(std::string s) : j_(std::move(s)) {}

  static Json object();
  static Json array();

  // Adds or replaces (in place) a key of an object. Returns *this for chaining.
  Json& set(const std::string& key, Json value);
  Json& push(Json value);  // appends to an array

  // indent 0: all on one line.
  std::string dump(int indent = 2) const;

  // Reading, for the text views that render a noun from its JSON (so text
  // and --json cannot disagree). at() takes a JSON pointer ("/statistics/
  // delivered") and gives null where there is nothing.
  Json at(const std::string& pointer) const;
  bool is_null() const { return j_.is_null(); }
  bool is_true() const { return j_.is_boolean() && j_.get<bool>(); }
  // A string as it is, a number in decimal, true/false as yes/no, null "".
  std::string text() const;
  // A number's value; 0 for anything else.
  double number() const;
  // An array's elements (an empty list for anything else).
  std::vector<Json> items() const;

 private:
  nlohmann::ordered_json j_;
};

}  // namespace migo
