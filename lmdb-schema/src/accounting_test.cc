#include "migo/accounting.h"

#include <catch2/catch.hpp>

#include "fresh_store.h"
#include "temp_dir.h"

using namespace migo;

namespace {
struct Fixture : test::OneAccountStore {
  Fixture() : OneAccountStore(5) {}
  Status write(const std::function<Status(WriteTxn&)>& fn) { return store->write(fn); }
  Usage usage(int64_t now) {
    return test::read_ok<Usage>(*store, [&](const ReadTxn& t) { return t.usage(9, now); });
  }
  AccountStats stats() {
    return test::read_ok<AccountStats>(*store, [](const ReadTxn& t) { return t.stats(5); });
  }
};
const int64_t kNow = 1798675200;  // 2026-12-31 00:00 UTC
}  // namespace

TEST_CASE("commit counts usage, statistics and the queue entry once") {
  Fixture f;
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "QID1", 3, kNow); }).ok());
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "QID1", 3, kNow); }).ok());  // retried
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "QID2", 2, kNow + 60); }).ok());
  Usage u = f.usage(kNow + 60);
  CHECK(u.hour == 5);
  CHECK(u.month == 5);
  AccountStats s = f.stats();
  CHECK(s.total_sent == 5);
  CHECK(s.sent_this_month == 5);
  CHECK(s.month == 202612);
  CHECK(s.last_used == kNow + 60);
}

TEST_CASE("refund takes back exactly what was committed, once") {
  Fixture f;
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "QID1", 3, kNow); }).ok());
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "QID2", 4, kNow); }).ok());
  uint32_t n = 0;
  REQUIRE(f.write([&](WriteTxn& t) { return refund_recipients(t, "QID1", &n); }).ok());
  CHECK(n == 3);
  REQUIRE(f.write([&](WriteTxn& t) { return refund_recipients(t, "QID1", &n); }).ok());
  CHECK(n == 0);  // idempotent
  REQUIRE(f.write([&](WriteTxn& t) { return refund_recipients(t, "NEVER", &n); }).ok());
  CHECK(n == 0);
  CHECK(f.usage(kNow).hour == 4);
  CHECK(f.usage(kNow).month == 4);
  CHECK(f.stats().total_sent == 4);
  CHECK(f.stats().sent_this_month == 4);
}

TEST_CASE("a refund of a message counted on the shared counters leaves a shared refund; a local one does not") {
  Fixture f;
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "SHARED", 3, kNow, true); }).ok());
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "LOCAL", 2, kNow); }).ok());
  using Refunds = std::vector<std::pair<std::string, uint64_t>>;
  auto refunds = [&] {
    return test::read_ok<Refunds>(*f.store, [](const ReadTxn& t) { return t.shared_refunds(100); });
  };
  CHECK(refunds().empty());
  uint32_t n = 0;
  REQUIRE(f.write([&](WriteTxn& t) { return refund_recipients(t, "LOCAL", &n); }).ok());
  CHECK(n == 2);
  CHECK(refunds().empty());
  REQUIRE(f.write([&](WriteTxn& t) { return refund_recipients(t, "SHARED", &n); }).ok());
  CHECK(n == 3);
  CHECK(refunds() == Refunds{{"SHARED", 9}});  // the workspace whose windows hold them
  REQUIRE(f.write([&](WriteTxn& t) { return refund_recipients(t, "SHARED", &n); }).ok());  // again: nothing
  CHECK(n == 0);
  CHECK(refunds().size() == 1);
  REQUIRE(f.write([&](WriteTxn& t) { return t.erase_shared_refund("SHARED"); }).ok());
  CHECK(refunds().empty());
  CHECK(f.usage(kNow).month == 0);  // this relay's own share went back at once
}

TEST_CASE("a refund in the next month leaves that month's figures alone") {
  Fixture f;
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "OLD", 3, kNow + 86399); }).ok());
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "NEW", 2, kNow + 86400); }).ok());
  REQUIRE(f.write([&](WriteTxn& t) { return refund_recipients(t, "OLD"); }).ok());
  Usage u = f.usage(kNow + 86400);
  CHECK(u.month == 2);  // January untouched by December's refund
  CHECK(u.day == 2);
  CHECK(f.stats().sent_this_month == 2);
  CHECK(f.stats().total_sent == 2);
}

TEST_CASE("usage_minutes lists the day's buckets oldest first") {
  Fixture f;
  REQUIRE(f.write([&](WriteTxn& t) { return t.add_usage(9, kNow, 2); }).ok());
  REQUIRE(f.write([&](WriteTxn& t) { return t.add_usage(9, kNow + 600, 5); }).ok());
  REQUIRE(f.store->read([&](const ReadTxn& t) {
    auto m = t.usage_minutes(9, kNow + 600);
    REQUIRE(m.ok());
    REQUIRE(m->size() == 2);
    CHECK((*m)[0] == std::pair<uint64_t, uint64_t>{kNow / 60, 2});
    CHECK((*m)[1] == std::pair<uint64_t, uint64_t>{kNow / 60 + 10, 5});
    return Status::Ok();
  }).ok());
}

TEST_CASE("a clock stepped back forgets no recent usage") {
  Fixture f;
  // Counted at 00:30 and 00:40; then the clock steps back to 00:20.
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "QID1", 3, kNow + 1800); }).ok());
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "QID2", 4, kNow + 2400); }).ok());
  int64_t stepped = kNow + 1200;
  Usage u = f.usage(stepped);
  CHECK(u.hour == 7);
  CHECK(u.day == 7);
  // The "future" buckets count as the current minute's, oldest first.
  REQUIRE(f.store->read([&](const ReadTxn& t) {
    auto m = t.usage_minutes(9, stepped);
    REQUIRE(m.ok());
    REQUIRE(m->size() == 2);
    CHECK((*m)[0] == std::pair<uint64_t, uint64_t>{stepped / 60, 3});
    CHECK((*m)[1] == std::pair<uint64_t, uint64_t>{stepped / 60, 4});
    return Status::Ok();
  }).ok());
  // Sending goes on at the stepped clock: everything still counts.
  REQUIRE(f.write([&](WriteTxn& t) { return commit_recipients(t, f.acct, "QID3", 1, stepped + 60); }).ok());
  CHECK(f.usage(stepped + 60).hour == 8);
  // An hour after the step, the window has moved past them as it would have.
  CHECK(f.usage(kNow + 2400 + 3600).hour == 0);
  CHECK(f.usage(kNow + 2400 + 3600).day == 8);
  // Buckets more than a day ahead (a wrong clock, not a step) are ignored.
  CHECK(f.usage(kNow - 2 * 86400).hour == 0);
  CHECK(f.usage(kNow - 2 * 86400).day == 0);
}
