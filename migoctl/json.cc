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

}  // namespace migo
