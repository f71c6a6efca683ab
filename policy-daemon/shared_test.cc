// shared_test.cc — the policy decisions on shared windows: two relays, each
// with its own store holding the same accounts, and one real redis-server.
// The verdicts are the store's (same texts, same room_at), the windows are
// shared, queue ids of the two relays never collide, refunds reach Redis
// through the store's shared refunds, and Redis trouble or a store that
// cannot record is a temporary failure that leaves nothing counted.
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "fresh_store.h"
#include "migo/accounting.h"
#include "policy.h"
#include "redis_server.h"
#include "temp_dir.h"

using namespace migo;

namespace {

const int64_t T0 = 1798675200;  // 2026-12-31 00:00:00 UTC
const Plan kPlan{"p", 5, 100, 20, 10};

const bool kNoSigpipe = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();

// One relay: its own store (the same workspace and accounts, as the shared
// state gives every relay) and its own connection to the shared Redis.
struct Relay {
  test::TempDir tmp;
  std::unique_ptr<Store> store;
  std::optional<RedisCounters> redis;
  SharedWindows shared;
  PolicyConfig config;
  Relay(const std::string& name, const std::string& url) {
    store = test::fresh_store(tmp.path(), T0);
    REQUIRE(store->write([](WriteTxn& t) {
      MIGO_TRY(t.put(kPlan));
      MIGO_TRY(t.put(Workspace{1, "acme", "p", T0}));
      Account a;
      a.workspace_id = 1;
      for (auto [id, user] : {std::pair{11ull, "smtpuser_a"}, std::pair{12ull, "smtpuser_b"}}) {
        a.id = id;
        a.username = user;
        MIGO_TRY(t.put(a));
      }
      return Status();
    }).ok());
    auto c = RedisClient::lazy({*parse_redis_url(url)}, RedisOptions{2000, 100});
    REQUIRE(c.ok());
    redis.emplace(std::move(*c));
    shared = {&*redis, name};
  }
  Verdict rcpt(const std::string& user, int64_t now, uint64_t accepted = 0) {
    PolicyQuery q;
    q.stage = PolicyQuery::Stage::rcpt;
    q.sasl_username = user;
    return decide(*store, q, now, config, accepted, &shared);
  }
  PolicyQuery eom_query(const std::string& user, const std::string& qid, uint32_t n) {
    PolicyQuery q;
    q.stage = PolicyQuery::Stage::end_of_message;
    q.sasl_username = user;
    q.queue_id = qid;
    q.recipient_count = n;
    return q;
  }
  Verdict eom(const std::string& user, const std::string& qid, uint32_t n, int64_t now) {
    return decide(*store, eom_query(user, qid, n), now, config, 0, &shared);
  }
  Result<QueueEntry> queued(const std::string& qid) {
    Result<QueueEntry> e = Status(Code::not_found, "");
    REQUIRE(store->read([&](const ReadTxn& t) {
      e = t.queue_entry(qid);
      return Status();
    }).ok());
    return e;
  }
};

}  // namespace

TEST_CASE("two relays share a workspace's windows: the store's verdicts, counted once across both") {
  test::TempDir tmp;
  test::RedisServer redis(tmp.path());
  Relay a("relay-a", redis.url()), b("relay-b", redis.url());
  CHECK(a.rcpt("smtpuser_a", T0).action == "DUNNO");
  CHECK(a.eom("smtpuser_a", "Q1", 6, T0).kind == Verdict::Kind::dunno);
  // Relay B sees A's six: four left this hour.
  CHECK(b.rcpt("smtpuser_b", T0, 3).kind == Verdict::Kind::dunno);
  Verdict over = b.rcpt("smtpuser_b", T0 + 60, 4);  // a fifth recipient for the message
  CHECK(over.kind == Verdict::Kind::defer);
  CHECK(over.action ==
        "451 4.7.1 Workspace hourly limit: 4 of 10 recipients left this hour, and this message has 4 already; "
        "room again at 2026-12-31T01:00:00Z");
  // The same queue id on relay B is another message: counted.
  CHECK(b.eom("smtpuser_b", "Q1", 4, T0 + 60).kind == Verdict::Kind::dunno);
  // The hour is full across both relays; the refusal says when room returns.
  Verdict full = a.eom("smtpuser_a", "Q2", 1, T0 + 120);
  CHECK(full.kind == Verdict::Kind::defer);
  CHECK(full.action == "451 4.7.1 Workspace hourly limit of 10 recipients reached; room again at 2026-12-31T01:00:00Z");
  CHECK(full.window == std::string("hourly"));
  CHECK(a.eom("smtpuser_a", "Q3", 11, T0 + 120).action ==
        "REJECT 5.7.1 Message has 11 recipients; the workspace's hourly limit of 10 recipients can never fit it");
  // A retried END-OF-MESSAGE of a counted message counts nothing more.
  CHECK(a.eom("smtpuser_a", "Q1", 6, T0 + 180).kind == Verdict::Kind::dunno);
  auto u = a.redis->usage(1, T0 + 180);
  REQUIRE(u.ok());
  CHECK(u->month == 10);
  // Each relay's store keeps its own share and its own statistics.
  CHECK(a.queued("Q1")->shared);
  CHECK(a.queued("Q1")->recipients == 6);
  CHECK(b.queued("Q1")->recipients == 4);
  CHECK(a.queued("Q2").status().code() == Code::not_found);
  // An hour later (both buckets gone from it) there is room again.
  CHECK(a.eom("smtpuser_a", "Q4", 10, T0 + 3600).kind == Verdict::Kind::defer);  // B's 4 still in it
  CHECK(b.eom("smtpuser_b", "Q4", 10, T0 + 3660).kind == Verdict::Kind::dunno);
}

TEST_CASE("a refund anywhere on a relay reaches the shared windows through the store, once") {
  test::TempDir tmp;
  test::RedisServer redis(tmp.path());
  Relay a("relay-a", redis.url()), b("relay-b", redis.url());
  REQUIRE(a.eom("smtpuser_a", "Q1", 10, T0).kind == Verdict::Kind::dunno);
  CHECK(b.eom("smtpuser_b", "Q9", 1, T0).kind == Verdict::Kind::defer);
  // The milter refuses Q1 after the count (it refunds in the store only).
  uint32_t n = 0;
  REQUIRE(a.store->write([&](WriteTxn& t) { return refund_recipients(t, "Q1", &n); }).ok());
  CHECK(n == 10);
  CHECK(b.eom("smtpuser_b", "Q9", 1, T0).kind == Verdict::Kind::defer);  // not in Redis yet
  auto carried = drain_shared_refunds(*a.store, a.shared);
  REQUIRE(carried.ok());
  CHECK(*carried == 1);
  CHECK(*drain_shared_refunds(*a.store, a.shared) == 0);  // nothing left, nothing twice
  CHECK(b.eom("smtpuser_b", "Q9", 10, T0).kind == Verdict::Kind::dunno);
  // Relay B's drain does not touch relay A's queue ids, and vice versa.
  REQUIRE(b.store->write([&](WriteTxn& t) { return refund_recipients(t, "Q9", &n); }).ok());
  CHECK(*drain_shared_refunds(*b.store, b.shared) == 1);
  CHECK(a.redis->usage(1, T0)->month == 0);
  // A vanished client's refund in an END-OF-MESSAGE batch takes the same road.
  REQUIRE(a.eom("smtpuser_a", "Q5", 3, T0).kind == Verdict::Kind::dunno);
  std::vector<Verdict> v =
      commit_end_of_message(*a.store, {a.eom_query("smtpuser_a", "Q6", 2)}, T0, a.config, {"Q5"}, nullptr, &a.shared);
  CHECK(v.at(0).kind == Verdict::Kind::dunno);
  CHECK(a.queued("Q5").status().code() == Code::not_found);
  CHECK(*drain_shared_refunds(*a.store, a.shared) == 1);
  CHECK(a.redis->usage(1, T0)->month == 2);
}

TEST_CASE("Redis gone, or a store that cannot record: a temporary failure and nothing counted") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  auto redis = std::make_unique<test::RedisServer>(tmp.path());
  Relay a("relay-a", redis->url());
  REQUIRE(a.eom("smtpuser_a", "Q1", 1, T0).kind == Verdict::Kind::dunno);
  // A store that cannot write (opened read-only here; a full disk in
  // life): Redis is given back what it counted.
  {
    Relay c("relay-c", redis->url());
    c.store.reset();  // one handle per environment and process
    StoreOptions ro;
    ro.read_only = true;
    auto read_only = Store::open(c.tmp.path(), ro);
    REQUIRE(read_only.ok());
    Verdict v = decide(**read_only, c.eom_query("smtpuser_a", "Q2", 4), T0, c.config, 0, &c.shared);
    CHECK(v.kind == Verdict::Kind::tempfail);
    CHECK(v.action == c.config.tempfail_action);
    CHECK(a.redis->usage(1, T0)->month == 1);
  }
  redis->stop();
  for (Verdict v : {a.rcpt("smtpuser_a", T0), a.eom("smtpuser_a", "Q3", 1, T0)}) {
    CHECK(v.kind == Verdict::Kind::tempfail);
    CHECK(v.action == "451 4.3.0 Sending policy temporarily unavailable; try again later");
    CHECK(v.reason.find("shared counters unavailable") != std::string::npos);
  }
  CHECK(a.queued("Q3").status().code() == Code::not_found);
  // Unknown and disabled accounts are still refused: the store answers that.
  CHECK(a.rcpt("smtpuser_nobody", T0).kind == Verdict::Kind::reject);
  // A refund waits in the store while Redis is away.
  uint32_t n = 0;
  REQUIRE(a.store->write([&](WriteTxn& t) { return refund_recipients(t, "Q1", &n); }).ok());
  CHECK_FALSE(drain_shared_refunds(*a.store, a.shared).ok());
  // Back (empty, unpersisted): service resumes after the back-off.
  redis = std::make_unique<test::RedisServer>(tmp.path());
  Verdict v = a.eom("smtpuser_a", "Q4", 1, T0);
  for (int i = 0; i < 50 && v.kind == Verdict::Kind::tempfail; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    v = a.eom("smtpuser_a", "Q4", 1, T0);
  }
  CHECK(v.kind == Verdict::Kind::dunno);
  CHECK(*drain_shared_refunds(*a.store, a.shared) == 1);
}

TEST_CASE("RCPT may read a cached figure; END-OF-MESSAGE never does, and stays exact") {
  test::TempDir tmp;
  test::RedisServer redis(tmp.path());
  Relay a("relay-a", redis.url()), b("relay-b", redis.url());
  a.shared.rcpt_cache_ms = 3600 * 1000;  // (as if the clock stood still)
  CHECK(a.rcpt("smtpuser_a", T0).kind == Verdict::Kind::dunno);  // read and kept: 0 used
  REQUIRE(b.eom("smtpuser_b", "Q1", 10, T0).kind == Verdict::Kind::dunno);  // the hour is full now
  CHECK(a.rcpt("smtpuser_a", T0).kind == Verdict::Kind::dunno);  // the kept figure: a pre-check only
  CHECK(a.eom("smtpuser_a", "Q2", 1, T0).kind == Verdict::Kind::defer);  // the commit is exact
  a.shared.rcpt_cache_ms = 0;
  CHECK(a.rcpt("smtpuser_a", T0).kind == Verdict::Kind::defer);
}
