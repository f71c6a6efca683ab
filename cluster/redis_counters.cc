// redis_counters.cc — see redis_counters.h.
#include "redis_counters.h"

#include <hiredis/hiredis.h>

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

const RedisScript& commit_script() {
  static const RedisScript s(kCommit);
  return s;
}
const RedisScript& refund_script() {
  static const RedisScript s(kRefund);
  return s;
}

std::string ws_prefix(uint64_t ws) { return "migo:{w" + std::to_string(ws) + "}"; }

// yyyymm of a Unix time's UTC month (the store's month_of), and of the
// month before.
std::pair<std::string, std::string> months_of(int64_t now) {
  const uint32_t m = month_of(now);
  const uint32_t before = m % 100 == 1 ? (m / 100 - 1) * 100 + 12 : m - 1;
  return {std::to_string(m), std::to_string(before)};
}

Status unavailable(std::string what) { return redis_unavailable(std::move(what)); }

}  // namespace

Result<RedisCounters> RedisCounters::connect(const RedisEndpoint& e, int timeout_ms) {
  auto c = RedisClient::connect({e}, RedisOptions{timeout_ms, timeout_ms});
  if (!c.ok()) return c.status();
  return RedisCounters(std::move(*c));
}

Result<std::string> RedisCounters::run_script(uint64_t ws, const RedisScript& script,
                                              const std::vector<std::string>& words) {
  std::vector<std::string_view> argv(words.begin(), words.end());
  return client_.eval_text(script, ws_prefix(ws), argv);
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
  if (!redis_number(*r, &n)) return unavailable("the refund script answered '" + r->substr(0, 40) + "'");
  return n;
}

Result<WindowUsage> RedisCounters::usage(uint64_t ws, int64_t now) {
  const std::string key = ws_prefix(ws) + ":win";
  auto r = client_.command(key, {"HGETALL", key});
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
    if (!redis_number(reply_text(reply->element[i + 1]), &v)) return unavailable("a window field is not a number");
    if (field == this_month) {
      u.month = v;
    } else if (uint64_t m = 0; field.size() > 1 && field[0] == 'm' && redis_number(std::string_view(field).substr(1), &m)) {
      if (m + 1440 <= now_minute || m > now_minute + 1440) continue;
      minutes[std::min(m, now_minute)] += v;
    }
  }
  u.minutes.assign(minutes.begin(), minutes.end());
  return u;
}

}  // namespace migo
