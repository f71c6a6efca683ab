// daemon.cc — see daemon.h.
#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
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
