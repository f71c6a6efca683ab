// redis_client.h — a Redis client for one server or a Redis Cluster, over
// Debian 12's hiredis 0.14 (which has no cluster client): what the shared
// counters (redis_counters.h) and the shared state (shared_state.h) speak.
//
// connect() asks its first reachable seed for CLUSTER SLOTS; a standalone
// server says it has no cluster support and is then the only node. In a
// cluster each command goes to the master of its key's slot (CRC16 of the
// key's hash tag, as the Cluster specification says); MOVED re-reads the
// slot map and ASK (a slot being migrated) is followed once. Every node gets
// the credentials of the seeds.
//
// Every failure to reach Redis is Code::unavailable (callers fail closed);
// an error *reply* is a reply, for the caller to read. After a failure,
// calls fail at once for `retry_ms` instead of each waiting for its own
// timeout, so a dead Redis costs a caller microseconds, not timeout_ms per
// request. Not thread-safe: one client per thread. A connection Redis has
// closed raises SIGPIPE at the next write: a process using this blocks or
// ignores SIGPIPE, and then sees the error.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "migo/status.h"

struct redisReply;

namespace migo {

// redis://[USER:PASSWORD@]HOST:PORT, or unix:PATH (a local socket).
struct RedisEndpoint {
  std::string host;  // or the socket's path
  int port = 0;      // 0: host is a unix socket path
  std::string user, password;
};
// A malformed URL is Code::invalid, without repeating it (it may hold a
// password).
Result<RedisEndpoint> parse_redis_url(std::string_view url);
// Every line of a file that is not blank or a # comment, as URLs: how a
// daemon is given a password without showing it in `ps`.
Result<std::vector<RedisEndpoint>> read_redis_urls(const std::string& path);

struct RedisOptions {
  int timeout_ms = 1000;  // connect, and every command
  int retry_ms = 1000;    // after a failure, fail at once this long
};

// The Redis Cluster slot of a key: CRC16/XMODEM, modulo 16384, of its hash
// tag (the text between the first '{' and the next '}', if not empty) or of
// the whole key.
unsigned redis_cluster_slot(std::string_view key);

struct RedisReplyFree {
  void operator()(redisReply* r) const noexcept;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyFree>;
// A string, status or error reply's text ("" for others).
std::string reply_text(const redisReply* r);
// A number as Redis writes one (a reply's text, a hash field): false for
// anything else.
bool redis_number(std::string_view s, uint64_t* out);
// Redis failed or answered something foreign: Code::unavailable (callers
// fail closed), "redis: WHAT".
Status redis_unavailable(std::string what);

// A Lua script's text and its SHA-1 (EVALSHA's name for it), made once.
struct RedisScript {
  explicit RedisScript(const char* text);
  std::string body, sha;
};

class RedisClient {
 public:
  // Connects now (a temporary failure if no seed answers).
  static Result<RedisClient> connect(const std::vector<RedisEndpoint>& seeds, const RedisOptions& options);
  // Connects at the first command: a daemon that starts while Redis is down
  // answers "try again" until it is up.
  static Result<RedisClient> lazy(const std::vector<RedisEndpoint>& seeds, const RedisOptions& options);
  RedisClient(RedisClient&&) noexcept;
  RedisClient& operator=(RedisClient&&) noexcept;
  ~RedisClient();

  // Sends a command about `key` to the node that holds it. `timeout_ms`
  // (0: the client's) for a command that waits on purpose (XREAD BLOCK).
  Result<RedisReply> command(std::string_view key, const std::vector<std::string_view>& words, int timeout_ms = 0);
  // Runs a script (EVALSHA; EVAL once if that node does not know it yet)
  // on the node of `key`, the first of the script's keys; `words` are
  // EVAL's after the script: the key count, the keys, the arguments. An
  // error reply is Code::unavailable.
  Result<RedisReply> eval(const RedisScript& script, std::string_view key, const std::vector<std::string_view>& words);
  // The same, for a script that answers a string (or a status).
  Result<std::string> eval_text(const RedisScript& script, std::string_view key,
                                const std::vector<std::string_view>& words);
  // Whether the seeds are a cluster (several masters), for the log.
  bool cluster() const;

  struct Nodes;

 private:
  explicit RedisClient(std::unique_ptr<Nodes> nodes);
  std::unique_ptr<Nodes> nodes_;
};

}  // namespace migo
