// daemon.cc — see daemon.h.
#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace migo {

std::string store_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("MIGO_DB");
  return env && *env ? env : "/var/lib/migo";
}

Status drop_privileges(const std::string& user) {
  struct passwd* pw = getpwnam(user.c_str());
  if (!pw) return {Code::invalid, "no user named '" + user + "'"};
  if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
    return {Code::unavailable, "cannot become user " + user + ": " + strerror(errno)};
  if (setuid(0) == 0) return {Code::unavailable, "privileges could be regained after dropping them"};
  return {};
}

size_t raise_descriptor_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(rl.rlim_cur);
}

std::string host_name() {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  return host;
}

Status claim_unix_socket(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return {};  // nothing there
  if (!S_ISSOCK(st.st_mode)) return {Code::exists, path + " exists and is not a socket"};
  sockaddr_un sa{};
  if (path.size() >= sizeof sa.sun_path) return {Code::invalid, "socket path too long: " + path};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {Code::unavailable, std::string("socket: ") + strerror(errno)};
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int err = errno;
  close(fd);
  if (rc == 0 || err == EAGAIN)  // EAGAIN: alive, its backlog full
    return {Code::exists, "another process is listening on " + path + " (is a second daemon running?)"};
  if (err != ECONNREFUSED && err != ENOENT)
    return {Code::unavailable, "cannot tell whether " + path + " is in use: " + strerror(err)};
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return {Code::unavailable, "cannot remove stale socket " + path + ": " + strerror(errno)};
  return {};
}

DaemonLog::DaemonLog(const char* ident, bool foreground) : ident_(ident), foreground_(foreground) {
  openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void DaemonLog::operator()(int priority, const std::string& line) const {
  const char* level = priority <= LOG_ERR ? "error: " : priority == LOG_WARNING ? "warning: " : "";
  syslog(priority, "%s%s", level, line.c_str());
  if (foreground_) {
    std::fprintf(stderr, "%s[%d]: %s%s\n", ident_, static_cast<int>(getpid()), level, line.c_str());
    std::fflush(stderr);
  }
}

}  // namespace migo
