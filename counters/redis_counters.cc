// redis_counters.cc — see redis_counters.h.
#include "redis_counters.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <time.h>

#include <charconv>
#include <cstdio>
#include <map>
#include <optional>

namespace migo {
namespace {

// KEYS[1] the workspace's window hash, KEYS[2] the message's queue key.
// ARGV: minute, n, hourly, daily, monthly limits, this month (yyyymm), the
// month before. Answers "dup", "ok", or "over WINDOW USED LIMIT".
constexpr const char* kCommit = R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return 'dup' end
local minute, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local this_month, last_month = 'M' .. ARGV[6], 'M' .. ARGV[7]
local hour, day, month = 0, 0, 0
local f = redis.call('HGETALL', KEYS[1])
for i = 1, #f, 2 do
  local k, v = f[i], tonumber(f[i + 1])
  if string.sub(k, 1, 1) == 'm' then
    local m = tonumber(string.sub(k, 2))
    if m == nil or m + 1440 <= minute then
      redis.call('HDEL', KEYS[1], k)
    else
      day = day + v
      if m + 60 > minute then hour = hour + v end
    end
  elseif k == this_month then
    month = v
  elseif k ~= last_month then
    redis.call('HDEL', KEYS[1], k)
  end
end
local function over(window, used, limit)
  return 'over ' .. window .. ' ' .. string.format('%d', used) .. ' ' .. limit
end
if hour + n > tonumber(ARGV[3]) then return over('hourly', hour, ARGV[3]) end
if day + n > tonumber(ARGV[4]) then return over('daily', day, ARGV[4]) end
if month + n > tonumber(ARGV[5]) then return over('monthly', month, ARGV[5]) end
redis.call('HINCRBY', KEYS[1], 'm' .. ARGV[1], n)
redis.call('HINCRBY', KEYS[1], this_month, n)
redis.call('EXPIRE', KEYS[1], 3456000)
redis.call('SET', KEYS[2], ARGV[2] .. ' ' .. ARGV[1] .. ' ' .. ARGV[6], 'EX', 691200)
return 'ok'
)lua";

// KEYS as for kCommit. Answers the recipients taken back ("0": none).
constexpr const char* kRefund = R"lua(
local q = redis.call('GET', KEYS[2])
if not q then return '0' end
redis.call('DEL', KEYS[2])
local n, minute, month = string.match(q, '^(%d+) (%d+) (%d+)$')
if not n then return '0' end
for _, field in ipairs({'m' .. minute, 'M' .. month}) do
  if redis.call('HEXISTS', KEYS[1], field) == 1 then
    if redis.call('HINCRBY', KEYS[1], field, -tonumber(n)) <= 0 then redis.call('HDEL', KEYS[1], field) end
  end
end
return n
)lua";

std::string sha1_hex(const std::string& s) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  char hex[2 * SHA_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA_DIGEST_LENGTH; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return hex;
}

}  // namespace

// A script's text and its SHA-1 (EVALSHA's name for it), made once.
struct RedisCounters::Script {
  std::string body, sha;
  explicit Script(const char* text) : body(text), sha(sha1_hex(body)) {}
};

namespace {

const RedisCounters::Script& commit_script() {
  static const RedisCounters::Script s(kCommit);
  return s;
}
const RedisCounters::Script& refund_script() {
  static const RedisCounters::Script s(kRefund);
  return s;
}

std::string ws_tag(uint64_t ws) { return "w" + std::to_string(ws); }
std::string ws_prefix(uint64_t ws) { return "migo:{" + ws_tag(ws) + "}"; }

// yyyymm of a Unix time's UTC month (the store's month_of), and of the
// month before.
std::pair<std::string, std::string> months_of(int64_t now) {
  const uint32_t m = month_of(now);
  const uint32_t before = m % 100 == 1 ? (m / 100 - 1) * 100 + 12 : m - 1;
  return {std::to_string(m), std::to_string(before)};
}

Status unavailable(std::string what) { return Status(Code::unavailable, "redis: " + std::move(what)); }

struct ReplyFree {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

struct ContextFree {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

bool parse_u64(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

int64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string where(const RedisEndpoint& e) {
  return e.port == 0 ? e.host : e.host + ":" + std::to_string(e.port);
}

std::string reply_text(const redisReply* r) { return r->str ? std::string(r->str, r->len) : std::string(); }

Reply command_argv(redisContext* c, const std::vector<std::string_view>& words) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (std::string_view w : words) {
    argv.push_back(w.data());
    lens.push_back(w.size());
  }
  return Reply(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

}  // namespace

unsigned redis_cluster_slot(std::string_view tag) {
  // CRC16/XMODEM (polynomial 0x1021, initial 0), the Cluster specification's.
  uint16_t crc = 0;
  for (unsigned char ch : tag) {
    crc ^= static_cast<uint16_t>(ch << 8);
    for (int i = 0; i < 8; i++) crc = static_cast<uint16_t>(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc % 16384;
}

Result<RedisEndpoint> parse_redis_url(std::string_view url) {
  RedisEndpoint e;
  auto bad = [&](const char* why) {
    // The URL may hold a password: it is not repeated in the message.
    return Status(Code::invalid, std::string("redis URL: ") + why + " (redis://[USER:PASSWORD@]HOST:PORT or unix:PATH)");
  };
  if (url.rfind("unix:", 0) == 0) {
    e.host = std::string(url.substr(5));
    if (e.host.empty() || e.host[0] != '/') return bad("a unix socket needs an absolute path");
    return e;
  }
  if (url.rfind("redis://", 0) != 0) return bad("not a redis:// URL");
  std::string_view rest = url.substr(8);
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = cred.find(':');
    if (colon == std::string_view::npos) return bad("credentials need USER:PASSWORD (USER may be empty)");
    e.user = std::string(cred.substr(0, colon));
    e.password = std::string(cred.substr(colon + 1));
    if (e.password.empty()) return bad("an empty password");
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad("HOST:PORT expected");
  e.host = std::string(rest.substr(0, colon));
  uint64_t port = 0;
  if (!parse_u64(rest.substr(colon + 1), &port) || port == 0 || port > 65535) return bad("a port from 1 to 65535");
  e.port = static_cast<int>(port);
  if (e.host.find_first_of("/?#") != std::string::npos) return bad("no path or query after HOST:PORT");
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
  return e;
}

// The nodes: connections by address, the slot map of a cluster, and the
// back-off after a failure.
struct RedisCounters::Nodes {
  std::vector<RedisEndpoint> seeds;
  RedisOptions options;
  bool cluster = false;
  RedisEndpoint single;  // the one node when not a cluster
  struct Range {
    unsigned lo = 0, hi = 0;
    RedisEndpoint node;
  };
  std::vector<Range> ranges;  // a cluster's masters by slot
  bool map_stale = true;
  std::map<std::string, Context> conns;  // by where()
  int64_t failed_until = 0;              // monotonic ms: fail at once until then
  std::string last_error;

  // The seeds' credentials, for a node learnt from the slot map.
  RedisEndpoint node(std::string host, int port) const {
    RedisEndpoint e = seeds.front();
    e.host = std::move(host);
    e.port = port;
    return e;
  }

  Status fail(std::string what) {
    last_error = what;
    failed_until = monotonic_ms() + options.retry_ms;
    return unavailable(std::move(what));
  }

  void drop(const RedisEndpoint& e) {
    conns.erase(where(e));
    if (cluster) map_stale = true;
  }

  Result<redisContext*> connection(const RedisEndpoint& e) {
    const std::string w = where(e);
    if (auto it = conns.find(w); it != conns.end()) {
      if (it->second->err == 0) return it->second.get();
      conns.erase(it);
    }
    timeval tv{options.timeout_ms / 1000, (options.timeout_ms % 1000) * 1000};
    Context c(e.port == 0 ? redisConnectUnixWithTimeout(e.host.c_str(), tv)
                          : redisConnectWithTimeout(e.host.c_str(), e.port, tv));
    if (!c) return fail("cannot allocate a connection to " + w);
    if (c->err) return fail("cannot connect to " + w + ": " + c->errstr);
    if (redisSetTimeout(c.get(), tv) != REDIS_OK) return fail("cannot set the timeout for " + w);
    if (!e.password.empty()) {
      Reply r = e.user.empty() ? command_argv(c.get(), {"AUTH", e.password})
                               : command_argv(c.get(), {"AUTH", e.user, e.password});
      if (!r) return fail("no answer to AUTH from " + w + ": " + c->errstr);
      // The error names no password (Redis never repeats it).
      if (r->type == REDIS_REPLY_ERROR) return fail("AUTH refused by " + w + ": " + reply_text(r.get()));
    }
    redisContext* raw = c.get();
    conns[w] = std::move(c);
    return raw;
  }

  // Asks the seeds (then the nodes known) for the slot map. A standalone
  // server is the one node.
  Status discover() {
    std::vector<RedisEndpoint> ask = seeds;
    for (const Range& r : ranges) ask.push_back(r.node);
    std::string errors;
    for (const RedisEndpoint& e : ask) {
      auto c = connection(e);
      if (!c.ok()) {
        errors += (errors.empty() ? "" : "; ") + c.status().message();
        continue;
      }
      Reply r = command_argv(*c, {"CLUSTER", "SLOTS"});
      if (!r) {
        errors += (errors.empty() ? "" : "; ") + where(e) + ": " + (*c)->errstr;
        drop(e);
        continue;
      }
      if (r->type == REDIS_REPLY_ERROR) {
        if (reply_text(r.get()).find("cluster support disabled") == std::string::npos) {
          errors += (errors.empty() ? "" : "; ") + where(e) + ": " + reply_text(r.get());
          continue;
        }
        cluster = false;
        single = e;
        map_stale = false;
        failed_until = 0;
        return {};
      }
      std::vector<Range> map;
      bool bad = r->type != REDIS_REPLY_ARRAY;
      for (size_t i = 0; !bad && i < r->elements; i++) {
        const redisReply* slot = r->element[i];
        if (slot->type != REDIS_REPLY_ARRAY || slot->elements < 3 || slot->element[0]->type != REDIS_REPLY_INTEGER ||
            slot->element[1]->type != REDIS_REPLY_INTEGER || slot->element[2]->type != REDIS_REPLY_ARRAY ||
            slot->element[2]->elements < 2 || slot->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
          bad = true;
          break;
        }
        std::string host = slot->element[2]->element[0]->type == REDIS_REPLY_STRING
                               ? reply_text(slot->element[2]->element[0])
                               : std::string();
        // "" (or "?"): the node's address is the one we asked.
        if (host.empty() || host == "?") host = e.host;
        Range range;
        range.lo = static_cast<unsigned>(slot->element[0]->integer);
        range.hi = static_cast<unsigned>(slot->element[1]->integer);
        range.node = node(host, static_cast<int>(slot->element[2]->element[1]->integer));
        map.push_back(std::move(range));
      }
      if (bad || map.empty()) {
        errors += (errors.empty() ? "" : "; ") + where(e) + ": an unusable CLUSTER SLOTS answer";
        continue;
      }
      cluster = true;
      ranges = std::move(map);
      map_stale = false;
      failed_until = 0;
      return {};
    }
    return fail(errors.empty() ? "no seed answered" : errors);
  }

  Result<RedisEndpoint> node_for(unsigned slot) const {
    if (!cluster) return single;
    for (const Range& r : ranges)
      if (slot >= r.lo && slot <= r.hi) return r.node;
    return unavailable("no master serves slot " + std::to_string(slot));
  }

  // Sends a command about the hash tag `tag` to the node that holds it,
  // following MOVED (the map is read again) and ASK.
  Result<Reply> send(std::string_view tag, const std::vector<std::string_view>& words) {
    if (failed_until && monotonic_ms() < failed_until)
      return unavailable(last_error + " (not retried for " + std::to_string(options.retry_ms) + " ms)");
    std::optional<RedisEndpoint> asked;  // an ASK redirection to follow once
    for (int hop = 0; hop < 4; hop++) {
      if (map_stale && !asked) MIGO_TRY(discover());
      auto target = asked ? Result<RedisEndpoint>(*asked) : node_for(redis_cluster_slot(tag));
      if (!target.ok()) return target.status();
      auto c = connection(*target);
      if (!c.ok()) {
        if (cluster) map_stale = true;
        return c.status();
      }
      if (asked) {
        Reply a = command_argv(*c, {"ASKING"});
        if (!a) {
          drop(*target);
          return fail(where(*target) + ": " + (*c)->errstr);
        }
      }
      Reply r = command_argv(*c, words);
      if (!r) {
        std::string err = where(*target) + ": " + (*c)->errstr;
        drop(*target);
        return fail(err);
      }
      asked.reset();
      if (r->type == REDIS_REPLY_ERROR) {
        const std::string err = reply_text(r.get());
        // "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381"
        bool moved = err.rfind("MOVED ", 0) == 0, ask = err.rfind("ASK ", 0) == 0;
        if (moved || ask) {
          size_t sp = err.rfind(' '), colon = err.rfind(':');
          int port = 0;
          if (sp == std::string::npos || colon == std::string::npos || colon < sp) return unavailable("redirected to '" + err + "'");
          std::from_chars(err.data() + colon + 1, err.data() + err.size(), port);
          std::string host = err.substr(sp + 1, colon - sp - 1);
          if (host.empty()) host = target->host;
          if (moved) {
            cluster = true;
            map_stale = true;
          } else {
            asked = node(host, port);
          }
          continue;
        }
      }
      return r;
    }
    return unavailable("too many redirections");
  }
};

RedisCounters::RedisCounters(std::unique_ptr<Nodes> nodes) : nodes_(std::move(nodes)) {}
RedisCounters::RedisCounters(RedisCounters&&) noexcept = default;
RedisCounters& RedisCounters::operator=(RedisCounters&&) noexcept = default;
RedisCounters::~RedisCounters() = default;

Result<RedisCounters> RedisCounters::lazy(const std::vector<RedisEndpoint>& seeds, const RedisOptions& options) {
  if (seeds.empty()) return Status(Code::invalid, "redis: no endpoint");
  auto nodes = std::make_unique<Nodes>();
  nodes->seeds = seeds;
  nodes->options = options;
  return RedisCounters(std::move(nodes));
}

Result<RedisCounters> RedisCounters::connect(const std::vector<RedisEndpoint>& seeds, const RedisOptions& options) {
  auto r = lazy(seeds, options);
  if (!r.ok()) return r;
  if (Status s = r->nodes_->discover(); !s.ok()) return s;
  return r;
}

Result<RedisCounters> RedisCounters::connect(const RedisEndpoint& e, int timeout_ms) {
  return connect(std::vector<RedisEndpoint>{e}, RedisOptions{timeout_ms, timeout_ms});
}

bool RedisCounters::cluster() const { return nodes_->cluster; }

Result<std::string> RedisCounters::run_script(uint64_t ws, const Script& script, const std::vector<std::string>& words) {
  const std::string tag = ws_tag(ws);
  for (int attempt = 0; attempt < 2; attempt++) {
    std::vector<std::string_view> argv{attempt == 0 ? "EVALSHA" : "EVAL", attempt == 0 ? script.sha : script.body};
    for (const std::string& w : words) argv.push_back(w);
    auto r = nodes_->send(tag, argv);
    if (!r.ok()) return r.status();
    const redisReply* reply = r->get();
    if (reply->type == REDIS_REPLY_ERROR) {
      std::string err = reply_text(reply);
      if (attempt == 0 && err.rfind("NOSCRIPT", 0) == 0) continue;  // not cached on that node yet
      return unavailable("the script failed: " + err);
    }
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)
      return unavailable("the script answered something else than a string");
    return reply_text(reply);
  }
  return unavailable("the script could not be loaded");
}

Result<WindowCheck> RedisCounters::commit(uint64_t ws, std::string_view queue_id, uint64_t n, int64_t now,
                                          const Plan& plan) {
  const std::string prefix = ws_prefix(ws);
  auto [month, last_month] = months_of(now);
  auto r = run_script(ws, commit_script(),
                      {"2", prefix + ":win", prefix + ":q:" + std::string(queue_id), std::to_string(now / 60),
                       std::to_string(n), std::to_string(plan.hourly), std::to_string(plan.daily),
                       std::to_string(plan.monthly), month, last_month});
  if (!r.ok()) return r.status();
  WindowCheck c;
  if (*r == "ok") {
    c.fits = true;
    return c;
  }
  if (*r == "dup") {
    c.fits = c.duplicate = true;
    return c;
  }
  // "over WINDOW USED LIMIT"
  char window[16] = "";
  unsigned long long used = 0, limit = 0;
  if (std::sscanf(r->c_str(), "over %15s %llu %llu", window, &used, &limit) != 3)
    return unavailable("the script answered '" + r->substr(0, 40) + "'");
  const std::string w = window;
  c.window = w == "hourly" ? "hourly" : w == "daily" ? "daily" : w == "monthly" ? "monthly" : "";
  if (!*c.window) return unavailable("the script named no window");
  c.used = used;
  c.limit = limit;
  return c;
}

Result<uint64_t> RedisCounters::refund(uint64_t ws, std::string_view queue_id) {
  const std::string prefix = ws_prefix(ws);
  auto r = run_script(ws, refund_script(), {"2", prefix + ":win", prefix + ":q:" + std::string(queue_id)});
  if (!r.ok()) return r.status();
  uint64_t n = 0;
  if (!parse_u64(*r, &n)) return unavailable("the refund script answered '" + r->substr(0, 40) + "'");
  return n;
}

Result<WindowUsage> RedisCounters::usage(uint64_t ws, int64_t now) {
  const std::string key = ws_prefix(ws) + ":win";
  auto r = nodes_->send(ws_tag(ws), {"HGETALL", key});
  if (!r.ok()) return r.status();
  const redisReply* reply = r->get();
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2)
    return unavailable("HGETALL answered something else than a hash");
  // The store's rules (ReadTxn::usage_minutes): the last 1,440 minutes,
  // and a bucket up to a day ahead (the clock stepped back) counts as now.
  const uint64_t now_minute = static_cast<uint64_t>(now) / 60;
  const std::string this_month = "M" + std::to_string(month_of(now));
  WindowUsage u;
  std::map<uint64_t, uint64_t> minutes;
  for (size_t i = 0; i < reply->elements; i += 2) {
    const std::string field = reply_text(reply->element[i]);
    uint64_t v = 0;
    if (!parse_u64(reply_text(reply->element[i + 1]), &v)) return unavailable("a window field is not a number");
    if (field == this_month) {
      u.month = v;
    } else if (uint64_t m = 0; field.size() > 1 && field[0] == 'm' && parse_u64(std::string_view(field).substr(1), &m)) {
      if (m + 1440 <= now_minute || m > now_minute + 1440) continue;
      minutes[std::min(m, now_minute)] += v;
    }
  }
  u.minutes.assign(minutes.begin(), minutes.end());
  return u;
}

}  // namespace migo
