// syncd_test.cc — reports that reach the wrong relay: a DSN and a complaint
// whose tag verifies, fed to a relay that never delivered the message, are
// forwarded through the shared state and counted, once, by the relay that
// delivered it; a third relay and the forwarding relay count nothing more.
#include "syncd.h"

#include <catch2/catch.hpp>

#include "fresh_store.h"
#include "ingest.h"
#include "migo/accounting.h"
#include "migo/tag.h"
#include "redis_server.h"
#include "temp_dir.h"

using namespace migo;

namespace {

const int64_t kNow = 1798675200;
const bool kNoSigpipe = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();

std::string dsn(const std::string& tag, const std::string& rcpt) {
  return "From: MAILER-DAEMON@mx.test\nMIME-Version: 1.0\n"
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
         "--b\nContent-Type: text/plain\n\nsorry\n"
         "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.test\n\n"
         "Final-Recipient: rfc822; " + rcpt + "\nAction: failed\nStatus: 5.1.1\n\n"
         "--b\nContent-Type: text/rfc822-headers\n\nX-Migo-Tag: " + tag + "\nFrom: app@example.com\n\n--b--\n";
}

struct Relay {
  test::TempDir tmp;
  std::unique_ptr<Store> store = test::fresh_store(tmp.path(), 0);
  std::optional<SharedState> state;
  std::string name;
  Account acct;
  Relay(const std::string& n, const std::string& url) : name(n) {
    acct.id = 0xaa;
    acct.workspace_id = 9;
    acct.username = "smtpuser_acct";
    REQUIRE(store->write([&](WriteTxn& t) { return t.put(acct); }).ok());
    auto c = RedisClient::lazy({*parse_redis_url(url)}, RedisOptions{2000, 50});
    REQUIRE(c.ok());
    state.emplace(std::move(*c));
  }
  AccountStats stats() {
    return test::read_ok<AccountStats>(*store, [&](const ReadTxn& t) { return t.stats(acct.id); });
  }
  uint64_t counter(const std::string& n) {
    return test::read_ok<uint64_t>(*store, [&](const ReadTxn& t) { return t.counter(n); });
  }
};

}  // namespace

TEST_CASE("a report that reached another relay is counted, once, by the relay that delivered the message") {
  REQUIRE(kNoSigpipe);
  test::TempDir tmp;
  test::RedisServer redis(tmp.path());
  Secret key(std::string(32, 'k'));
  Relay a("relay-a", redis.url()), b("relay-b", redis.url()), c("relay-c", redis.url());
  // Relay A delivered 4QUEUEz to alice.
  REQUIRE(a.store->write([&](WriteTxn& t) {
    MIGO_TRY(commit_recipients(t, a.acct, "4QUEUEz", 1, kNow));
    return record_delivery(t, "4QUEUEz", "alice@receiver.test", Delivery::sent, kNow).status();
  }).ok());
  const std::string report = dsn(make_tag(key, a.acct.id, "4QUEUEz", kNow), "alice@receiver.test");
  // The DSN reaches relay B: it cannot count it, and says it is another's.
  auto r = ingest_report(*b.store, key, report, Report::Kind::dsn, kNow);
  REQUIRE(r.ok());
  CHECK(r->items.at(0).result == "unknown_recipient");
  REQUIRE(for_another_relay(*r));
  REQUIRE(b.state->forward_report("dsn", report, "", b.name).ok());
  // A's migo-syncd ingests it: counted once; again, nothing.
  auto n = ingest_forwarded_reports(*a.store, *a.state, key, a.name, kNow);
  REQUIRE(n.ok());
  CHECK(*n == 1);
  CHECK(a.stats().bounced == 1);
  CHECK(a.stats().delivered == 0);
  CHECK(*ingest_forwarded_reports(*a.store, *a.state, key, a.name, kNow) == 0);
  REQUIRE(b.state->forward_report("dsn", report, "", b.name).ok());  // forwarded twice: a duplicate
  CHECK(*ingest_forwarded_reports(*a.store, *a.state, key, a.name, kNow) == 1);
  CHECK(a.stats().bounced == 1);
  // C never delivered it: it reads both, counts nothing, and its counters
  // do not say "unknown" for what B already said so of.
  CHECK(*ingest_forwarded_reports(*c.store, *c.state, key, c.name, kNow) == 2);
  CHECK(c.stats().bounced == 0);
  CHECK(c.counter("reports.dsn.unknown_recipient") == 0);
  // B skips its own.
  CHECK(*ingest_forwarded_reports(*b.store, *b.state, key, b.name, kNow) == 2);
  CHECK(b.counter("reports.dsn.unknown_recipient") == 1);
  // A report whose tag does not verify is never another relay's.
  auto forged = ingest_report(*b.store, Secret(std::string(32, 'x')), report, Report::Kind::dsn, kNow);
  REQUIRE(forged.ok());
  CHECK_FALSE(for_another_relay(*forged));
}
