// policy_client.h — a blocking Postfix-policy-protocol client for tests and
// benchmarks: one persistent connection, request in, "action=..." out.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace migo::test {

class PolicyClient {
 public:
  // addr: "inet:HOST:PORT" or "unix:PATH". Retries for up to `wait_ms` while
  // the daemon starts.
  explicit PolicyClient(const std::string& addr, int wait_ms = 5000);
  ~PolicyClient();
  PolicyClient(const PolicyClient&) = delete;
  PolicyClient& operator=(const PolicyClient&) = delete;
  bool connected() const { return fd_ >= 0; }

  // Sends raw bytes; false if the connection is gone.
  bool send_raw(const std::string& bytes);
  // Reads one reply ("action=X\n\n"); returns X, or "" on EOF/timeout.
  std::string read_action(int timeout_ms = 10000);
  // A request with Postfix 3.7's attribute set (values in `attrs` override).
  std::string ask(const std::map<std::string, std::string>& attrs);
  // True once the server has closed the connection (EOF within timeout).
  bool closed_by_server(int timeout_ms = 5000);

  static std::string request_text(const std::map<std::string, std::string>& attrs);

 private:
  int fd_ = -1;
  std::string buf_;
};

}  // namespace migo::test
