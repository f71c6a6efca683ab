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
#include <optional>
#include <set>
#include <thread>

#include "redis_server.h"
#include "run.h"
#include "temp_dir.h"

using namespace migo;

namespace {

using test::RedisServer;

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
  CHECK(e->host == "::1");  // as hiredis takes it
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
  // Without one, the first question (CLUSTER SLOTS) is refused: a
  // temporary failure at start, saying why.
  auto no_auth = RedisCounters::connect(*parse_redis_url(server.url()), 2000);
  CHECK(no_auth.status().code() == Code::unavailable);
  CHECK_THAT(no_auth.status().message(), Catch::Contains("NOAUTH"));
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
  // Until the back-off ends, calls fail at once without trying.
  r = c.commit(1, "Q2", 1, T, p);
  CHECK(r.status().code() == Code::unavailable);
  // A new server (empty: what an unpersisted restart loses is documented):
  // service resumes once the back-off (2 s here) has passed.
  server = std::make_unique<RedisServer>(tmp.path());
  for (int i = 0; i < 100 && !r.ok(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = c.commit(1, "Q2", 1, T, p);
  }
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->fits);
  // Nothing listening at all: connect itself fails, temporarily.
  server->stop();
  auto none = RedisCounters::connect(*parse_redis_url("unix:" + tmp.path() + "/redis.sock"), 500);
  CHECK(none.status().code() == Code::unavailable);
}

TEST_CASE("the windows read back as the store would give them") {
  test::TempDir tmp;
  RedisServer server(tmp.path());
  RedisCounters c = connect(server.url());
  const Plan p = plan(100, 100, 100);
  REQUIRE(c.commit(3, "A", 2, T - 7200, p)->fits);  // two hours ago: the day only
  REQUIRE(c.commit(3, "B", 3, T - 120, p)->fits);
  REQUIRE(c.commit(3, "C", 4, T, p)->fits);
  REQUIRE(c.commit(3, "D", 5, T - 2 * 86400, p)->fits);  // gone from the day, still this month
  auto u = c.usage(3, T);
  REQUIRE(u.ok());
  using M = std::vector<std::pair<uint64_t, uint64_t>>;
  const uint64_t m = T / 60;
  CHECK(u->minutes == M{{m - 120, 2}, {m - 2, 3}, {m, 4}});
  CHECK(u->month == 14);
  // An empty workspace, and the next month.
  CHECK(c.usage(4, T)->minutes.empty());
  CHECK(c.usage(3, T + 40 * 86400)->month == 0);
}

TEST_CASE("cluster slots are Redis's own") {
  test::TempDir tmp;
  // A cluster-enabled node answers CLUSTER KEYSLOT without any slots.
  RedisServer server(tmp.path(), {"--cluster-enabled", "yes", "--cluster-config-file", tmp.path() + "/nodes.conf",
                                  "--cluster-port", std::to_string(test::free_port())},
                     test::free_port());
  // The specification's example, then Redis's answer for our tags.
  CHECK(redis_cluster_slot("123456789") == (0x31C3 % 16384));
  for (uint64_t ws : {1ull, 7ull, 12345678901234567ull, 18446744073709551615ull}) {
    std::string tag = "w" + std::to_string(ws);
    test::RunResult r = test::run(server.cli({"CLUSTER", "KEYSLOT", "migo:{" + tag + "}:win"}));
    INFO(r.out + r.err);
    CHECK(std::stoul(r.out) == redis_cluster_slot(tag));
  }
}

TEST_CASE("a Redis Cluster of three masters: each workspace on its slot's master, exactly counted, resharding followed") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  test::RedisCluster cluster(tmp.path());
  std::vector<RedisEndpoint> seeds;
  for (size_t i = 0; i < cluster.size(); i++) seeds.push_back(*parse_redis_url(cluster.node(i).url()));
  // One seed is enough to learn the map; the others stand by.
  auto client = RedisClient::connect(seeds, RedisOptions{2000, 200});
  INFO(client.status().message());
  REQUIRE(client.ok());
  std::optional<RedisCounters> c(RedisCounters(std::move(*client)));
  CHECK(c->cluster());
  const Plan p = plan(1000, 100000, 100000);
  // Workspaces whose slots fall on different masters.
  std::set<std::string> masters;
  for (uint64_t ws = 1; ws <= 12; ws++) {
    REQUIRE(c->commit(ws, "Q", ws, T, p)->fits);
    std::string key = "migo:{w" + std::to_string(ws) + "}:win";
    for (size_t i = 0; i < cluster.size(); i++) {
      test::RunResult r = test::run(cluster.node(i).cli({"EXISTS", key}));
      if (r.out == "1\n") masters.insert(cluster.node(i).url());  // (another master answers MOVED)
    }
    CHECK(c->usage(ws, T)->month == ws);
  }
  CHECK(masters.size() == 3);
  // Eight clients against one workspace's hourly limit: exactly 1,000.
  std::atomic<uint64_t> accepted{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++)
    threads.emplace_back([&, t] {
      auto client_of_mine = RedisClient::connect(seeds, RedisOptions{5000, 200});
      if (!client_of_mine.ok()) {
        failed += 1;
        return;
      }
      std::optional<RedisCounters> mine(RedisCounters(std::move(*client_of_mine)));
      for (int i = 0; i < 200; i++) {
        auto r = mine->commit(100, "T" + std::to_string(t) + "-" + std::to_string(i), 1 + i % 3, T, p);
        if (!r.ok()) failed += 1;
        else if (r->fits) accepted += 1 + i % 3;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(failed == 0);
  CHECK(accepted == 1000);
  // Move workspace 1's slot to another master: the client, holding the old
  // map, is told MOVED and follows; the counts moved with the slot.
  const unsigned slot = redis_cluster_slot("w1");
  std::string from_id, to_id;
  size_t from = 0;
  for (size_t i = 0; i < cluster.size(); i++) {
    test::RunResult r = test::run(cluster.node(i).cli({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}));
    if (std::stoul(r.out) > 0) from = i;
  }
  size_t to = (from + 1) % cluster.size();
  from_id = test::run(cluster.node(from).cli({"CLUSTER", "MYID"})).out;
  to_id = test::run(cluster.node(to).cli({"CLUSTER", "MYID"})).out;
  from_id.erase(from_id.find_last_not_of("\n") + 1);
  to_id.erase(to_id.find_last_not_of("\n") + 1);
  auto& src = cluster.node(from);
  auto& dst = cluster.node(to);
  const std::string s = std::to_string(slot);
  REQUIRE(test::run(dst.cli({"CLUSTER", "SETSLOT", s, "IMPORTING", from_id})).rc == 0);
  REQUIRE(test::run(src.cli({"CLUSTER", "SETSLOT", s, "MIGRATING", to_id})).rc == 0);
  test::RunResult keys = test::run(src.cli({"CLUSTER", "GETKEYSINSLOT", s, "100"}));
  std::vector<std::string> moving;
  for (size_t at = 0, nl; (nl = keys.out.find('\n', at)) != std::string::npos; at = nl + 1)
    if (nl > at) moving.push_back(keys.out.substr(at, nl - at));
  REQUIRE_FALSE(moving.empty());
  // Mid-migration: a key still on the source is served there; one moved
  // already is answered with ASK, which the client follows.
  std::vector<std::string> migrate{"MIGRATE", "127.0.0.1", std::to_string(dst.port()), "", "0", "5000", "KEYS"};
  migrate.insert(migrate.end(), moving.begin(), moving.end());
  REQUIRE(test::run(src.cli(migrate)).rc == 0);
  auto mid = c->usage(1, T);
  INFO(mid.status().message());
  REQUIRE(mid.ok());
  CHECK(mid->month == 1);
  for (auto* n : {&src, &dst, &cluster.node(3 - from - to)})
    REQUIRE(test::run(n->cli({"CLUSTER", "SETSLOT", s, "NODE", to_id})).rc == 0);
  auto after = c->commit(1, "Q-after", 2, T, p);
  INFO(after.status().message());
  REQUIRE(after.ok());
  CHECK(after->fits);
  CHECK(c->usage(1, T)->month == 3);
  test::RunResult where = test::run(dst.cli({"HGET", "migo:{w1}:win", "M" + std::to_string(month_of(T))}));
  CHECK(where.out == "3\n");
  CHECK(*c->refund(1, "Q-after") == 2);
  // A master gone: its workspaces fail closed; the others are served.
  cluster.node(to).stop();
  auto down = c->commit(1, "Q-down", 1, T, p);
  CHECK(down.status().code() == Code::unavailable);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the back-off
  int served = 0;
  for (uint64_t ws = 2; ws <= 12; ws++) {
    const std::string key = "migo:{w" + std::to_string(ws) + "}:win";
    if (test::run(src.cli({"EXISTS", key})).out != "1\n") continue;  // not on a live master
    auto r = c->commit(ws, "Q-live", 1, T, p);
    INFO(r.status().message());
    CHECK(r.ok());
    served += r.ok();
  }
  CHECK(served > 0);
}

TEST_CASE("a connection the server closed (it restarted) is made again at once, not failed") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  RedisServer server(tmp.path());
  RedisCounters c = connect(server.url());
  const Plan p = plan(10, 10, 10);
  REQUIRE(c.commit(1, "Q1", 1, T, p)->fits);
  server.stop();
  server.start();  // the client still holds its old connection
  auto r = c.commit(1, "Q2", 1, T, p);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->fits);
}
