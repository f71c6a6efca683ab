// request.cc — see request.h.
#include "request.h"

#include <charconv>

namespace migo {

const std::string* PolicyRequest::get(std::string_view name) const {
  for (const auto& [k, v] : attributes)
    if (k == name) return &v;
  return nullptr;
}

RequestParser::State RequestParser::fail(std::string message) {
  failed_ = true;
  error_ = std::move(message);
  return State::error;
}

RequestParser::State RequestParser::end_line() {
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // hand-typed clients
  if (line.empty()) {
    line_.clear();
    if (current_.attributes.empty()) return fail("empty request");
    return State::complete;
  }
  size_t eq = line.find('=');
  if (eq == std::string_view::npos || eq == 0) return fail("line is not name=value");
  std::string_view name = line.substr(0, eq), value = line.substr(eq + 1);
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return fail("attribute name has a character outside [a-z0-9_]");
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return fail("attribute value contains a control character");
  if (current_.get(name)) return fail("attribute '" + std::string(name) + "' given twice");
  if (current_.attributes.size() == kMaxAttributes) return fail("too many attributes");
  current_.attributes.emplace_back(std::string(name), std::string(value));
  line_.clear();
  return State::need_more;
}

RequestParser::State RequestParser::feed(std::string_view& in) {
  if (failed_) return State::error;
  while (!in.empty()) {
    size_t nl = in.find('\n');
    size_t take = nl == std::string_view::npos ? in.size() : nl;
    if (line_.size() + take > kMaxLineBytes) return fail("line longer than " + std::to_string(kMaxLineBytes) + " bytes");
    request_bytes_ += take + (nl == std::string_view::npos ? 0 : 1);
    if (request_bytes_ > kMaxRequestBytes)
      return fail("request longer than " + std::to_string(kMaxRequestBytes) + " bytes");
    if (in.substr(0, take).find('\0') != std::string_view::npos) return fail("request contains a NUL byte");
    line_.append(in.substr(0, take));
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    if (nl == std::string_view::npos) return State::need_more;
    State s = end_line();
    if (s != State::need_more) return s;
  }
  return State::need_more;
}

PolicyRequest RequestParser::take() {
  PolicyRequest r = std::move(current_);
  current_ = {};
  request_bytes_ = 0;
  return r;
}

std::optional<PolicyQuery> interpret(const PolicyRequest& r, std::string* error) {
  const std::string* request = r.get("request");
  if (!request || *request != "smtpd_access_policy") {
    *error = "not an smtpd_access_policy request";
    return std::nullopt;
  }
  PolicyQuery q;
  auto text = [&](const char* name) {
    const std::string* v = r.get(name);
    return v ? *v : std::string();
  };
  q.protocol_state = text("protocol_state");
  if (q.protocol_state == "RCPT") q.stage = PolicyQuery::Stage::rcpt;
  else if (q.protocol_state == "END-OF-MESSAGE") q.stage = PolicyQuery::Stage::end_of_message;
  q.sasl_username = text("sasl_username");
  q.queue_id = text("queue_id");
  q.recipient = text("recipient");
  q.client_address = text("client_address");
  q.client_name = text("client_name");
  q.instance = text("instance");
  if (const std::string* n = r.get("recipient_count"); n && !n->empty()) {
    auto [p, ec] = std::from_chars(n->data(), n->data() + n->size(), q.recipient_count);
    if (ec != std::errc() || p != n->data() + n->size()) {
      *error = "recipient_count is not a number";
      return std::nullopt;
    }
  }
  if (q.stage == PolicyQuery::Stage::end_of_message && !q.sasl_username.empty()) {
    if (q.queue_id.empty()) {
      *error = "END-OF-MESSAGE request without queue_id";
      return std::nullopt;
    }
    if (q.recipient_count == 0) {
      *error = "END-OF-MESSAGE request with recipient_count 0";
      return std::nullopt;
    }
  }
  return q;
}

}  // namespace migo
