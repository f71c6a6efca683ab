// policy_client.cc — see policy_client.h.
#include "policy_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace migo::test {

PolicyClient::PolicyClient(const std::string& addr, int wait_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  do {
    if (addr.rfind("unix:", 0) == 0) {
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::strncpy(sa.sun_path, addr.c_str() + 5, sizeof sa.sun_path - 1);
      fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return;
    } else {
      std::string hp = addr.substr(5);
      size_t colon = hp.rfind(':');
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<uint16_t>(std::stoi(hp.substr(colon + 1))));
      inet_pton(AF_INET, hp.substr(0, colon).c_str(), &sa.sin_addr);
      fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return;
    }
    close(fd_);
    fd_ = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
}

PolicyClient::~PolicyClient() {
  if (fd_ >= 0) close(fd_);
}

bool PolicyClient::send_raw(const std::string& bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

std::string PolicyClient::read_action(int timeout_ms) {
  for (;;) {
    size_t end = buf_.find("\n\n");
    if (end != std::string::npos) {
      std::string reply = buf_.substr(0, end);
      buf_.erase(0, end + 2);
      return reply.rfind("action=", 0) == 0 ? reply.substr(7) : "<bad reply: " + reply + ">";
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return "";
    char tmp[4096];
    ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return "";
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

bool PolicyClient::closed_by_server(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char tmp[256];
  return recv(fd_, tmp, sizeof tmp, 0) <= 0;
}

std::string PolicyClient::request_text(const std::map<std::string, std::string>& attrs) {
  std::map<std::string, std::string> a = {
      {"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"}, {"protocol_name", "ESMTP"},
      {"helo_name", "client.test"}, {"queue_id", ""}, {"sender", "app@example.com"},
      {"recipient", "user@dest.test"}, {"recipient_count", "0"}, {"client_address", "127.0.0.1"},
      {"client_name", "unknown"}, {"reverse_client_name", "unknown"}, {"instance", "1a2b.3c4d.5e6f.0"},
      {"sasl_method", "PLAIN"}, {"sasl_username", ""}, {"sasl_sender", ""}, {"size", "0"},
      {"encryption_protocol", "TLSv1.3"}, {"encryption_cipher", "TLS_AES_256_GCM_SHA384"},
      {"encryption_keysize", "256"}, {"server_address", "127.0.0.1"}, {"server_port", "587"},
      {"compatibility_level", "3.6"}, {"mail_version", "3.7.11"}};
  for (const auto& [k, v] : attrs) a[k] = v;
  std::string out;
  for (const auto& [k, v] : a) out += k + "=" + v + "\n";
  return out + "\n";
}

std::string PolicyClient::ask(const std::map<std::string, std::string>& attrs) {
  if (!send_raw(request_text(attrs))) return "";
  return read_action();
}

}  // namespace migo::test
