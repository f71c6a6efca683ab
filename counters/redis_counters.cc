// redis_counters.cc — see redis_counters.h.
#include "redis_counters.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <charconv>
#include <cstdio>

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

std::string ws_tag(uint64_t ws) { return "migo:{w" + std::to_string(ws) + "}"; }

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

bool parse_u64(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

}  // namespace

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
  return e;
}

void RedisCounters::Deleter::operator()(redisContext* c) const noexcept { redisFree(c); }

RedisCounters::RedisCounters(RedisCounters&&) noexcept = default;
RedisCounters& RedisCounters::operator=(RedisCounters&&) noexcept = default;
RedisCounters::~RedisCounters() = default;

Result<RedisCounters> RedisCounters::connect(const RedisEndpoint& e, int timeout_ms) {
  RedisCounters r(e, timeout_ms);
  if (Status s = r.ensure_connected(); !s.ok()) return s;
  return r;
}

Status RedisCounters::ensure_connected() {
  if (ctx_ && ctx_->err == 0) return {};
  ctx_.reset();
  timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
  std::unique_ptr<redisContext, Deleter> c(endpoint_.port == 0
                                               ? redisConnectUnixWithTimeout(endpoint_.host.c_str(), tv)
                                               : redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv));
  const std::string where = endpoint_.port == 0 ? endpoint_.host : endpoint_.host + ":" + std::to_string(endpoint_.port);
  if (!c) return unavailable("cannot allocate a connection to " + where);
  if (c->err) return unavailable("cannot connect to " + where + ": " + c->errstr);
  if (redisSetTimeout(c.get(), tv) != REDIS_OK) return unavailable("cannot set the timeout for " + where);
  if (!endpoint_.password.empty()) {
    Reply r(static_cast<redisReply*>(
        endpoint_.user.empty() ? redisCommand(c.get(), "AUTH %s", endpoint_.password.c_str())
                               : redisCommand(c.get(), "AUTH %s %s", endpoint_.user.c_str(), endpoint_.password.c_str())));
    if (!r) return unavailable("no answer to AUTH from " + where + ": " + c->errstr);
    if (r->type == REDIS_REPLY_ERROR) return unavailable("AUTH refused by " + where + ": " + std::string(r->str, r->len));
  }
  ctx_ = std::move(c);
  return {};
}

Result<std::string> RedisCounters::run_script(const Script& script, const std::vector<std::string>& words) {
  if (Status s = ensure_connected(); !s.ok()) return s;
  for (int attempt = 0; attempt < 2; attempt++) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.push_back(attempt == 0 ? "EVALSHA" : "EVAL");
    lens.push_back(attempt == 0 ? 7 : 4);
    const std::string& body = attempt == 0 ? script.sha : script.body;
    argv.push_back(body.data());
    lens.push_back(body.size());
    for (const std::string& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
    Reply r(static_cast<redisReply*>(
        redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r) return unavailable(std::string("no answer: ") + ctx_->errstr);  // the next call reconnects
    if (r->type == REDIS_REPLY_ERROR) {
      std::string err(r->str, r->len);
      if (attempt == 0 && err.rfind("NOSCRIPT", 0) == 0) continue;  // not cached there yet
      return unavailable("the script failed: " + err);
    }
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
      return unavailable("the script answered something else than a string");
    return std::string(r->str, r->len);
  }
  return unavailable("the script could not be loaded");
}

Result<WindowCheck> RedisCounters::commit(uint64_t ws, std::string_view queue_id, uint64_t n, int64_t now,
                                          const Plan& plan) {
  const std::string tag = ws_tag(ws);
  auto [month, last_month] = months_of(now);
  auto r = run_script(commit_script(),
                      {"2", tag + ":win", tag + ":q:" + std::string(queue_id), std::to_string(now / 60),
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
  const std::string tag = ws_tag(ws);
  auto r = run_script(refund_script(), {"2", tag + ":win", tag + ":q:" + std::string(queue_id)});
  if (!r.ok()) return r.status();
  uint64_t n = 0;
  if (!parse_u64(*r, &n)) return unavailable("the refund script answered '" + r->substr(0, 40) + "'");
  return n;
}

}  // namespace migo
