// redis_counters.h — a workspace's limit windows on Redis, for several
// relays that share one workspace (issue 16). The check and the count of
// every window happen in one server-side Lua script: all windows fit, and
// all are incremented, or none is. Redis runs one script at a time, so no
// limit is exceeded however many relays and daemons ask at once.
//
// The keys of one workspace share a hash tag ("{w<id>}"), so the script
// touches one Redis Cluster slot:
//   migo:{w<id>}:win        hash: "m<minute>" -> recipients in that UTC
//                           minute (the last 24 hours), "M<yyyymm>" ->
//                           recipients in that UTC month; expires after 40
//                           days without use
//   migo:{w<id>}:q:<queue>  what one message counted ("n minute yyyymm"),
//                           for an exact, idempotent refund; expires after
//                           8 days (longer than Postfix keeps a message)
// Windows are the store's (migo/accounting.h): rolling 60 minutes and 24
// hours by the minute, the calendar month in UTC. Minutes older than a day
// and months before the last are pruned by the script itself.
//
// One Redis, or a Redis Cluster: connect() asks its first reachable seed
// for CLUSTER SLOTS; a standalone server says it has no cluster support and
// is then the only node. In a cluster each command goes to the master of
// its workspace's slot (CRC16 of the hash tag, as the Cluster specification
// says); MOVED re-reads the slot map and ASK (a slot being migrated) is
// followed once. Debian 12's hiredis 0.14 has no cluster client, hence
// this small one.
//
// Every failure to reach Redis, or an answer that is not the script's, is
// Code::unavailable: the caller fails closed (a temporary reply). After a
// failed connect, calls fail at once for `retry_ms` instead of each waiting
// for its own timeout, so a dead Redis costs a caller microseconds, not
// timeout_ms per request. Not thread-safe: one RedisCounters per thread.
// A connection Redis has closed raises SIGPIPE at the next write: a process
// using this blocks or ignores SIGPIPE (migo-policyd blocks it in every
// thread), and then sees the error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "migo/records.h"
#include "migo/status.h"

struct redisContext;
struct redisReply;

namespace migo {

// redis://[USER:PASSWORD@]HOST:PORT, or unix:PATH (a local socket).
struct RedisEndpoint {
  std::string host;  // or the socket's path
  int port = 0;      // 0: host is a unix socket path
  std::string user, password;
};
Result<RedisEndpoint> parse_redis_url(std::string_view url);

struct RedisOptions {
  int timeout_ms = 1000;  // connect, and every command
  int retry_ms = 1000;    // after a failed connect, fail at once this long
};

struct WindowCheck {
  bool fits = false;
  bool duplicate = false;   // this queue id was counted already: nothing done
  const char* window = "";  // when it does not fit: "hourly", "daily" or "monthly"
  uint64_t used = 0;        // that window's count before this message
  uint64_t limit = 0;
};

// A workspace's windows as they stand: what check_limits (policy-daemon)
// reads from the store, read from Redis instead.
struct WindowUsage {
  std::vector<std::pair<uint64_t, uint64_t>> minutes;  // (unix minute, recipients), oldest first, last 24 h
  uint64_t month = 0;                                  // this UTC month
};

// The Redis Cluster slot of a hash tag (CRC16/XMODEM modulo 16384).
unsigned redis_cluster_slot(std::string_view tag);

class RedisCounters {
 public:
  // Connects to the first seed that answers (and authenticates with its
  // credentials, which every node then gets), and learns the cluster's slot
  // map if it is one. A connection lost later is made again by the next
  // call (which fails if that does not work either).
  static Result<RedisCounters> connect(const std::vector<RedisEndpoint>& seeds, const RedisOptions& options);
  static Result<RedisCounters> connect(const RedisEndpoint& e, int timeout_ms);
  // The same without connecting: the first call does (a daemon that starts
  // while Redis is down answers "try again" until it is up).
  static Result<RedisCounters> lazy(const std::vector<RedisEndpoint>& seeds, const RedisOptions& options);
  RedisCounters(RedisCounters&&) noexcept;
  RedisCounters& operator=(RedisCounters&&) noexcept;
  ~RedisCounters();

  // Counts n recipients of message `queue_id` of workspace `ws` at `now`
  // (Unix seconds) if every window of `plan` has room for them.
  Result<WindowCheck> commit(uint64_t ws, std::string_view queue_id, uint64_t n, int64_t now, const Plan& plan);
  // Takes back what commit counted for `queue_id`; 0 if nothing (any more).
  Result<uint64_t> refund(uint64_t ws, std::string_view queue_id);
  // The workspace's windows at `now`, read only.
  Result<WindowUsage> usage(uint64_t ws, int64_t now);
  // Whether the seeds are a cluster (several masters), for the log.
  bool cluster() const;

  struct Script;  // (redis_counters.cc)
  struct Nodes;

 private:
  explicit RedisCounters(std::unique_ptr<Nodes> nodes);
  // Runs a script (EVALSHA; EVAL once if Redis does not know it yet) on the
  // workspace's node and returns its string answer.
  Result<std::string> run_script(uint64_t ws, const Script& script, const std::vector<std::string>& words);
  std::unique_ptr<Nodes> nodes_;
};

}  // namespace migo
