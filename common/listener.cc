// listener.cc — see listener.h.
#include "listener.h"

#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "daemon.h"

namespace migo {
namespace {
Status sys_error(const std::string& what) { return {Code::unavailable, what + ": " + strerror(errno)}; }
}  // namespace

Result<Listener> bind_listener(const std::string& spec, const std::string& group) {
  Listener l;
  l.name = spec;
  if (spec.rfind("unix:", 0) == 0) {
    std::string path = spec.substr(5);
    sockaddr_un sa{};
    if (path.empty() || path.size() >= sizeof sa.sun_path)
      return Status(Code::invalid, "bad unix socket path in '" + spec + "'");
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    // A stale socket from an earlier run is removed; a live one is not ours.
    MIGO_TRY(claim_unix_socket(path));
    l.fd = Fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (l.fd.get() < 0) return sys_error("socket");
    // The socket accepts commits: only its owner and group may connect.
    mode_t old = umask(0117);
    int rc = bind(l.fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    umask(old);
    if (rc != 0) return sys_error("bind " + path);
    if (!group.empty()) {
      struct group* gr = getgrnam(group.c_str());
      if (!gr) return Status(Code::invalid, "no group named '" + group + "'");
      if (chown(path.c_str(), static_cast<uid_t>(-1), gr->gr_gid) != 0) return sys_error("chown " + path);
    }
    l.unix_path = path;
  } else if (spec.rfind("inet:", 0) == 0) {
    std::string hp = spec.substr(5);
    size_t colon = hp.rfind(':');
    if (colon == std::string::npos) return Status(Code::invalid, "expected inet:HOST:PORT, not '" + spec + "'");
    std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
      return Status(Code::invalid, "bad address in '" + spec + "': " + gai_strerror(rc));
    l.fd = Fd(socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int one = 1;
    setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = l.fd.get() < 0 ? -1 : bind(l.fd.get(), res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0) return sys_error("bind " + hp);
  } else {
    return Status(Code::invalid, "listen address must be unix:PATH or inet:HOST:PORT, not '" + spec + "'");
  }
  if (listen(l.fd.get(), 1024) != 0) return sys_error("listen " + spec);
  return l;
}

}  // namespace migo
