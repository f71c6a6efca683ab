// redis_counters_test.cc — RedisCounters against a real redis-server on a
// private unix socket: the windows, duplicates and refunds, exact counting
// under concurrent clients, authentication, and a dead server (a
// temporary failure, then service again once one answers).
#include "redis_counters.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "run.h"
#include "temp_dir.h"

using namespace migo;

namespace {

// redis-server on DIR/redis.sock, no TCP, no persistence; stopped with the
// object.
class RedisServer {
 public:
  explicit RedisServer(const std::string& dir, std::vector<std::string> extra = {}) : sock_(dir + "/redis.sock") {
    std::vector<std::string> argv{"/usr/bin/redis-server", "--port", "0", "--unixsocket", sock_, "--unixsocketperm",
                                  "700", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", dir + "/redis.log"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = test::spawn(argv);
    REQUIRE(pid_ > 0);
    // Until it listens (bounded: a guard against a server that never starts).
    for (int i = 0; i < 500 && !std::filesystem::exists(sock_); i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(std::filesystem::exists(sock_));
  }
  ~RedisServer() { stop(); }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    std::filesystem::remove(sock_);
  }
  std::string url() const { return "unix:" + sock_; }

 private:
  std::string sock_;
  pid_t pid_ = -1;
};

RedisCounters connect(const std::string& url) {
  auto e = parse_redis_url(url);
  REQUIRE(e.ok());
  auto c = RedisCounters::connect(*e, 2000);
  INFO(c.status().message());
  REQUIRE(c.ok());
  return std::move(*c);
}

Plan plan(uint64_t hourly, uint64_t daily, uint64_t monthly) { return Plan{"p", 5, monthly, daily, hourly}; }

// As the daemons do: a write to a connection Redis closed is an error, not
// the end of the process.
const bool kNoSigpipe = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();

const int64_t T = 1796400000;  // 2026-12-04, a Friday: not near a month's end

}  // namespace

TEST_CASE("redis URLs: what is accepted and what is refused (no password repeated)") {
  auto e = parse_redis_url("redis://relay:s3cret@10.0.0.5:6379");
  REQUIRE(e.ok());
  CHECK(e->host == "10.0.0.5");
  CHECK(e->port == 6379);
  CHECK(e->user == "relay");
  CHECK(e->password == "s3cret");
  e = parse_redis_url("redis://:pw@[::1]:7000");
  REQUIRE(e.ok());
  CHECK(e->host == "[::1]");
  CHECK(e->user.empty());
  e = parse_redis_url("unix:/run/redis/redis.sock");
  REQUIRE(e.ok());
  CHECK(e->port == 0);
  for (const char* bad : {"", "redis://", "redis://host", "redis://host:0", "redis://host:70000", "redis://host:x",
                          "http://host:1", "redis://user@host:1", "redis://u:@host:1", "unix:relative",
                          "redis://host:1/0"}) {
    auto r = parse_redis_url(bad);
    INFO(bad);
    CHECK(r.status().code() == Code::invalid);
  }
  CHECK_THAT(parse_redis_url("redis://u:topsecret@host").status().message(), !Catch::Contains("topsecret"));
}

TEST_CASE("every window is checked and counted together; a duplicate counts nothing; a refund once") {
  test::TempDir tmp;
  RedisServer server(tmp.path());
  RedisCounters c = connect(server.url());
  const Plan p = plan(10, 15, 20);
  auto r = c.commit(1, "Q1", 6, T, p);
  REQUIRE(r.ok());
  CHECK(r->fits);
  r = c.commit(1, "Q1", 6, T, p);  // the same message again
  REQUIRE(r.ok());
  CHECK(r->duplicate);
  r = c.commit(1, "Q2", 5, T, p);  // 6 + 5 > 10
  REQUIRE(r.ok());
  CHECK_FALSE(r->fits);
  CHECK(std::string(r->window) == "hourly");
  CHECK(r->used == 6);
  CHECK(r->limit == 10);
  CHECK(c.commit(1, "Q3", 4, T, p)->fits);  // exactly 10
  CHECK(c.commit(2, "Q3", 10, T, p)->fits);  // another workspace: its own windows
  // An hour later the hourly window is free, the daily one is not.
  r = c.commit(1, "Q4", 6, T + 3600, p);
  REQUIRE(r.ok());
  CHECK_FALSE(r->fits);
  CHECK(std::string(r->window) == "daily");
  CHECK(r->used == 10);
  CHECK(c.commit(1, "Q4", 5, T + 3600, p)->fits);  // 15 in the day
  // A day later only the month remembers: 15 of 20.
  r = c.commit(1, "Q5", 6, T + 86400, p);
  REQUIRE(r.ok());
  CHECK(std::string(r->window) == "monthly");
  CHECK(r->used == 15);
  // A refund takes back exactly once; the room returns.
  CHECK(*c.refund(1, "Q4") == 5);
  CHECK(*c.refund(1, "Q4") == 0);
  CHECK(*c.refund(1, "never-counted") == 0);
  CHECK(c.commit(1, "Q5", 6, T + 86400, p)->fits);  // 10 + 6 <= 20
  // The next month starts from nothing: 20 more fit in it, not 21.
  CHECK(c.commit(1, "Q6", 10, T + 31 * 86400, p)->fits);
  CHECK(c.commit(1, "Q7", 10, T + 33 * 86400, p)->fits);
  r = c.commit(1, "Q8", 1, T + 35 * 86400, p);
  REQUIRE(r.ok());
  CHECK(std::string(r->window) == "monthly");
  CHECK(r->used == 20);
}

TEST_CASE("many clients at once: exactly the limit is accepted") {
  test::TempDir tmp;
  RedisServer server(tmp.path());
  const Plan p = plan(1000, 100000, 100000);
  std::atomic<uint64_t> accepted{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++)
    threads.emplace_back([&, t] {
      auto e = parse_redis_url(server.url());
      auto c = RedisCounters::connect(*e, 5000);
      if (!c.ok()) {
        failed += 1;
        return;
      }
      for (int i = 0; i < 400; i++) {
        auto r = c->commit(7, "T" + std::to_string(t) + "-" + std::to_string(i), 1 + i % 3, T, p);
        if (!r.ok()) failed += 1;
        else if (r->fits) accepted += 1 + i % 3;
        else refused += 1;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(failed == 0);
  // 8 x 400 messages of 1-3 recipients ask for far more than 1,000: the
  // window fills to exactly its limit (a message too big for what is left
  // is refused, a smaller one after it may still fit).
  CHECK(accepted == 1000);
  CHECK(refused > 0);
  RedisCounters c = connect(server.url());
  auto r = c.commit(7, "one-more", 1, T, p);
  REQUIRE(r.ok());
  CHECK_FALSE(r->fits);
  CHECK(r->used == 1000);
}

TEST_CASE("a password: the right one is needed") {
  test::TempDir tmp;
  RedisServer server(tmp.path(), {"--requirepass", "right-password"});
  const std::string sock = server.url().substr(5);
  auto no_auth = RedisCounters::connect(*parse_redis_url(server.url()), 2000);
  REQUIRE(no_auth.ok());  // connecting is allowed; commands are not
  auto r = no_auth->commit(1, "Q", 1, T, plan(10, 10, 10));
  CHECK(r.status().code() == Code::unavailable);
  RedisEndpoint e{sock, 0, "", "wrong"};
  auto wrong = RedisCounters::connect(e, 2000);
  CHECK(wrong.status().code() == Code::unavailable);
  CHECK_THAT(wrong.status().message(), !Catch::Contains("wrong"));
  e.password = "right-password";
  auto right = RedisCounters::connect(e, 2000);
  REQUIRE(right.ok());
  CHECK(right->commit(1, "Q", 1, T, plan(10, 10, 10))->fits);
}

TEST_CASE("Redis gone: a temporary failure, never an acceptance; back: service resumes") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  auto server = std::make_unique<RedisServer>(tmp.path());
  RedisCounters c = connect(server->url());
  const Plan p = plan(10, 10, 10);
  CHECK(c.commit(1, "Q1", 1, T, p)->fits);
  server->stop();
  auto r = c.commit(1, "Q2", 1, T, p);
  CHECK(r.status().code() == Code::unavailable);
  CHECK(r.status().temporary());
  CHECK(c.refund(1, "Q1").status().code() == Code::unavailable);
  // A new server (empty: what an unpersisted restart loses is documented).
  server = std::make_unique<RedisServer>(tmp.path());
  r = c.commit(1, "Q2", 1, T, p);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->fits);
  // Nothing listening at all: connect itself fails, temporarily.
  server->stop();
  auto none = RedisCounters::connect(*parse_redis_url("unix:" + tmp.path() + "/redis.sock"), 500);
  CHECK(none.status().code() == Code::unavailable);
}
