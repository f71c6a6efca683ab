#include "migo/outcomes.h"

#include <catch2/catch.hpp>

#include "fresh_store.h"
#include "migo/accounting.h"
#include "temp_dir.h"

using namespace migo;

namespace {
const int64_t kNow = 1798675200;  // 2026-12-31 00:00 UTC

struct Fixture : test::OneAccountStore {
  Fixture() : OneAccountStore(5) {
    REQUIRE(store->write([&](WriteTxn& t) { return commit_recipients(t, acct, "QID1", 3, kNow); }).ok());
  }
  Attribution delivery(std::string_view qid, std::string_view rcpt, Delivery d) {
    return test::write_ok<Attribution>(*store, [&](WriteTxn& t) { return record_delivery(t, qid, rcpt, d, kNow); });
  }
  Attribution with_tag(bool complaint, const TagFields& tag, std::string_view rcpt) {
    return test::write_ok<Attribution>(*store, [&](WriteTxn& t) {
      return complaint ? record_complaint(t, tag, rcpt, kNow) : record_async_bounce(t, tag, rcpt, kNow);
    });
  }
  Attribution expired(std::string_view qid) {
    return test::write_ok<Attribution>(*store, [&](WriteTxn& t) { return record_expired(t, qid, kNow); });
  }
  AccountStats stats() {
    return test::read_ok<AccountStats>(*store, [](const ReadTxn& t) { return t.stats(5); });
  }
};
}  // namespace

TEST_CASE("log outcomes count per recipient for the queue id's account") {
  Fixture f;
  CHECK(f.delivery("QID1", "a@x.test", Delivery::deferred) == Attribution::counted);
  CHECK(f.delivery("QID1", "a@x.test", Delivery::sent) == Attribution::counted);
  CHECK(f.delivery("QID1", "b@x.test", Delivery::bounced) == Attribution::counted);
  CHECK(f.delivery("OTHER", "c@x.test", Delivery::sent) == Attribution::unattributed);
  AccountStats s = f.stats();
  CHECK(s.total_sent == 3);
  CHECK(s.delivered == 1);
  CHECK(s.bounced == 1);
  CHECK(s.deferred == 1);
  CHECK(delivery_rate(s).value() == Approx(0.5));
  // Expiry bounces the one recipient still pending, once.
  CHECK(f.expired("QID1") == Attribution::counted);
  CHECK(f.expired("QID1") == Attribution::duplicate);
  CHECK(f.stats().bounced == 2);
  REQUIRE(f.store->write([&](WriteTxn& t) { return record_removed(t, "QID1"); }).ok());
  CHECK(f.delivery("QID1", "a@x.test", Delivery::sent) == Attribution::unattributed);
  CHECK(delivery_rate(AccountStats{}) == std::nullopt);
}

TEST_CASE("a bounce is counted once, from the log or from a DSN, whichever comes first") {
  Fixture f;
  TagFields tag{5, "QID1", kNow};
  CHECK(f.delivery("QID1", "a@x.test", Delivery::sent) == Attribution::counted);
  // An asynchronous bounce moves a delivered recipient to bounced.
  CHECK(f.with_tag(false, tag, "A@X.test") == Attribution::counted);
  CHECK(f.with_tag(false, tag, "a@x.test") == Attribution::duplicate);
  AccountStats s = f.stats();
  CHECK(s.delivered == 0);
  CHECK(s.bounced == 1);
  // Postfix's own bounce notice (a DSN) fed in before the follower reads
  // the bounce line: the recipient is not known yet, so the log counts it,
  // and the DSN fed in again afterwards repeats it.
  CHECK(f.with_tag(false, tag, "b@x.test") == Attribution::unknown_recipient);
  CHECK(f.delivery("QID1", "b@x.test", Delivery::bounced) == Attribution::counted);
  CHECK(f.with_tag(false, tag, "b@x.test") == Attribution::duplicate);
  CHECK(f.stats().bounced == 2);
}

TEST_CASE("reports count only recipients the message really had") {
  Fixture f;
  TagFields tag{5, "QID1", kNow};
  CHECK(f.delivery("QID1", "real@x.test", Delivery::sent) == Attribution::counted);
  // One genuine tag, two reports of 1,000 invented recipients each.
  for (int report = 0; report < 2; report++)
    for (int i = 0; i < 1000; i++) {
      std::string rcpt = "invented" + std::to_string(i) + "@x.test";
      CHECK(f.with_tag(false, tag, rcpt) == Attribution::unknown_recipient);
      CHECK(f.with_tag(true, tag, rcpt) == Attribution::unknown_recipient);
    }
  AccountStats s = f.stats();
  CHECK(s.bounced == 0);
  CHECK(s.complaints == 0);
  CHECK(s.delivered == 1);
  // The one real recipient: one bounce, one complaint, whatever the reports say.
  CHECK(f.with_tag(false, tag, "real@x.test") == Attribution::counted);
  CHECK(f.with_tag(true, tag, "real@x.test") == Attribution::counted);
  CHECK(f.with_tag(true, tag, "") == Attribution::counted);
  CHECK(f.with_tag(true, tag, "") == Attribution::duplicate);
  s = f.stats();
  CHECK(s.bounced == 1);
  CHECK(s.complaints == 2);
  CHECK(s.delivered == 0);
  // Another message id under the same account: nothing was delivered there.
  CHECK(f.with_tag(true, TagFields{5, "QID2", kNow}, "") == Attribution::unknown_recipient);
  CHECK(f.with_tag(false, TagFields{5, "QID2", kNow}, "real@x.test") == Attribution::unknown_recipient);
}

TEST_CASE("complaints count once per message and recipient; unknown accounts are nobody's") {
  Fixture f;
  TagFields tag{5, "QID1", kNow};
  CHECK(f.delivery("QID1", "r@x.test", Delivery::sent) == Attribution::counted);
  CHECK(f.with_tag(true, tag, "") == Attribution::counted);
  CHECK(f.with_tag(true, tag, "") == Attribution::duplicate);
  CHECK(f.with_tag(true, tag, "r@x.test") == Attribution::counted);
  CHECK(f.stats().complaints == 2);
  CHECK(f.with_tag(true, TagFields{6, "QID1", kNow}, "") == Attribution::unattributed);
  CHECK(f.with_tag(false, TagFields{6, "QID1", kNow}, "r@x.test") == Attribution::unattributed);
}

TEST_CASE("counters, positions and report keys round-trip through the store") {
  Fixture f;
  REQUIRE(f.store->write([&](WriteTxn& t) {
    MIGO_TRY(t.add_counter("log.lines", 5));
    MIGO_TRY(t.add_counter("log.lines", 2));
    return t.put_follow_position("/var/log/mail.log", FollowPosition{7, 100, "fp", kNow});
  }).ok());
  REQUIRE(f.store->read([&](const ReadTxn& t) {
    CHECK(t.counter("log.lines").value() == 7);
    CHECK(t.counter("absent").value() == 0);
    CHECK(t.counters().value().size() == 1);
    CHECK(t.follow_position("/var/log/mail.log").value().offset == 100);
    CHECK(t.follow_position("/other").status().code() == Code::not_found);
    return Status();
  }).ok());
}
