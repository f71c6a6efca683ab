// check.h — `migoctl check`: the relay's health as a monitoring system asks
// for it (Nagios' plugin convention: exit 0 OK, 1 WARNING, 2 CRITICAL, 3
// UNKNOWN; one line of text, performance data after "|"). Each probe is
// real: the store is opened and read, the policy daemon and the milter are
// asked over their own sockets and protocols, the tag key is read, and
// migo-statd's position is judged as `migoctl stats --check` judges it.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "migo/store.h"

namespace migo {

// Whether migo-statd keeps up with its logs: what `stats` shows and
// `stats --check` exits by, and the statd part of `check`.
struct FollowHealth {
  int level = 0;
  std::vector<std::string> problems;
  void add(int l, std::string what) {
    level = std::max(level, l);
    problems.push_back(std::move(what));
  }
};
// How many bytes of the log at `path` lie past `p`, uncounted: all of it
// when the file is another (rotated: a new inode); 0 when it cannot be
// looked at (mid-rotation, or moved away). Needs only the right to stat.
uint64_t bytes_behind(const std::string& path, const FollowPosition& p);

FollowHealth follow_health(const std::vector<std::pair<std::string, FollowPosition>>& logs,
                           const std::vector<std::pair<std::string, uint64_t>>& counters, int64_t now,
                           int64_t max_lag);

struct HealthItem {
  std::string name;  // "store", "policyd", "milter", "statd", "tag-key"
  int level = 0;     // 0 ok, 1 warning, 2 critical
  std::string text;  // what was found, one short phrase
  std::string perf;  // Nagios performance data ("store_used=12MB;..."), may be empty
};

struct HealthOptions {
  std::string policy = "unix:/var/spool/postfix/migo-policyd/policy";  // "" skips the probe
  std::string milter = "unix:/var/spool/postfix/migo/milter";          // "" skips the probe
  std::string tag_key = "/etc/migo/tag.key";                           // "" skips the check
  int timeout_ms = 3000;
  int64_t max_lag_seconds = 300;
  unsigned store_warn_percent = 80, store_crit_percent = 90;  // of the map's limit, and of reader slots
};

// The store's part (needs an open store): size against its limit, reader
// slots, and migo-statd's position. `now` is Unix time.
std::vector<HealthItem> store_health(const Store& store, const HealthOptions& options, int64_t now);

// Asks a Postfix policy server at SPEC (unix:PATH or inet:HOST:PORT) one
// unauthenticated RCPT request; OK when an action= line comes back.
HealthItem probe_policy(const std::string& spec, int timeout_ms);
// Negotiates with a milter at SPEC (unix:PATH, inet:PORT@HOST as libmilter
// writes it, or inet:HOST:PORT) and says goodbye; OK when it negotiates.
HealthItem probe_milter(const std::string& spec, int timeout_ms);

// The one line: "MIGO OK - store ...; policyd ... | perfdata".
std::string health_line(const std::vector<HealthItem>& items);
int health_level(const std::vector<HealthItem>& items);

}  // namespace migo
