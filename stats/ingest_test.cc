// ingest_test.cc — DSN and ARF reports counted against the account their
// verified tag names, once; forged, missing and foreign tags never are.
#include "ingest.h"

#include <catch2/catch.hpp>

#include "fresh_store.h"
#include "migo/accounting.h"
#include "migo/tag.h"
#include "temp_dir.h"

using namespace migo;

namespace {
const int64_t kNow = 1798675200;

std::string dsn(const std::string& tag, const std::string& rcpt, const std::string& action = "failed") {
  return "From: MAILER-DAEMON@mx.test\nMIME-Version: 1.0\n"
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
         "--b\nContent-Type: text/plain\n\nsorry\n"
         "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.test\n\n"
         "Final-Recipient: rfc822; " + rcpt + "\nAction: " + action + "\nStatus: 5.1.1\n\n"
         "--b\nContent-Type: text/rfc822-headers\n\n" + (tag.empty() ? "" : "X-Migo-Tag: " + tag + "\n") +
         "From: app@example.com\nSubject: x\n\n--b--\n";
}

std::string arf(const std::string& tag, const std::string& type = "abuse",
                const std::string& rcpt = "alice@receiver.test") {
  return "From: fbl@mailbox.test\nMIME-Version: 1.0\n"
         "Content-Type: multipart/report; report-type=feedback-report; boundary=\"f\"\n\n"
         "--f\nContent-Type: text/plain\n\nabuse report\n"
         "--f\nContent-Type: message/feedback-report\n\nFeedback-Type: " + type + "\nVersion: 1\n"
         "Original-Rcpt-To: <" + rcpt + ">\n\n"
         "--f\nContent-Type: message/rfc822\n\nX-Migo-Tag: " + tag + "\nFrom: app@example.com\n\nspam\n--f--\n";
}

struct Fixture : test::OneAccountStore {
  Secret key{std::string(32, 'k')};
  Fixture() : OneAccountStore(0xaa) {
    REQUIRE(store->write([&](WriteTxn& t) {
      MIGO_TRY(commit_recipients(t, acct, "4QUEUEz", 2, kNow));
      return record_delivery(t, "4QUEUEz", "alice@receiver.test", Delivery::sent, kNow).status();
    }).ok());
  }
  std::string tag() { return make_tag(key, acct.id, "4QUEUEz", kNow); }
  IngestResult ingest(const std::string& m, Report::Kind k) {
    auto r = ingest_report(*store, key, m, k, kNow);
    REQUIRE(r.ok());
    return *r;
  }
  AccountStats stats() {
    return test::read_ok<AccountStats>(*store, [&](const ReadTxn& t) { return t.stats(acct.id); });
  }
  uint64_t counter(const std::string& name) {
    return test::read_ok<uint64_t>(*store, [&](const ReadTxn& t) { return t.counter(name); });
  }
};
}  // namespace

TEST_CASE("an asynchronous bounce with a verified tag moves delivered to bounced, once") {
  Fixture f;
  IngestResult r = f.ingest(dsn(f.tag(), "alice@receiver.test"), Report::Kind::dsn);
  CHECK(r.tag == "verified");
  CHECK(r.username == "smtpuser_acct");
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].result == "counted");
  CHECK(f.stats().bounced == 1);
  CHECK(f.stats().delivered == 0);
  CHECK(f.ingest(dsn(f.tag(), "alice@receiver.test"), Report::Kind::dsn).items[0].result == "duplicate");
  CHECK(f.stats().bounced == 1);
  // A delayed DSN is reported, not counted.
  CHECK(f.ingest(dsn(f.tag(), "bob@receiver.test", "delayed"), Report::Kind::dsn).items[0].result == "not counted");
  CHECK(f.counter("reports.dsn.counted") == 1);
  CHECK(f.counter("reports.dsn.duplicate") == 1);
}

TEST_CASE("forged, altered, foreign-key and missing tags are unattributed") {
  Fixture f;
  std::string altered = f.tag();
  altered[altered.find("a=") + 3] ^= 1;  // another account id, same signature
  Secret other(std::string(32, 'o'));
  std::string foreign = make_tag(other, f.acct.id, "4QUEUEz", kNow);
  for (const auto& [tag, state] : std::vector<std::pair<std::string, std::string>>{
           {altered, "forged"}, {foreign, "forged"}, {"v=1; a=00000000000000aa; q=x; t=1; s=AAAA", "forged"},
           {"", "missing"}}) {
    IngestResult r = f.ingest(dsn(tag, "alice@receiver.test"), Report::Kind::dsn);
    CHECK(r.tag == state);
    CHECK(r.items.at(0).result == "unattributed");
  }
  CHECK(f.stats().bounced == 0);
  CHECK(f.counter("reports.dsn.unattributed") == 4);
}

TEST_CASE("complaints: abuse counts once, not-spam never, and reports of the wrong kind are malformed") {
  Fixture f;
  CHECK(f.ingest(arf(f.tag()), Report::Kind::arf).items.at(0).result == "counted");
  CHECK(f.ingest(arf(f.tag()), Report::Kind::arf).items.at(0).result == "duplicate");
  CHECK(f.ingest(arf(f.tag(), "not-spam"), Report::Kind::arf).items.at(0).result == "not counted");
  // A recipient the message was never delivered to counts nothing.
  CHECK(f.ingest(arf(f.tag(), "abuse", "mallory@receiver.test"), Report::Kind::arf).items.at(0).result ==
        "unknown_recipient");
  CHECK(f.stats().complaints == 1);
  IngestResult wrong = f.ingest(arf(f.tag()), Report::Kind::dsn);
  CHECK(wrong.malformed);
  CHECK_THAT(wrong.error, Catch::Contains("not a DSN"));
  CHECK(f.ingest("Subject: hello\n\nnot a report\n", Report::Kind::arf).malformed);
  CHECK(f.counter("reports.dsn.malformed") == 1);
  CHECK(f.counter("reports.arf.malformed") == 1);
}

TEST_CASE("a report about a deleted account is unattributed") {
  Fixture f;
  REQUIRE(f.store->write([&](WriteTxn& t) { return t.erase_account(f.acct); }).ok());
  IngestResult r = f.ingest(arf(f.tag()), Report::Kind::arf);
  CHECK(r.tag == "verified");
  CHECK(r.username.empty());
  CHECK(r.items.at(0).result == "unattributed");
}

TEST_CASE("a DSN that quotes no headers is attributed by the return path it came to, once; a forged one is not") {
  Fixture f;
  auto rp = make_return_path(f.key, f.acct.id, "4QUEUEz", kNow, "example.com");
  REQUIRE(rp);
  std::string bare = dsn("", "alice@receiver.test");
  CHECK(f.ingest(bare, Report::Kind::dsn).tag == "missing");  // without it: nothing to go on
  auto r = ingest_report(*f.store, f.key, bare, Report::Kind::dsn, kNow, *rp);
  REQUIRE(r.ok());
  CHECK(r->tag == "verified");
  CHECK(r->via == "return path");
  CHECK(r->queue_id == "4QUEUEz");
  REQUIRE(r->items.size() == 1);
  CHECK(r->items[0].result == "counted");
  CHECK(f.stats().bounced == 1);
  r = ingest_report(*f.store, f.key, bare, Report::Kind::dsn, kNow, *rp);
  CHECK(r->items[0].result == "duplicate");
  // A recipient the message never had moves nothing, return path or not.
  r = ingest_report(*f.store, f.key, dsn("", "invented@receiver.test"), Report::Kind::dsn, kNow, *rp);
  CHECK(r->items[0].result != "counted");
  // A forged return path (another key's, or altered) is unattributed.
  auto other = make_return_path(Secret(std::string(32, 'z')), f.acct.id, "4QUEUEz", kNow, "example.com");
  r = ingest_report(*f.store, f.key, dsn("", "alice@receiver.test"), Report::Kind::dsn, kNow, *other);
  CHECK(r->tag == "forged");
  CHECK(r->items[0].result == "unattributed");
  CHECK(f.stats().bounced == 1);
}
