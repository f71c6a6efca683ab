// json.h — a small JSON value for migoctl's --json output.
//
// Only what output needs: build a tree, serialise it. Object keys keep their
// insertion order so output is stable and diffable. Strings are escaped per
// RFC 8259; bytes that are not valid UTF-8 are replaced by U+FFFD so the
// output always parses.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace migo {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() : v_(nullptr) {}
  Json(std::nullptr_t) : v_(nullptr) {}
  Json(bool b) : v_(b) {}
  Json(int v) : v_(static_cast<int64_t>(v)) {}
  Json(int64_t v) : v_(v) {}
  Json(uint32_t v) : v_(static_cast<uint64_t>(v)) {}
  Json(uint64_t v) : v_(v) {}
  Json(double v) : v_(v) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(Array a) : v_(std::move(a)) {}

  static Json object() { Json j; j.v_ = Object{}; return j; }
  static Json array() { return Json(Array{}); }

  // Adds or replaces a key of an object. Returns *this for chaining.
  Json& set(const std::string& key, Json value);
  Json& push(Json value);  // appends to an array

  std::string dump(int indent = 2) const;

 private:
  void write(std::string& out, int indent, int depth) const;
  std::variant<std::nullptr_t, bool, int64_t, uint64_t, double, std::string, Array, Object> v_;
};

void json_escape(std::string& out, const std::string& s);

}  // namespace migo
