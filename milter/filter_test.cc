// filter_test.cc — the milter's decisions and tag, without an MTA.
#include "filter.h"

#include <catch2/catch.hpp>

#include "migo/accounting.h"
#include "migo/tag.h"
#include "fresh_store.h"
#include "temp_dir.h"

using namespace migo;

namespace {
const int64_t T0 = 1798675200;
Secret test_key() { return Secret(std::string(32, 'k')); }

struct World {
  test::TempDir tmp;
  std::unique_ptr<Store> store;
  Secret key = test_key();
  MilterConfig config;
  Account acct;
  World() {
    store = test::fresh_store(tmp.path(), T0);
    acct.id = 0xabcdef0123456789ull;
    acct.workspace_id = 1;
    acct.username = "smtpuser_app";
    REQUIRE(store->write([&](WriteTxn& t) {
      MIGO_TRY(t.put(Workspace{1, "acme", "10k", T0}));
      MIGO_TRY(t.put(acct));
      Account off = acct;
      off.id = 2;
      off.username = "smtpuser_off";
      off.status = AccountStatus::disabled;
      MIGO_TRY(t.put(off));
      MIGO_TRY(t.put(Domain{.workspace_id = 1, .name = "example.com", .verified = true, .added = T0, .verified_at = T0,
                            .dkim = {{"old", "T0xE", DkimKeyState::active, T0, T0},
                                     {"new", "TkVX", DkimKeyState::active, T0, T0 + 10},
                                     {"next", "TkVYVA", DkimKeyState::pending, T0, T0 + 20},
                                     {"ed", "RUQ=", DkimKeyState::active, T0, T0 + 30, DkimAlgorithm::ed25519_sha256}}}));
      MIGO_TRY(t.put(Domain{.workspace_id = 1, .name = "corp.example", .include_subdomains = true, .verified = true, .added = T0, .verified_at = T0}));
      MIGO_TRY(t.put(Domain{.workspace_id = 1, .name = "lapsed.example", .added = T0, .verified_at = T0,
                            .token = "tok", .lapsed = true, .checked_at = T0, .missing_since = T0}));
      return t.put(Domain{.workspace_id = 1, .name = "pending.example", .added = T0});
    }).ok());
  }
  FilterDecision decide(const std::string& login, std::vector<std::string> froms, const std::string& qid = "QID1") {
    return decide_message(*store, key, config, login, froms, qid, T0);
  }
};
}  // namespace

TEST_CASE("tags verify, and any change breaks them") {
  Secret key = test_key();
  std::string tag = make_tag(key, 0xabcdef0123456789ull, "4XkT2m1Zq8", T0);
  CHECK_THAT(tag, Catch::StartsWith("v=1; a=abcdef0123456789; q=4XkT2m1Zq8; t=1798675200; s="));
  auto f = verify_tag(key, tag);
  REQUIRE(f);
  CHECK(f->account_id == 0xabcdef0123456789ull);
  CHECK(f->queue_id == "4XkT2m1Zq8");
  CHECK(verify_tag(key, "v=1; a=abcdef0123456789;\r\n\tq=4XkT2m1Zq8; t=1798675200; s=" + tag.substr(tag.find("s=") + 2)));
  std::string other = tag;
  other[other.find("a=") + 2] = '0';  // another account
  CHECK_FALSE(verify_tag(key, other));
  CHECK_FALSE(verify_tag(Secret(std::string(32, 'x')), tag));
  CHECK_FALSE(verify_tag(key, tag + "; x=1"));
  CHECK_FALSE(verify_tag(key, "v=1; a=abcdef0123456789; q=4XkT2m1Zq8; t=1798675200"));
  CHECK_FALSE(verify_tag(key, ""));
  CHECK(tag.find("smtpuser") == std::string::npos);
}

TEST_CASE("From domains must be verified for the workspace") {
  World w;
  CHECK(w.decide("smtpuser_app", {"App <app@example.com>"}).kind == FilterDecision::Kind::accept);
  CHECK(w.decide("smtpuser_app", {"app@EXAMPLE.com."}).kind == FilterDecision::Kind::reject);  // trailing dot is malformed in From
  CHECK(w.decide("smtpuser_app", {"app@Example.COM"}).kind == FilterDecision::Kind::accept);
  FilterDecision other = w.decide("smtpuser_app", {"app@other.org"});
  CHECK(other.kind == FilterDecision::Kind::reject);
  CHECK(other.reply == "5.7.1 From domain other.org is not verified for this account's workspace");
  CHECK(w.decide("smtpuser_app", {"app@mail.example.com"}).kind == FilterDecision::Kind::reject);  // no subdomains
  CHECK(w.decide("smtpuser_app", {"app@mail.corp.example"}).kind == FilterDecision::Kind::accept);
  CHECK(w.decide("smtpuser_app", {"app@badcorp.example"}).kind == FilterDecision::Kind::reject);
  CHECK(w.decide("smtpuser_app", {"app@pending.example"}).kind == FilterDecision::Kind::reject);  // not verified yet
  CHECK(w.decide("smtpuser_app", {"app@lapsed.example"}).kind == FilterDecision::Kind::reject);  // token left DNS
  CHECK(w.decide("smtpuser_app", {"a@example.com, b@other.org"}).reply ==
        "5.7.1 From domain other.org is not verified for this account's workspace");
  CHECK(w.decide("smtpuser_app", {"\"x@other.org\" <app@example.com>"}).kind == FilterDecision::Kind::accept);
  CHECK(w.decide("smtpuser_app", {"app@[192.0.2.1]"}).kind == FilterDecision::Kind::reject);
}

TEST_CASE("exactly one From, known and active accounts, unauthenticated mail passes") {
  World w;
  CHECK(w.decide("smtpuser_app", {}).reply == "5.7.1 Message must have exactly one From header (it has 0)");
  CHECK(w.decide("smtpuser_app", {"a@example.com", "a@example.com"}).kind == FilterDecision::Kind::reject);
  CHECK(w.decide("smtpuser_app", {"\"unterminated <a@example.com>"}).reply == "5.7.1 Malformed From header");
  CHECK(w.decide("smtpuser_off", {"a@example.com"}).reply == "5.7.1 SMTP account smtpuser_off is disabled");
  CHECK(w.decide("smtpuser_gone", {"a@example.com"}).kind == FilterDecision::Kind::reject);
  CHECK(w.decide("", {"a@other.org"}).kind == FilterDecision::Kind::pass);
  w.config.reject_unauthenticated = true;
  CHECK(w.decide("", {"a@example.com"}).kind == FilterDecision::Kind::reject);
}

TEST_CASE("the queue map gets the account; a refusal refunds the policy's count") {
  World w;
  // Accepted without a policy entry: the milter records the account.
  REQUIRE(w.decide("smtpuser_app", {"a@example.com"}, "QACCEPT").kind == FilterDecision::Kind::accept);
  REQUIRE(w.store->read([&](const ReadTxn& t) {
    CHECK(t.queue_entry("QACCEPT")->account_id == w.acct.id);
    return Status::Ok();
  }).ok());
  // Counted by the policy at END-OF-MESSAGE, then refused here: refunded.
  REQUIRE(w.store->write([&](WriteTxn& t) { return commit_recipients(t, w.acct, "QLATE", 3, T0); }).ok());
  FilterDecision d = w.decide("smtpuser_app", {"a@other.org"}, "QLATE");
  CHECK(d.kind == FilterDecision::Kind::reject);
  CHECK(d.refunded == 3);
  REQUIRE(w.store->read([&](const ReadTxn& t) {
    CHECK(t.usage(1, T0)->hour == 0);
    CHECK(t.stats(w.acct.id)->total_sent == 0);
    CHECK(t.queue_entry("QLATE").status().code() == Code::not_found);
    return Status::Ok();
  }).ok());
}

TEST_CASE("a store the milter cannot write is a temporary failure, never an accept") {
  World w;
  StoreOptions ro;
  ro.read_only = true;
  auto readonly = Store::open(w.tmp.path(), ro);
  REQUIRE(readonly.ok());
  FilterDecision d = decide_message(**readonly, w.key, w.config, "smtpuser_app", {"a@example.com"}, "Q", T0);
  CHECK(d.kind == FilterDecision::Kind::tempfail);
  CHECK_THAT(d.reply, Catch::StartsWith("4.3.0"));
}

TEST_CASE("signing plan: the newest active key of the domain that covers From") {
  World w;
  auto m = plan_message(*w.store, w.config, "smtpuser_app", {"App <app@example.com>"});
  REQUIRE(m.ok());
  const SigningPlan* p = &m->signing;
  CHECK(p->sign);
  CHECK(p->domain == "example.com");
  // The newest RSA key (not the older active one, never the pending one),
  // then the domain's Ed25519 key: a second signature.
  REQUIRE(p->keys.size() == 2);
  CHECK(p->keys[0].selector == "new");
  CHECK(p->keys[0].algorithm == DkimAlgorithm::rsa_sha256);
  CHECK(p->keys[1].selector == "ed");
  CHECK(p->keys[1].algorithm == DkimAlgorithm::ed25519_sha256);
  // Ed25519 is never the only signature: a domain whose only active key is
  // Ed25519 is signed with nothing.
  REQUIRE(w.store->write([&](WriteTxn& t) {
    return t.put(Domain{.workspace_id = 1, .name = "edonly.example", .verified = true, .added = T0, .verified_at = T0,
                        .dkim = {{"ed", "RUQ=", DkimKeyState::active, T0, T0, DkimAlgorithm::ed25519_sha256}}});
  }).ok());
  auto edonly = plan_message(*w.store, w.config, "smtpuser_app", {"app@edonly.example"});
  REQUIRE(edonly.ok());
  CHECK_FALSE(edonly->signing.sign);
  // Verified domains without an active key are not signed (corp.example
  // has none); nor is anything decide_message refuses.
  auto sub = plan_message(*w.store, w.config, "smtpuser_app", {"app@mail.corp.example"});
  REQUIRE(sub.ok());
  CHECK_FALSE(sub->signing.sign);
  for (auto [login, from] : std::vector<std::pair<std::string, std::string>>{
           {"smtpuser_off", "app@example.com"}, {"smtpuser_nobody", "app@example.com"}, {"", "app@example.com"},
           {"smtpuser_app", "app@pending.example"}, {"smtpuser_app", "app@lapsed.example"},
           {"smtpuser_app", "app@other.org"}, {"smtpuser_app", "not an address"}}) {
    INFO(login << " " << from);
    auto none = plan_message(*w.store, w.config, login, {from});
    REQUIRE(none.ok());
    CHECK_FALSE(none->signing.sign);
  }
  auto two = plan_message(*w.store, w.config, "smtpuser_app", {"a@example.com", "b@example.com"});
  CHECK_FALSE(two->signing.sign);
}

TEST_CASE("tracking plan: the workspace's settings and the account's overrides; none for others") {
  World w;
  auto off = plan_message(*w.store, w.config, "smtpuser_app", {"app@example.com"});
  REQUIRE(off.ok());
  CHECK_FALSE(off->tracking.any());  // off until turned on
  CHECK(off->account_id == 0xabcdef0123456789ull);
  REQUIRE(w.store->write([&](WriteTxn& t) -> Status {
    auto ws = t.workspace(1);
    MIGO_TRY(ws.status());
    ws->tracking.opens = true;
    ws->tracking.clicks = ClickTracking::html;
    return t.put(*ws);
  }).ok());
  auto on = plan_message(*w.store, w.config, "smtpuser_app", {"app@example.com"});
  REQUIRE(on.ok());
  CHECK(on->tracking.opens);
  CHECK(on->tracking.clicks == ClickTracking::html);
  // Tracking does not depend on the From header (the milter refuses bad ones).
  CHECK(plan_message(*w.store, w.config, "smtpuser_app", {})->tracking.opens);
  auto disabled = plan_message(*w.store, w.config, "smtpuser_off", {"app@example.com"});
  CHECK_FALSE(disabled->tracking.any());
  CHECK(disabled->account_id == 0);
}

TEST_CASE("X-Migo-Track narrows tracking, never widens it") {
  TrackingPlan full{true, ClickTracking::html, ""};
  CHECK_FALSE(narrow_tracking(full, {"opens=no, clicks=no"}).any());
  CHECK(narrow_tracking(full, {" Opens = NO "}).clicks == ClickTracking::html);
  CHECK_FALSE(narrow_tracking(full, {" Opens = NO "}).opens);
  CHECK(narrow_tracking(full, {"clicks=all"}).clicks == ClickTracking::all);
  CHECK(narrow_tracking({true, ClickTracking::all, ""}, {"clicks=html-only"}).clicks == ClickTracking::html);
  TrackingPlan none;
  CHECK_FALSE(narrow_tracking(none, {"opens=yes, clicks=all"}).any());
  CHECK(narrow_tracking(full, {"garbage", "clicks", "=no", "opens=maybe"}).opens);
  CHECK(narrow_tracking(full, {"opens=yes", "clicks=no"}).clicks == ClickTracking::off);  // every header counts
}

TEST_CASE("return paths: only the key's own verify, in any case; hostile ones do not") {
  Secret key = test_key();
  auto rp = make_return_path(key, 0xabcdef0123456789ull, "4XkT2m1Zq8", T0, "example.com");
  REQUIRE(rp);
  CHECK_THAT(*rp, Catch::StartsWith("b"));
  CHECK_THAT(*rp, Catch::EndsWith("@bounce.example.com"));
  CHECK(rp->find('@') <= 64);
  CHECK(rp->find_first_not_of("abcdefghijklmnopqrstuvwxyz234567@.") == std::string::npos);
  auto f = verify_return_path(key, *rp);
  REQUIRE(f);
  CHECK(f->account_id == 0xabcdef0123456789ull);
  CHECK(f->queue_id == "4XkT2m1Zq8");
  CHECK(f->time == T0);
  std::string upper = *rp;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(verify_return_path(key, upper));  // some MTAs fold case
  CHECK(verify_return_path(key, rp->substr(0, rp->find('@')) + "@elsewhere.test"));  // the domain is not what proves it
  std::string flipped = *rp;
  flipped[5] = flipped[5] == 'a' ? 'b' : 'a';
  CHECK_FALSE(verify_return_path(key, flipped));
  CHECK_FALSE(verify_return_path(Secret(std::string(32, 'x')), *rp));  // another relay's key
  for (const char* bad : {"", "@", "b@x", "bounces@example.com", "b!!!!@x", "b@bounce.example.com", "nobody"}) {
    INFO(bad);
    CHECK_FALSE(verify_return_path(key, bad));
  }
  // A queue id too long for a 64-octet local part: none is made.
  CHECK_FALSE(make_return_path(key, 1, std::string(40, 'Q'), T0, "example.com"));
  CHECK_FALSE(make_return_path(key, 1, "bad/id", T0, "example.com"));
}

TEST_CASE("the envelope sender: kept on a verified domain, else the relay's return path (or refused, or kept)") {
  World w;
  auto decide_env = [&](const std::string& from, const std::string& env) {
    return decide_message(*w.store, w.key, w.config, "smtpuser_app", {from}, "QID1", T0, env);
  };
  FilterDecision d = decide_env("app@example.com", "app@example.com");
  REQUIRE(d.kind == FilterDecision::Kind::accept);
  CHECK(d.return_path.empty());
  CHECK(decide_env("app@example.com", "").return_path.empty());  // the null sender stays
  CHECK(decide_env("app@example.com", "x@mail.corp.example").return_path.empty());  // covered by --include-subdomains
  d = decide_env("app@example.com", "bounces@unverified.test");
  REQUIRE(d.kind == FilterDecision::Kind::accept);
  CHECK_THAT(d.return_path, Catch::EndsWith("@bounce.example.com"));
  auto f = verify_return_path(w.key, d.return_path);
  REQUIRE(f);
  CHECK(f->account_id == w.acct.id);
  CHECK(f->queue_id == "QID1");
  CHECK_THAT(d.log, Catch::Contains("return path b"));
  // The bounce domain is the verified domain that covers From.
  CHECK_THAT(decide_env("app@mail.corp.example", "x@pending.example").return_path,
             Catch::EndsWith("@bounce.corp.example"));
  CHECK_FALSE(decide_env("app@example.com", "not-an-address").return_path.empty());
  w.config.unverified_sender = MilterConfig::UnverifiedSender::refuse;
  d = decide_env("app@example.com", "bounces@unverified.test");
  CHECK(d.kind == FilterDecision::Kind::reject);
  CHECK(d.reply == "5.7.1 Envelope sender domain unverified.test is not verified for this account's workspace");
  w.config.unverified_sender = MilterConfig::UnverifiedSender::keep;
  d = decide_env("app@example.com", "bounces@unverified.test");
  CHECK(d.kind == FilterDecision::Kind::accept);
  CHECK(d.return_path.empty());
}
