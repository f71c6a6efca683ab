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
// Every failure to reach Redis, or an answer that is not the script's, is
// Code::unavailable: the caller fails closed (a temporary reply).
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

namespace migo {

// redis://[USER:PASSWORD@]HOST:PORT, or unix:PATH (a local socket).
struct RedisEndpoint {
  std::string host;  // or the socket's path
  int port = 0;      // 0: host is a unix socket path
  std::string user, password;
};
Result<RedisEndpoint> parse_redis_url(std::string_view url);

struct WindowCheck {
  bool fits = false;
  bool duplicate = false;   // this queue id was counted already: nothing done
  const char* window = "";  // when it does not fit: "hourly", "daily" or "monthly"
  uint64_t used = 0;        // that window's count before this message
  uint64_t limit = 0;
};

class RedisCounters {
 public:
  // Connects (and authenticates); every command then waits at most
  // timeout_ms.
  // A connection lost later is made again by the next call (which fails
  // if that does not work either).
  static Result<RedisCounters> connect(const RedisEndpoint& e, int timeout_ms);
  RedisCounters(RedisCounters&&) noexcept;
  RedisCounters& operator=(RedisCounters&&) noexcept;
  ~RedisCounters();

  // Counts n recipients of message `queue_id` of workspace `ws` at `now`
  // (Unix seconds) if every window of `plan` has room for them.
  Result<WindowCheck> commit(uint64_t ws, std::string_view queue_id, uint64_t n, int64_t now, const Plan& plan);
  // Takes back what commit counted for `queue_id`; 0 if nothing (any more).
  Result<uint64_t> refund(uint64_t ws, std::string_view queue_id);

 public:
  struct Script;  // (redis_counters.cc)

 private:
  struct Deleter {
    void operator()(redisContext* c) const noexcept;
  };
  RedisCounters(RedisEndpoint e, int timeout_ms) : endpoint_(std::move(e)), timeout_ms_(timeout_ms) {}
  Status ensure_connected();
  // Runs a script (EVALSHA; EVAL once if Redis does not know it yet) and
  // returns its string answer.
  Result<std::string> run_script(const Script& script, const std::vector<std::string>& words);
  RedisEndpoint endpoint_;
  int timeout_ms_ = 0;
  std::unique_ptr<redisContext, Deleter> ctx_;
};

}  // namespace migo
