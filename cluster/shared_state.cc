// shared_state.cc — see shared_state.h.
#include "shared_state.h"

#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include <charconv>

namespace migo {
namespace {

constexpr const char* kOrigin = "migo:{state}:origin";
constexpr const char* kSeq = "migo:{state}:seq";
constexpr const char* kRec = "migo:{state}:rec";
constexpr const char* kLog = "migo:{state}:log";
constexpr const char* kRelays = "migo:{state}:relays";
constexpr const char* kDkim = "migo:{state}:dkim";
constexpr const char* kReports = "migo:{state}:reports";

// ARGV: origin, number expected, log length, change set bytes, relay, time,
// the change set's random id, then (op, field, value) for the hash of rows:
// 'p' put, 'e' erase. The same change set sent again (its answer was lost)
// is recognised by its id and answered as the first time.
constexpr const char* kPublish = R"lua(
local origin = redis.call('GET', KEYS[1])
if origin ~= ARGV[1] then return 'stranger ' .. (origin or '') end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
if seq ~= tonumber(ARGV[2]) then
  local mine = tonumber(ARGV[2]) + 1
  local e = redis.call('XRANGE', KEYS[4], mine .. '-0', mine .. '-0')
  if #e == 1 then
    local f = e[1][2]
    for i = 1, #f, 2 do
      if f[i] == 'i' and f[i + 1] == ARGV[7] then return 'ok ' .. mine end
    end
  end
  return 'behind ' .. seq
end
seq = seq + 1
for i = 8, #ARGV, 3 do
  if ARGV[i] == 'p' then redis.call('HSET', KEYS[3], ARGV[i + 1], ARGV[i + 2])
  else redis.call('HDEL', KEYS[3], ARGV[i + 1]) end
end
redis.call('SET', KEYS[2], seq)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'c', ARGV[4], 'r', ARGV[5], 't', ARGV[6], 'i', ARGV[7])
return 'ok ' .. seq
)lua";

// ARGV: origin, change set bytes, relay, time, log length, number, then
// (field, value) of every row.
constexpr const char* kCreate = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists ' .. redis.call('GET', KEYS[1]) end
redis.call('DEL', KEYS[3], KEYS[4])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[6])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], ARGV[6] .. '-0', 'c', ARGV[2], 'r', ARGV[3], 't', ARGV[4])
return 'ok'
)lua";

constexpr const char* kSnapshot = R"lua(
return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[3])}
)lua";

Status unavailable(std::string what) { return Status(Code::unavailable, "shared state: " + std::move(what)); }


std::string field_of(const SharedChange& c) { return c.table + ":" + c.key; }

std::string stats_key(uint64_t account) { return "migo:stats:a" + std::to_string(account); }

Result<std::string> new_origin() {
  unsigned char b[12];
  if (RAND_bytes(b, sizeof b) != 1) return Status(Code::unavailable, "RAND_bytes failed");
  static const char hex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s += hex[c >> 4];
    s += hex[c & 15];
  }
  return s;
}

// A stream entry [id, [field, value, ...]] as a change set.
Result<ChangeSet> change_set_of(const redisReply* e) {
  if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
    return Status(Code::corrupt, "shared state: a stream entry of another shape");
  ChangeSet cs;
  std::string id = reply_text(e->element[0]);
  size_t dash = id.find('-');
  if (dash == std::string::npos || !redis_number(std::string_view(id).substr(0, dash), &cs.seq))
    return Status(Code::corrupt, "shared state: a stream entry id '" + id.substr(0, 40) + "'");
  const redisReply* f = e->element[1];
  bool have_changes = false;
  for (size_t i = 0; i + 1 < f->elements; i += 2) {
    std::string name = reply_text(f->element[i]), value = reply_text(f->element[i + 1]);
    if (name == "c") {
      MIGO_TRY(decode_changes(value, &cs.changes));
      have_changes = true;
    } else if (name == "r") {
      cs.relay = value;
    } else if (name == "t") {
      uint64_t t = 0;
      if (redis_number(value, &t)) cs.time = static_cast<int64_t>(t);
    }
  }
  if (!have_changes) return Status(Code::corrupt, "shared state: change set " + std::to_string(cs.seq) + " is empty");
  return cs;
}

// Every script of the state's gets its four keys (the words point into args).
std::vector<std::string_view> state_words(const std::vector<std::string>& args) {
  std::vector<std::string_view> words{"4", kOrigin, kSeq, kRec, kLog};
  words.insert(words.end(), args.begin(), args.end());
  return words;
}

}  // namespace

Result<std::string> SharedState::script(const RedisScript& s, const std::vector<std::string>& args) {
  return client_.eval_text(s, kOrigin, state_words(args));
}

Result<SharedHead> SharedState::head() {
  auto r = client_.command(kOrigin, {"MGET", kOrigin, kSeq});
  if (!r.ok()) return r.status();
  const redisReply* a = r->get();
  if (a->type != REDIS_REPLY_ARRAY || a->elements != 2) return unavailable("MGET answered " + reply_text(a));
  SharedHead h;
  h.origin = reply_text(a->element[0]);
  if (a->element[1]->type == REDIS_REPLY_STRING && !redis_number(reply_text(a->element[1]), &h.seq))
    return Status(Code::corrupt, "shared state: its number is not a number");
  return h;
}

Result<SharedHead> SharedState::create(const std::vector<SharedChange>& rows, const std::string& relay, int64_t now,
                                       const SharedHead* as) {
  auto origin = as ? Result<std::string>(as->origin) : new_origin();
  if (!origin.ok()) return origin.status();
  const uint64_t seq = as ? as->seq : 1;
  std::vector<std::string> args{*origin, encode_changes(rows), relay, std::to_string(now), std::to_string(log_max_),
                                std::to_string(seq)};
  for (const SharedChange& c : rows) {
    args.push_back(field_of(c));
    args.push_back(c.value);
  }
  static const RedisScript create_script(kCreate);
  auto r = script(create_script, args);
  if (!r.ok()) return r.status();
  if (r->rfind("exists ", 0) == 0) return Status(Code::exists, "there is shared state already (" + r->substr(7) + ")");
  if (*r != "ok") return unavailable("the script answered '" + r->substr(0, 40) + "'");
  return SharedHead{*origin, seq};
}

Result<uint64_t> SharedState::publish(const SharedHead& at, const std::vector<SharedChange>& changes,
                                      const std::string& relay, int64_t now) {
  auto id = new_origin();  // (random, as an origin is)
  if (!id.ok()) return id.status();
  std::vector<std::string> args{at.origin, std::to_string(at.seq), std::to_string(log_max_), encode_changes(changes),
                                relay, std::to_string(now), *id};
  for (const SharedChange& c : changes) {
    if (c.op == SharedChange::Op::append) continue;  // the log only
    args.push_back(c.op == SharedChange::Op::put ? "p" : "e");
    args.push_back(field_of(c));
    args.push_back(c.value);
  }
  // Sent twice at most: an answer lost with the connection is asked for
  // again, and the id makes the second send the first's answer.
  static const RedisScript publish_script(kPublish);
  auto r = script(publish_script, args);
  if (!r.ok()) r = script(publish_script, args);
  if (!r.ok()) return r.status();
  uint64_t seq = 0;
  if (r->rfind("ok ", 0) == 0 && redis_number(std::string_view(*r).substr(3), &seq)) return seq;
  if (r->rfind("behind ", 0) == 0)
    return Status(Code::exists, "another change came first (the shared state is at " + r->substr(7) + ", this store at " +
                                    std::to_string(at.seq) + ")");
  if (r->rfind("stranger ", 0) == 0)
    return Status(Code::refused, r->size() > 9 ? "the shared state is another one (" + r->substr(9) + ") than this store's (" +
                                                     at.origin + ")"
                                               : "there is no shared state at that Redis (lost? make it again from a relay: "
                                                 "migoctl --redis URL shared init)");
  return unavailable("the script answered '" + r->substr(0, 40) + "'");
}

Result<std::vector<ChangeSet>> SharedState::read_after(uint64_t seq, size_t max, int block_ms) {
  const std::string n = std::to_string(max);
  Result<RedisReply> r = Status(Code::unavailable, "");
  const redisReply* entries = nullptr;
  if (block_ms > 0) {
    const std::string ms = std::to_string(block_ms), after = std::to_string(seq) + "-0";
    r = client_.command(kLog, {"XREAD", "COUNT", n, "BLOCK", ms, "STREAMS", kLog, after}, block_ms + 2000);
    if (!r.ok()) return r.status();
    const redisReply* a = r->get();
    if (a->type == REDIS_REPLY_NIL) return std::vector<ChangeSet>{};  // nothing came
    if (a->type != REDIS_REPLY_ARRAY || a->elements != 1 || a->element[0]->type != REDIS_REPLY_ARRAY ||
        a->element[0]->elements != 2)
      return unavailable("XREAD answered " + reply_text(a));
    entries = a->element[0]->element[1];
  } else {
    const std::string from = std::to_string(seq + 1) + "-0";
    r = client_.command(kLog, {"XRANGE", kLog, from, "+", "COUNT", n});
    if (!r.ok()) return r.status();
    entries = r->get();
  }
  if (entries->type != REDIS_REPLY_ARRAY) return unavailable("the stream answered " + reply_text(entries));
  std::vector<ChangeSet> out;
  for (size_t i = 0; i < entries->elements; i++) {
    auto cs = change_set_of(entries->element[i]);
    if (!cs.ok()) return cs.status();
    out.push_back(std::move(*cs));
  }
  return out;
}

Result<SharedSnapshot> SharedState::snapshot() {
  static const RedisScript snapshot_script(kSnapshot);
  auto r = client_.eval(snapshot_script, kOrigin, state_words({}));
  if (!r.ok()) return r.status();
  const redisReply* a = r->get();
  if (a->type != REDIS_REPLY_ARRAY || a->elements != 3 || a->element[2]->type != REDIS_REPLY_ARRAY)
    return unavailable("the snapshot answered " + reply_text(a));
  SharedSnapshot s;
  s.head.origin = reply_text(a->element[0]);
  if (!redis_number(reply_text(a->element[1]), &s.head.seq)) return Status(Code::corrupt, "shared state: a bad number");
  const redisReply* h = a->element[2];
  for (size_t i = 0; i + 1 < h->elements; i += 2) {
    std::string field = reply_text(h->element[i]);
    size_t colon = field.find(':');
    if (colon == std::string::npos) return Status(Code::corrupt, "shared state: a row named '" + field.substr(0, 40) + "'");
    s.rows.push_back({SharedChange::Op::put, field.substr(0, colon), field.substr(colon + 1), reply_text(h->element[i + 1])});
  }
  return s;
}

Status SharedState::publish_stats(const std::string& relay, uint64_t seq,
                                  const std::vector<std::pair<uint64_t, AccountStats>>& stats, int64_t now) {
  for (const auto& [id, st] : stats) {
    const std::string key = stats_key(id), value = encode(st);
    auto r = client_.command(key, {"HSET", key, relay, value});
    if (!r.ok()) return r.status();
    if ((*r)->type == REDIS_REPLY_ERROR) return unavailable("HSET: " + reply_text(r->get()));
  }
  const std::string alive = std::to_string(seq) + " " + std::to_string(now);
  auto r = client_.command(kRelays, {"HSET", kRelays, relay, alive});
  if (!r.ok()) return r.status();
  return (*r)->type == REDIS_REPLY_ERROR ? unavailable("HSET: " + reply_text(r->get())) : Status();
}

Result<std::vector<std::pair<std::string, AccountStats>>> SharedState::stats(uint64_t account_id) {
  const std::string key = stats_key(account_id);
  auto r = client_.command(key, {"HGETALL", key});
  if (!r.ok()) return r.status();
  const redisReply* a = r->get();
  if (a->type != REDIS_REPLY_ARRAY) return unavailable("HGETALL answered " + reply_text(a));
  std::vector<std::pair<std::string, AccountStats>> out;
  for (size_t i = 0; i + 1 < a->elements; i += 2) {
    AccountStats st;
    MIGO_TRY(decode(reply_text(a->element[i + 1]), &st));
    out.emplace_back(reply_text(a->element[i]), st);
  }
  return out;
}

Status SharedState::forget_stats(uint64_t account_id) {
  const std::string key = stats_key(account_id);
  auto r = client_.command(key, {"DEL", key});
  return r.ok() ? Status() : r.status();
}

Status SharedState::put_sealed_key(const std::string& name, const std::string& sealed) {
  auto r = client_.command(kDkim, {"HSET", kDkim, name, sealed});
  if (!r.ok()) return r.status();
  return (*r)->type == REDIS_REPLY_ERROR ? unavailable("HSET: " + reply_text(r->get())) : Status();
}

Result<std::string> SharedState::sealed_key(const std::string& name) {
  auto r = client_.command(kDkim, {"HGET", kDkim, name});
  if (!r.ok()) return r.status();
  if ((*r)->type == REDIS_REPLY_NIL) return std::string();
  if ((*r)->type != REDIS_REPLY_STRING) return unavailable("HGET answered " + reply_text(r->get()));
  return reply_text(r->get());
}

Status SharedState::forward_report(const std::string& kind, std::string_view message, std::string_view return_path,
                                   const std::string& relay) {
  auto r = client_.command(kReports, {"XADD", kReports, "MAXLEN", "~", "10000", "*", "k", kind, "m", message, "p",
                                      return_path, "r", relay});
  if (!r.ok()) return r.status();
  return (*r)->type == REDIS_REPLY_ERROR ? unavailable("XADD: " + reply_text(r->get())) : Status();
}

Result<std::vector<ForwardedReport>> SharedState::reports_after(const std::string& after, size_t max) {
  const std::string from = "(" + after, n = std::to_string(max);
  auto r = client_.command(kReports, {"XRANGE", kReports, from, "+", "COUNT", n});
  if (!r.ok()) return r.status();
  const redisReply* a = r->get();
  if (a->type != REDIS_REPLY_ARRAY) return unavailable("XRANGE answered " + reply_text(a));
  std::vector<ForwardedReport> out;
  for (size_t i = 0; i < a->elements; i++) {
    const redisReply* e = a->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
      return Status(Code::corrupt, "shared state: a forwarded report of another shape");
    ForwardedReport f;
    f.id = reply_text(e->element[0]);
    const redisReply* fields = e->element[1];
    for (size_t j = 0; j + 1 < fields->elements; j += 2) {
      std::string name = reply_text(fields->element[j]);
      std::string value = reply_text(fields->element[j + 1]);
      if (name == "k") f.kind = value;
      else if (name == "m") f.message = value;
      else if (name == "p") f.return_path = value;
      else if (name == "r") f.relay = value;
    }
    out.push_back(std::move(f));
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> SharedState::relays() {
  auto r = client_.command(kRelays, {"HGETALL", kRelays});
  if (!r.ok()) return r.status();
  const redisReply* a = r->get();
  if (a->type != REDIS_REPLY_ARRAY) return unavailable("HGETALL answered " + reply_text(a));
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i + 1 < a->elements; i += 2) out.emplace_back(reply_text(a->element[i]), reply_text(a->element[i + 1]));
  return out;
}

}  // namespace migo
