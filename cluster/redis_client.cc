// redis_client.cc — see redis_client.h.
#include "redis_client.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <time.h>

#include <cstdio>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <map>
#include <optional>

namespace migo {

void RedisReplyFree::operator()(redisReply* r) const noexcept { freeReplyObject(r); }

std::string reply_text(const redisReply* r) {
  return r && r->str && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
             ? std::string(r->str, r->len)
             : std::string();
}

Status redis_unavailable(std::string what) { return Status(Code::unavailable, "redis: " + std::move(what)); }

bool redis_number(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

namespace {

Status unavailable(std::string what) { return redis_unavailable(std::move(what)); }

using Reply = RedisReply;

std::string sha1_hex(const std::string& s) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  char hex[2 * SHA_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA_DIGEST_LENGTH; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return hex;
}

struct ContextFree {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

int64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string where(const RedisEndpoint& e) {
  return e.port == 0 ? e.host : e.host + ":" + std::to_string(e.port);
}

void set_timeout(redisContext* c, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  redisSetTimeout(c, tv);
}

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

RedisScript::RedisScript(const char* text) : body(text), sha(sha1_hex(body)) {}

unsigned redis_cluster_slot(std::string_view key) {
  std::string_view tag = key;
  if (size_t open = key.find('{'); open != std::string_view::npos)
    if (size_t close = key.find('}', open + 1); close != std::string_view::npos && close > open + 1)
      tag = key.substr(open + 1, close - open - 1);
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
  if (!redis_number(rest.substr(colon + 1), &port) || port == 0 || port > 65535) return bad("a port from 1 to 65535");
  e.port = static_cast<int>(port);
  if (e.host.find_first_of("/?#") != std::string::npos) return bad("no path or query after HOST:PORT");
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
  return e;
}

Result<std::vector<RedisEndpoint>> read_redis_urls(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status(Code::unavailable, "cannot read " + path);
  std::vector<RedisEndpoint> out;
  std::string line;
  for (int n = 1; std::getline(f, line); n++) {
    size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    auto ep = parse_redis_url(std::string_view(line).substr(b, e - b + 1));
    if (!ep.ok()) return Status(Code::invalid, path + ":" + std::to_string(n) + ": " + ep.status().message());
    out.push_back(std::move(*ep));
  }
  if (out.empty()) return Status(Code::invalid, path + ": no redis:// URL in it");
  return out;
}

// The nodes: connections by address, the slot map of a cluster, and the
// back-off after a failure.
struct RedisClient::Nodes {
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

  Result<redisContext*> connection(const RedisEndpoint& e, bool* reused = nullptr) {
    const std::string w = where(e);
    if (reused) *reused = false;
    if (auto it = conns.find(w); it != conns.end()) {
      if (it->second->err == 0) {
        if (reused) *reused = true;
        return it->second.get();
      }
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
    // (redisSetTimeout above applies to later commands on this context.)
    conns[w] = std::move(c);
    return raw;
  }

  // Asks the seeds (then the nodes known) for the slot map. A standalone
  // server is the one node.
  Status discover() {
    std::vector<RedisEndpoint> ask = seeds;
    for (const Range& r : ranges) ask.push_back(r.node);
    std::string errors;
    auto note = [&](const std::string& what) { errors += (errors.empty() ? "" : "; ") + what; };
    for (const RedisEndpoint& e : ask) {
      auto c = connection(e);
      if (!c.ok()) {
        std::string m = c.status().message();
        if (m.rfind("redis: ", 0) == 0) m.erase(0, 7);  // said once, by the fail() below
        note(m);
        continue;
      }
      Reply r = command_argv(*c, {"CLUSTER", "SLOTS"});
      if (!r) {
        note(where(e) + ": " + (*c)->errstr);
        drop(e);
        continue;
      }
      if (r->type == REDIS_REPLY_ERROR) {
        if (reply_text(r.get()).find("cluster support disabled") == std::string::npos) {
          note(where(e) + ": " + reply_text(r.get()));
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
        note(where(e) + ": an unusable CLUSTER SLOTS answer");
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

  // Sends a command about `key` to the node that holds it, following MOVED
  // (the map is read again) and ASK.
  Result<Reply> send(std::string_view key, const std::vector<std::string_view>& words, int timeout_ms) {
    if (failed_until && monotonic_ms() < failed_until)
      return unavailable(last_error + " (not retried for " + std::to_string(options.retry_ms) + " ms)");
    std::optional<RedisEndpoint> asked;  // an ASK redirection to follow once
    bool retried = false;
    for (int hop = 0; hop < 4; hop++) {
      if (map_stale && !asked) MIGO_TRY(discover());
      auto target = asked ? Result<RedisEndpoint>(*asked) : node_for(redis_cluster_slot(key));
      if (!target.ok()) return target.status();
      bool reused = false;
      auto c = connection(*target, &reused);
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
      if (timeout_ms) set_timeout(*c, timeout_ms);
      Reply r = command_argv(*c, words);
      if (timeout_ms && r) set_timeout(*c, options.timeout_ms);
      if (!r) {
        std::string err = where(*target) + ": " + (*c)->errstr;
        // A connection kept from before, which the server closed (it
        // restarted, or dropped us idle): nothing was done; a new one is
        // tried at once. A timeout is not retried: the command may have run.
        const bool closed = (*c)->err == REDIS_ERR_EOF ||
                            ((*c)->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
        drop(*target);
        if (reused && closed && !retried) {
          retried = true;
          continue;
        }
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

RedisClient::RedisClient(std::unique_ptr<Nodes> nodes) : nodes_(std::move(nodes)) {}
RedisClient::RedisClient(RedisClient&&) noexcept = default;
RedisClient& RedisClient::operator=(RedisClient&&) noexcept = default;
RedisClient::~RedisClient() = default;

Result<RedisClient> RedisClient::lazy(const std::vector<RedisEndpoint>& seeds, const RedisOptions& options) {
  if (seeds.empty()) return Status(Code::invalid, "redis: no endpoint");
  auto nodes = std::make_unique<Nodes>();
  nodes->seeds = seeds;
  nodes->options = options;
  return RedisClient(std::move(nodes));
}

Result<RedisClient> RedisClient::connect(const std::vector<RedisEndpoint>& seeds, const RedisOptions& options) {
  auto r = lazy(seeds, options);
  if (!r.ok()) return r;
  if (Status s = r->nodes_->discover(); !s.ok()) return s;
  return r;
}

bool RedisClient::cluster() const { return nodes_->cluster; }

Result<RedisReply> RedisClient::eval(const RedisScript& script, std::string_view key,
                                     const std::vector<std::string_view>& words) {
  for (int attempt = 0; attempt < 2; attempt++) {
    std::vector<std::string_view> argv{attempt == 0 ? "EVALSHA" : "EVAL", attempt == 0 ? script.sha : script.body};
    argv.insert(argv.end(), words.begin(), words.end());
    auto r = nodes_->send(key, argv, 0);
    if (!r.ok()) return r.status();
    if ((*r)->type != REDIS_REPLY_ERROR) return r;
    std::string err = reply_text(r->get());
    if (attempt == 0 && err.rfind("NOSCRIPT", 0) == 0) continue;  // not cached on that node yet
    return unavailable("the script failed: " + err);
  }
  return unavailable("the script could not be loaded");
}

Result<std::string> RedisClient::eval_text(const RedisScript& script, std::string_view key,
                                           const std::vector<std::string_view>& words) {
  auto r = eval(script, key, words);
  if (!r.ok()) return r.status();
  if ((*r)->type != REDIS_REPLY_STRING && (*r)->type != REDIS_REPLY_STATUS)
    return unavailable("the script answered something else than a string");
  return reply_text(r->get());
}

Result<RedisReply> RedisClient::command(std::string_view key, const std::vector<std::string_view>& words,
                                        int timeout_ms) {
  return nodes_->send(key, words, timeout_ms);
}

}  // namespace migo
