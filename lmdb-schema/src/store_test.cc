#include "migo/store.h"

#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "migo/codec.h"
#include "fresh_store.h"
#include "temp_dir.h"

using namespace migo;
using migo::test::TempDir;

using migo::test::fresh_store;

static std::unique_ptr<Store> reopen(const std::string& dir) {
  auto s = Store::open(dir, {});
  REQUIRE(s.ok());
  return std::move(*s);
}

static Account make_account(uint64_t id, uint64_t ws, const std::string& user) {
  Account a;
  a.id = id;
  a.workspace_id = ws;
  a.username = user;
  a.label = "label " + user;
  a.created = 1700000000;
  return a;
}

TEST_CASE("a missing or uninitialised store is not_initialized, not a crash") {
  TempDir tmp;
  CHECK(Store::open(tmp / "nothing", {}).status().code() == Code::not_initialized);
  StoreOptions create;
  create.create = true;
  { auto s = Store::open(tmp / "db", create); REQUIRE(s.ok()); }  // tables, no schema yet
  CHECK(Store::open(tmp / "db", {}).status().code() == Code::not_initialized);
}

TEST_CASE("init_schema creates the built-in plans and is idempotent") {
  TempDir tmp;
  StoreOptions create;
  create.create = true;
  auto s = Store::open(tmp.path(), create);
  REQUIRE(s.ok());
  auto before = (*s)->init_schema(1700000000);
  REQUIRE(before.ok());
  CHECK(*before == 0);
  auto again = (*s)->init_schema(1700000001);
  REQUIRE(again.ok());
  CHECK(*again == kSchemaVersion);
  auto store = reopen(tmp.path());
  REQUIRE(store->read([](const ReadTxn& t) {
    auto plans = t.plans();
    REQUIRE(plans.ok());
    REQUIRE(plans->size() == 3);
    CHECK((*plans)[0] == Plan{"10k", 5, 10000, 2000, 500});
    CHECK((*plans)[1].max_accounts == 10);
    CHECK((*plans)[2].max_accounts == 15);
    return Status::Ok();
  }).ok());
}

TEST_CASE("a store from a newer schema is refused") {
  TempDir tmp;
  {
    auto s = fresh_store(tmp.path());
    REQUIRE(s->write([](WriteTxn& t) {
      return t.set_meta("schema_version", Encoder().u32(kSchemaVersion + 1).bytes());
    }).ok());
  }
  auto r = Store::open(tmp.path(), {});
  CHECK(r.status().code() == Code::not_initialized);
  CHECK_THAT(r.status().message(), Catch::Contains("newer"));
  StoreOptions create;
  create.create = true;
  auto c = Store::open(tmp.path(), create);
  REQUIRE(c.ok());
  CHECK((*c)->init_schema(0).status().code() == Code::refused);
}

TEST_CASE("accounts, their indexes and statistics") {
  TempDir tmp;
  auto store = fresh_store(tmp.path());
  Workspace ws{11, "acme", "10k", 1700000000};
  REQUIRE(store->write([&](WriteTxn& t) {
    MIGO_TRY(t.put(ws));
    MIGO_TRY(t.put(make_account(1, 11, "smtpuser_one")));
    MIGO_TRY(t.put(make_account(2, 11, "smtpuser_two")));
    MIGO_TRY(t.put(make_account(3, 12, "smtpuser_other")));
    return t.put_stats(1, AccountStats{5, 202611, 5, 4, 1, 0, 0, 1700000100});
  }).ok());
  REQUIRE(store->read([&](const ReadTxn& t) {
    CHECK(*t.workspace_by_name("acme") == ws);
    CHECK(t.workspace_by_name("nope").status().code() == Code::not_found);
    CHECK(t.account_by_username("smtpuser_two")->id == 2);
    CHECK(t.account_by_username("smtpuser_nobody").status().code() == Code::not_found);
    CHECK(*t.account_count(11) == 2);
    CHECK(t.accounts(11)->size() == 2);
    CHECK(t.stats(1)->total_sent == 5);
    CHECK(*t.stats(2) == AccountStats{});  // absent statistics are zeros
    return Status::Ok();
  }).ok());
  // Usernames and workspaces never change under an id.
  Status s = store->write([](WriteTxn& t) { return t.put(make_account(1, 11, "smtpuser_renamed")); });
  CHECK(s.code() == Code::invalid);
  REQUIRE(store->write([](WriteTxn& t) -> Status {
    auto a = t.account(1);
    if (!a.ok()) return a.status();
    return t.erase_account(*a);
  }).ok());
  REQUIRE(store->read([](const ReadTxn& t) {
    CHECK(t.account_by_username("smtpuser_one").status().code() == Code::not_found);
    CHECK(*t.account_count(11) == 1);
    CHECK(*t.stats(1) == AccountStats{});
    return Status::Ok();
  }).ok());
}

TEST_CASE("usage: rolling hour and day, calendar month") {
  TempDir tmp;
  auto store = fresh_store(tmp.path());
  const int64_t t0 = 1798675200;  // 2026-12-31 00:00:00 UTC
  auto add = [&](int64_t at, uint64_t n) {
    REQUIRE(store->write([&](WriteTxn& t) { return t.add_usage(9, at, n); }).ok());
  };
  auto usage = [&](int64_t at) {
    Usage u;
    REQUIRE(store->read([&](const ReadTxn& t) {
      auto r = t.usage(9, at);
      if (!r.ok()) return r.status();
      u = *r;
      return Status::Ok();
    }).ok());
    return u;
  };
  add(t0, 3);
  add(t0 + 30 * 60, 4);
  add(t0 + 30 * 60 + 59, 1);  // same minute bucket
  CHECK(usage(t0 + 30 * 60 + 59).hour == 8);
  // 60 minutes after the first bucket, it has left the hour but not the day.
  Usage u = usage(t0 + 60 * 60);
  CHECK(u.hour == 5);
  CHECK(u.day == 8);
  CHECK(u.month == 8);
  CHECK(usage(t0 + 59 * 60 + 59).hour == 8);
  // Past midnight on Dec 31 the month is new; the rolling day still counts.
  u = usage(t0 + 24 * 3600);
  CHECK(u.month == 0);
  CHECK(u.day == 5);
  CHECK(u.hour == 0);
  CHECK(usage(t0 + 24 * 3600 + 30 * 60 - 1).day == 5);
  // Exactly 24 hours after the second bucket it leaves the day as well.
  add(t0 + 24 * 3600 + 30 * 60, 2);  // also prunes the buckets that left
  u = usage(t0 + 24 * 3600 + 30 * 60);
  CHECK(u.day == 2);
  CHECK(u.month == 2);
  CHECK(usage(t0 + 48 * 3600 + 30 * 60).day == 0);
  // Another workspace is unaffected.
  REQUIRE(store->read([&](const ReadTxn& t) {
    CHECK(t.usage(10, t0 + 1800)->hour == 0);
    return Status::Ok();
  }).ok());
}

TEST_CASE("a full map grows and the write goes through") {
  TempDir tmp;
  StoreOptions opt;
  opt.map_size = 256 * 1024;
  auto store = fresh_store(tmp.path(), 1700000000, opt);
  size_t before = store->map_size();
  for (int i = 0; i < 200; i++) {
    REQUIRE(store->write([&](WriteTxn& t) {
      for (int j = 0; j < 50; j++) {
        uint64_t id = static_cast<uint64_t>(i * 50 + j + 1);
        MIGO_TRY(t.put(make_account(id, 1, "smtpuser_" + std::to_string(id))));
      }
      return Status::Ok();
    }).ok());
  }
  CHECK(store->map_size() > before);
  REQUIRE(store->read([](const ReadTxn& t) {
    CHECK(*t.account_count(1) == 10000);
    return Status::Ok();
  }).ok());
}

TEST_CASE("a map that may not grow further is a clean temporary error") {
  TempDir tmp;
  StoreOptions opt;
  opt.map_size = 128 * 1024;
  opt.max_map_size = 128 * 1024;
  auto store = fresh_store(tmp.path(), 1700000000, opt);
  Status s;
  for (int i = 0; i < 100 && s.ok(); i++) {
    s = store->write([&](WriteTxn& t) {
      for (int j = 0; j < 100; j++) {
        uint64_t id = static_cast<uint64_t>(i * 100 + j + 1);
        MIGO_TRY(t.put(make_account(id, 1, "smtpuser_" + std::to_string(id))));
      }
      return Status::Ok();
    });
  }
  CHECK(s.code() == Code::unavailable);
  CHECK(s.temporary());
  // What was committed before is intact.
  CHECK(store->read([](const ReadTxn& t) { return t.account_count(1).status(); }).ok());
}

TEST_CASE("two processes updating the same counters lose no update") {
  TempDir tmp;
  { auto s = fresh_store(tmp.path()); }
  constexpr int kPerProcess = 400;
  pid_t kids[2];
  for (pid_t& kid : kids) {
    kid = fork();
    REQUIRE(kid >= 0);
    if (kid == 0) {
      // A child opens its own environment: no env crosses fork().
      auto s = Store::open(tmp.path(), {});
      if (!s.ok()) _exit(2);
      for (int i = 0; i < kPerProcess; i++) {
        Status st = (*s)->write([](WriteTxn& t) -> Status {
          auto stats = t.stats(77);
          if (!stats.ok()) return stats.status();
          stats->total_sent += 1;
          MIGO_TRY(t.put_stats(77, *stats));
          return t.add_usage(5, 1700000000, 1);
        });
        if (!st.ok()) _exit(3);
      }
      _exit(0);
    }
  }
  for (pid_t kid : kids) {
    int status = 0;
    REQUIRE(waitpid(kid, &status, 0) == kid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto store = reopen(tmp.path());
  REQUIRE(store->read([](const ReadTxn& t) {
    CHECK(t.stats(77)->total_sent == 2 * kPerProcess);
    CHECK(t.usage(5, 1700000000)->hour == 2 * kPerProcess);
    return Status::Ok();
  }).ok());
}

TEST_CASE("a store refuses to be used across fork") {
  TempDir tmp;
  auto store = fresh_store(tmp.path());
  pid_t kid = fork();
  REQUIRE(kid >= 0);
  if (kid == 0) {
    Status s = store->read([](const ReadTxn&) { return Status::Ok(); });
    _exit(s.code() == Code::unavailable ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(kid, &status, 0) == kid);
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("threads read while another writes") {
  TempDir tmp;
  auto store = fresh_store(tmp.path());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; r++) {
    readers.emplace_back([&] {
      while (!stop) {
        Status s = store->read([](const ReadTxn& t) { return t.stats(1).status(); });
        if (!s.ok()) bad++;
      }
    });
  }
  for (int i = 0; i < 300; i++) {
    REQUIRE(store->write([&](WriteTxn& t) {
      return t.put_stats(1, AccountStats{static_cast<uint64_t>(i), 0, 0, 0, 0, 0, 0, 0});
    }).ok());
  }
  stop = true;
  for (auto& th : readers) th.join();
  CHECK(bad == 0);
}

TEST_CASE("a damaged record reads as corrupt, never as data") {
  TempDir tmp;
  { auto s = fresh_store(tmp.path()); }
  // Write garbage under a valid key with the raw LMDB API.
  MDB_env* env;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 32);
  REQUIRE(mdb_env_open(env, tmp.path().c_str(), 0, 0600) == 0);
  MDB_txn* txn;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi accounts, usernames;
  REQUIRE(mdb_dbi_open(txn, "accounts", 0, &accounts) == 0);
  REQUIRE(mdb_dbi_open(txn, "usernames", 0, &usernames) == 0);
  std::string key = key_of(5), junk = "\x01garbage";
  MDB_val k{key.size(), key.data()}, v{junk.size(), junk.data()};
  REQUIRE(mdb_put(txn, accounts, &k, &v, 0) == 0);
  std::string uname = "smtpuser_broken";
  MDB_val uk{uname.size(), uname.data()}, uv{key.size(), key.data()};
  REQUIRE(mdb_put(txn, usernames, &uk, &uv, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);

  auto store = reopen(tmp.path());
  Status s = store->read([](const ReadTxn& t) { return t.account_by_username("smtpuser_broken").status(); });
  CHECK(s.code() == Code::corrupt);
  CHECK(s.temporary());
}

TEST_CASE("audit entries append in order and filter by workspace") {
  TempDir tmp;
  auto store = fresh_store(tmp.path());
  for (int i = 0; i < 3; i++) {
    REQUIRE(store->write([&](WriteTxn& t) {
      return t.append_audit(AuditEntry{0, 1700000000 + i, 0, "root", static_cast<uint64_t>(i % 2 + 1),
                                       "test.action", "n=" + std::to_string(i)});
    }).ok());
  }
  REQUIRE(store->read([](const ReadTxn& t) {
    auto all = t.audit(0);
    REQUIRE(all->size() == 3);
    CHECK((*all)[0].seq == 1);
    CHECK((*all)[2].seq == 3);
    CHECK((*all)[2].detail == "n=2");
    CHECK(t.audit(1)->size() == 2);
    CHECK(t.audit(2)->size() == 1);
    return Status::Ok();
  }).ok());
}

TEST_CASE("retention: old queue entries and report keys are pruned, oldest first, a bounded number a call") {
  TempDir tmp;
  auto store = fresh_store(tmp.path(), 0);
  const int64_t day = 86400;
  REQUIRE(store->write([&](WriteTxn& t) -> Status {
    for (int i = 0; i < 10; i++) {
      MIGO_TRY(t.put_queue("OLD" + std::to_string(i), QueueEntry{7, i * 60, 1, 0, 0}));
      MIGO_TRY(t.mark_report("old-report-" + std::to_string(i), i * 60).status());
    }
    MIGO_TRY(t.put_queue("NEW", QueueEntry{7, 40 * day, 1, 0, 0}));
    MIGO_TRY(t.put_queue("OTHER", QueueEntry{8, 40 * day, 1, 0, 0}));
    return t.mark_report("new-report", 40 * day).status();
  }).ok());
  // A removed entry takes its expiry key with it.
  REQUIRE(store->write([&](WriteTxn& t) { return t.erase_queue("OLD0"); }).ok());
  auto queued7 = [&] {
    std::vector<std::string> q;
    REQUIRE(store->read([&](const ReadTxn& t) -> Status {
      auto r = t.queued_for(7);
      if (r.ok()) q = *r;
      return r.status();
    }).ok());
    return q;
  };
  CHECK(queued7().size() == 10);  // OLD1..OLD9 and NEW
  PruneCounts total;
  for (int round = 0; round < 10; round++) {
    PruneCounts n;
    REQUIRE(store->write([&](WriteTxn& t) -> Status {
      auto r = t.prune_expired(30 * day, 7);
      if (r.ok()) n = *r;
      return r.status();
    }).ok());
    CHECK(n.index <= 7);
    total.index += n.index;
    total.queue += n.queue;
    total.reports += n.reports;
  }
  CHECK(total.index == 19);
  CHECK(total.queue == 9);
  CHECK(total.reports == 10);
  CHECK(queued7() == std::vector<std::string>{"NEW"});
  REQUIRE(store->read([&](const ReadTxn& t) -> Status {
    CHECK(t.queue_entry("OLD5").status().code() == Code::not_found);
    CHECK(t.queue_entry("OTHER").ok());
    CHECK_FALSE(*t.report_seen("old-report-3"));
    CHECK(*t.report_seen("new-report"));
    return {};
  }).ok());
}

TEST_CASE("a report key keeps the time it was first marked") {
  TempDir tmp;
  auto store = fresh_store(tmp.path(), 0);
  REQUIRE(store->write([&](WriteTxn& t) -> Status {
    auto first = t.mark_report("k", 100);
    auto again = t.mark_report("k", 5000000);  // marked again much later
    REQUIRE(first.ok());
    REQUIRE(again.ok());
    CHECK(*first);
    CHECK_FALSE(*again);
    return again.status();
  }).ok());
  PruneCounts n;
  REQUIRE(store->write([&](WriteTxn& t) -> Status {
    auto r = t.prune_expired(1000, 100);
    if (r.ok()) n = *r;
    return r.status();
  }).ok());
  CHECK(n.index == 1);
  CHECK(n.reports == 1);
}

namespace {
// Makes the store in `dir` what an older schema left: the `emptied` tables
// emptied, the `deleted` ones gone, and schema_version `version` — by LMDB
// itself, as that build would have.
void as_older_schema(const std::string& dir, uint32_t version, std::vector<const char*> emptied,
                     std::vector<const char*> deleted) {
  MDB_env* env;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 32);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  MDB_txn* txn;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  for (auto [names, del] : {std::pair{&emptied, 0}, std::pair{&deleted, 1}})
    for (const char* name : *names) {
      MDB_dbi dbi;
      REQUIRE(mdb_dbi_open(txn, name, 0, &dbi) == 0);
      REQUIRE(mdb_drop(txn, dbi, del) == 0);
    }
  MDB_dbi meta;
  REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
  std::string k = "schema_version", v = Encoder().u32(version).bytes();
  MDB_val key{k.size(), k.data()}, val{v.size(), v.data()};
  REQUIRE(mdb_put(txn, meta, &key, &val, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

// What `migoctl init` does to such a store: the daemons refuse it until
// then; init says which version it found, and upgrades it.
std::unique_ptr<Store> upgraded(const std::string& dir, uint32_t from) {
  CHECK(Store::open(dir, {}).status().code() == Code::not_initialized);  // "run: migoctl init"
  StoreOptions create;
  create.create = true;
  auto store = Store::open(dir, create);
  REQUIRE(store.ok());
  auto before = (*store)->init_schema(0);
  REQUIRE(before.ok());
  CHECK(*before == from);
  return std::move(*store);
}
}  // namespace

TEST_CASE("a schema 1 store is upgraded: its queue and reports are indexed") {
  TempDir tmp;
  {
    auto store = fresh_store(tmp.path(), 0);
    REQUIRE(store->write([&](WriteTxn& t) -> Status {
      MIGO_TRY(t.put_queue("Q1", QueueEntry{7, 60, 1, 0, 0}));
      return t.mark_report("r1", 60).status();
    }).ok());
  }
  // What schema 1 had: no index keys, version 1.
  as_older_schema(tmp.path(), 1, {"expiry", "queue_by_account", "shared_refunds"}, {});
  auto store = upgraded(tmp.path(), 1);
  REQUIRE(store->read([&](const ReadTxn& t) -> Status {
    CHECK(*t.queued_for(7) == std::vector<std::string>{"Q1"});
    return {};
  }).ok());
  PruneCounts n;
  REQUIRE(store->write([&](WriteTxn& t) -> Status {
    auto r = t.prune_expired(1000, 100);
    if (r.ok()) n = *r;
    return r.status();
  }).ok());
  CHECK(n.queue == 1);
  CHECK(n.reports == 1);
}

TEST_CASE("a schema 2 store is upgraded to 3: the shared refunds table, nothing else touched") {
  TempDir tmp;
  {
    auto store = fresh_store(tmp.path(), 0);
    REQUIRE(store->write([&](WriteTxn& t) { return t.put_queue("Q1", QueueEntry{7, 60, 1, 0, 0}); }).ok());
  }
  // What schema 2 had: no shared_refunds table, version 2.
  as_older_schema(tmp.path(), 2, {}, {"shared_refunds"});
  auto store = upgraded(tmp.path(), 2);
  REQUIRE(store->read([&](const ReadTxn& t) -> Status {
    CHECK(t.queue_entry("Q1")->recipients == 1);
    CHECK(t.shared_refunds(10)->empty());
    return {};
  }).ok());
  CHECK(Store::open(tmp.path(), {}).ok());
}
