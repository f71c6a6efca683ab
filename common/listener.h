// listener.h — the listening sockets of migo's daemons: "unix:PATH" (a stale
// socket of an earlier run removed, a live one refused; mode 0660, group
// optional) or "inet:HOST:PORT" (numeric HOST, IPv6 in brackets). Bound
// before privileges are dropped.
#pragma once

#include <unistd.h>

#include <string>

#include "migo/status.h"

namespace migo {

// A file descriptor, closed when dropped.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};


struct Listener {
  Fd fd;
  std::string name;
  std::string unix_path;  // removed at exit
};

// A non-blocking listening socket for `spec`; `group` (may be "") owns a
// unix socket.
Result<Listener> bind_listener(const std::string& spec, const std::string& group);

}  // namespace migo
