// daemon.h — process set-up shared by migo's programs (migoctl,
// migo-policyd, migo-milter): where the store is, dropping root, and
// logging in Postfix's style. Not linked into the SASL plugin, which lives
// inside someone else's process.
#pragma once

#include <string>

#include "migo/status.h"

namespace migo {

// The store directory: `flag` if given, else $MIGO_DB, else /var/lib/migo.
std::string store_path(const std::string& flag);

// This host's name (gethostname): the default name of this relay in the
// shared state, and of the relay in DNS records.
std::string host_name();

// Becomes `user` (its uid, gid and supplementary groups) for good; refuses
// if root could be regained afterwards.
Status drop_privileges(const std::string& user);

// Raises the soft limit on open descriptors to the hard limit (a unit's
// LimitNOFILE, or the shell's) and returns the soft limit now in force.
size_t raise_descriptor_limit();

// Before binding a unix socket at `path`: a socket there that a live
// process answers is another daemon's — refuse (Code::exists) rather than
// unlink it and leave that daemon running unreachable. A stale socket (no
// one answers) or nothing is fine; a stale one is removed.
Status claim_unix_socket(const std::string& path);

// Syslog (facility mail, the program's name, its pid), with the level as
// Postfix writes it ("warning: …", "error: …"); with foreground, the same
// line on stderr too.
class DaemonLog {
 public:
  DaemonLog(const char* ident, bool foreground);
  void operator()(int priority, const std::string& line) const;
  bool foreground() const { return foreground_; }

 private:
  const char* ident_;
  bool foreground_;
};

}  // namespace migo
