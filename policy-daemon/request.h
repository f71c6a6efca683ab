// request.h — Postfix policy delegation requests (SMTPD_POLICY_README).
//
// A request is "name=value" lines ended by an empty line, on a connection
// that carries many requests. RequestParser is fed bytes as they arrive and
// yields whole requests; it never buffers more than kMaxRequestBytes, so a
// hostile or broken client costs a bounded amount of memory, and anything
// that is not a well-formed request is an error that ends the connection.
// Pure: no I/O, no store, so it is tested from golden files and fuzzed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace migo {

inline constexpr size_t kMaxLineBytes = 8192;
inline constexpr size_t kMaxRequestBytes = 65536;
inline constexpr size_t kMaxAttributes = 128;

struct PolicyRequest {
  std::vector<std::pair<std::string, std::string>> attributes;  // in arrival order
  // The value of `name`, or nullptr.
  const std::string* get(std::string_view name) const;
};

class RequestParser {
 public:
  enum class State { need_more, complete, error };

  // Consumes bytes from the front of `in` (advancing it) until a request is
  // complete, the input runs out, or the input is malformed. After
  // `complete`, take() the request and call feed() again with the rest.
  State feed(std::string_view& in);
  PolicyRequest take();
  const std::string& error() const { return error_; }
  // True while a request is partly read (an EOF now would cut it).
  bool mid_request() const { return !line_.empty() || !current_.attributes.empty(); }

 private:
  State fail(std::string message);
  State end_line();
  std::string line_;
  PolicyRequest current_;
  size_t request_bytes_ = 0;
  std::string error_;
  bool failed_ = false;
};

// What the policy daemon needs from a request, checked.
struct PolicyQuery {
  enum class Stage { rcpt, end_of_message, other };
  Stage stage = Stage::other;
  std::string protocol_state;
  std::string sasl_username;  // empty: not authenticated
  std::string queue_id;       // END-OF-MESSAGE
  uint32_t recipient_count = 0;
  std::string recipient;
  std::string client_address;
  std::string client_name;
  std::string instance;
};

// Reads the attributes the daemon uses; refuses a request that is not an
// smtpd_access_policy request or whose numbers are malformed.
std::optional<PolicyQuery> interpret(const PolicyRequest& r, std::string* error);

}  // namespace migo
