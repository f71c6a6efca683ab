// json.cc — see json.h.
#include "json.h"

#include <cmath>

namespace migo {

Json::Json(double v) : j_(std::isfinite(v) ? std::round(v * 10000) / 10000 : 0.0) {}

Json Json::object() {
  Json j;
  j.j_ = nlohmann::ordered_json::object();
  return j;
}

Json Json::array() {
  Json j;
  j.j_ = nlohmann::ordered_json::array();
  return j;
}

Json& Json::set(const std::string& key, Json value) {
  j_[key] = std::move(value.j_);
  return *this;
}

Json& Json::push(Json value) {
  j_.push_back(std::move(value.j_));
  return *this;
}

std::string Json::dump(int indent) const {
  return j_.dump(indent > 0 ? indent : -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Json Json::at(const std::string& pointer) const {
  Json r;
  try {
    nlohmann::ordered_json::json_pointer ptr(pointer);
    if (j_.contains(ptr)) r.j_ = j_.at(ptr);
  } catch (const nlohmann::ordered_json::exception&) {
    // a malformed pointer or a path through a scalar: nothing there
  }
  return r;
}

std::string Json::text() const {
  if (j_.is_string()) return j_.get<std::string>();
  if (j_.is_boolean()) return j_.get<bool>() ? "yes" : "no";
  if (j_.is_number_unsigned()) return std::to_string(j_.get<uint64_t>());
  if (j_.is_number_integer()) return std::to_string(j_.get<int64_t>());
  if (j_.is_number()) return j_.dump();
  return "";
}

double Json::number() const { return j_.is_number() ? j_.get<double>() : 0; }

std::vector<Json> Json::items() const {
  std::vector<Json> out;
  if (!j_.is_array()) return out;
  for (const auto& e : j_) {
    Json v;
    v.j_ = e;
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace migo
