// sync_test.cc — two relays' stores and one real redis-server: the shared
// state made from one store, another joining by snapshot, changes
// published and applied in order, conflicts caught up and retried, a rule
// (an account limit) holding across relays, a trimmed stream, a store with
// records of its own, Redis behind or gone.
#include "sync.h"

#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "fresh_store.h"
#include "redis_server.h"
#include "temp_dir.h"

using namespace migo;

namespace {

const bool kNoSigpipe = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();

struct Relay {
  test::TempDir tmp;
  std::unique_ptr<Store> store = test::fresh_store(tmp.path(), 0);
  std::optional<SharedState> state;
  std::string name;
  Relay(const std::string& n, const std::string& url) : name(n) {
    auto c = RedisClient::lazy({*parse_redis_url(url)}, RedisOptions{2000, 50});
    REQUIRE(c.ok());
    state.emplace(std::move(*c));
  }
  std::vector<SharedChange> rows() {
    return test::read_ok<std::vector<SharedChange>>(*store, [](const ReadTxn& t) { return shared_rows(t); });
  }
  SharedPosition at() {
    return test::read_ok<SharedPosition>(*store, [](const ReadTxn& t) { return shared_position(t); });
  }
  Result<SyncResult> sync(SyncOptions o = {}) { return sync_store(*store, *state, o); }
  // An account in workspace 1, refused once the workspace has `max` (the
  // kind of rule migoctl's operations check against the store).
  Status add_account(uint64_t id, size_t max = 100) {
    return shared_write(*store, *state, name, 100, [&](WriteTxn& t) -> Status {
      auto n = t.account_count(1);
      if (!n.ok()) return n.status();
      if (*n >= max) return Status(Code::refused, "the plan allows " + std::to_string(max));
      Account a;
      a.id = id;
      a.workspace_id = 1;
      a.username = "smtpuser_" + std::to_string(id);
      MIGO_TRY(t.put(a));
      return t.append_audit(AuditEntry{0, 100, 0, name, 1, "account.create", a.username});
    });
  }
};

Status seed(Store& s) {
  return s.write([](WriteTxn& t) { return t.put(Workspace{1, "acme", "10k", 1}); });
}

}  // namespace

TEST_CASE("one store makes the shared state; a new relay joins by snapshot; changes flow in order") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  test::RedisServer redis(tmp.path());
  Relay a("relay-a", redis.url()), b("relay-b", redis.url());
  REQUIRE(seed(*a.store).ok());
  CHECK(b.sync().status().code() == Code::refused);  // nothing shared yet
  auto head = shared_init(*a.store, *a.state, a.name, 100);
  REQUIRE(head.ok());
  CHECK(head->seq == 1);
  CHECK(shared_init(*a.store, *a.state, a.name, 100).status().code() == Code::exists);
  auto joined = b.sync();
  INFO(joined.status().message());
  REQUIRE(joined.ok());
  CHECK(joined->rebuilt);
  CHECK(b.rows() == a.rows());
  CHECK(b.at() == a.at());
  // Changes on either relay, applied on the other in order.
  REQUIRE(a.add_account(11).ok());
  REQUIRE(a.add_account(12).ok());
  auto r = b.sync();
  REQUIRE(r.ok());
  CHECK(r->applied == 2);
  CHECK_FALSE(r->rebuilt);
  REQUIRE(b.add_account(21).ok());
  REQUIRE(a.sync().ok());
  CHECK(a.rows() == b.rows());
  CHECK(a.at().seq == 4);
  // The audit log travelled with them.
  auto audit = test::read_ok<std::vector<AuditEntry>>(*a.store, [](const ReadTxn& t) { return t.audit(0); });
  REQUIRE(audit.size() == 3);
  CHECK(audit.back().user == "relay-b");
  // A store not yet synced is behind: its change is published only after
  // catching up, and judged against everything (the limit counts 4, not 3).
  REQUIRE(a.add_account(13).ok());
  CHECK(b.at().seq == 4);
  CHECK(b.add_account(22, 4).code() == Code::refused);
  CHECK(b.at().seq == 5);  // it caught up on the way
  REQUIRE(b.add_account(22, 5).ok());
  REQUIRE(a.sync().ok());
  CHECK(a.rows() == b.rows());
}

TEST_CASE("a rule holds across relays: two admins at once never pass an account limit") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  test::RedisServer redis(tmp.path());
  Relay a("relay-a", redis.url()), b("relay-b", redis.url());
  REQUIRE(seed(*a.store).ok());
  REQUIRE(shared_init(*a.store, *a.state, a.name, 100).ok());
  REQUIRE(b.sync().ok());
  std::atomic<int> made{0}, refused{0}, other{0};
  std::mutex mu;
  std::string why;
  auto admin = [&](Relay& r, uint64_t base) {
    for (uint64_t i = 0; i < 10; i++) {
      Status s = r.add_account(base + i, 8);
      if (s.ok()) made++;
      else if (s.code() == Code::refused) refused++;
      else {
        other++;
        std::lock_guard lock(mu);
        why = s.message();
      }
    }
  };
  std::thread t1(admin, std::ref(a), 100), t2(admin, std::ref(b), 200);
  t1.join();
  t2.join();
  INFO(why);
  CHECK(other == 0);
  CHECK(made == 8);
  REQUIRE(a.sync().ok());
  REQUIRE(b.sync().ok());
  CHECK(a.rows() == b.rows());
  CHECK(test::read_ok<uint32_t>(*a.store, [](const ReadTxn& t) { return t.account_count(1); }) == 8);
}

TEST_CASE("fallen behind the stream: a snapshot; a store of its own, another origin, or Redis behind: refused") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  test::RedisServer redis(tmp.path());
  Relay a("relay-a", redis.url()), b("relay-b", redis.url()), c("relay-c", redis.url());
  REQUIRE(seed(*a.store).ok());
  REQUIRE(shared_init(*a.store, *a.state, a.name, 100).ok());
  REQUIRE(b.sync().ok());
  for (uint64_t id = 1; id <= 5; id++) REQUIRE(a.add_account(id).ok());
  // The stream keeps only the last change: B is past what it keeps.
  REQUIRE(test::run(redis.cli({"XTRIM", "migo:{state}:log", "MAXLEN", "1"})).rc == 0);
  auto r = b.sync();
  REQUIRE(r.ok());
  CHECK(r->rebuilt);
  CHECK(b.rows() == a.rows());
  // C holds a workspace of its own: joining would replace it.
  REQUIRE(c.store->write([](WriteTxn& t) { return t.put(Workspace{9, "mine", "10k", 1}); }).ok());
  auto refused = c.sync();
  CHECK(refused.status().code() == Code::refused);
  CHECK_THAT(refused.status().message(), Catch::Contains("workspaces of its own"));
  SyncOptions replace;
  replace.replace = true;
  REQUIRE(c.sync(replace).ok());
  CHECK(c.rows() == a.rows());
  // Redis lost its last changes (as an asynchronous failover may): B does
  // not go back in time unless told to.
  REQUIRE(test::run(redis.cli({"SET", "migo:{state}:seq", "3"})).rc == 0);
  auto behind = b.sync();
  CHECK(behind.status().code() == Code::refused);
  CHECK_THAT(behind.status().message(), Catch::Contains("Redis is behind this store"));
  // A publisher behind... is not: Redis's number is the one to follow.
  CHECK(b.add_account(99).code() == Code::refused);
  REQUIRE(b.sync(replace).ok());
  CHECK(b.at().seq == 3);
  // Another shared state entirely (Redis emptied and made again elsewhere).
  REQUIRE(test::run(redis.cli({"FLUSHALL"})).rc == 0);
  Relay d("relay-d", redis.url());
  REQUIRE(seed(*d.store).ok());
  REQUIRE(shared_init(*d.store, *d.state, d.name, 100).ok());
  CHECK_THAT(b.sync().status().message(), Catch::Contains("follows shared state"));
  CHECK(b.add_account(98).code() == Code::refused);
}

TEST_CASE("Redis gone: an admin change changes nothing anywhere, and says so") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  auto redis = std::make_unique<test::RedisServer>(tmp.path());
  Relay a("relay-a", redis->url());
  REQUIRE(seed(*a.store).ok());
  REQUIRE(shared_init(*a.store, *a.state, a.name, 100).ok());
  auto before = a.rows();
  redis->stop();
  Status s = a.add_account(7);
  CHECK(s.code() == Code::unavailable);
  CHECK(a.rows() == before);
  CHECK(a.at().seq == 1);
}
