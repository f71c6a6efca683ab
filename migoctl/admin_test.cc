#include "admin.h"

#include <catch2/catch.hpp>

#include "fresh_store.h"
#include "temp_dir.h"

using namespace migo;

namespace {
struct Fixture {
  test::TempDir tmp;
  std::unique_ptr<Store> store;
  Fixture() {
    store = test::fresh_store(tmp.path(), 1700000000);
  }
  Admin admin(int64_t now = 1700000000) { return Admin(*store, Actor{0, "tester"}, now); }
};
}  // namespace

TEST_CASE("names and labels") {
  CHECK(is_valid_name("acme"));
  CHECK(is_valid_name("acme-corp.eu_1"));
  CHECK_FALSE(is_valid_name(""));
  CHECK_FALSE(is_valid_name("-acme"));
  CHECK_FALSE(is_valid_name("Acme"));
  CHECK_FALSE(is_valid_name("ac me"));
  CHECK_FALSE(is_valid_name(std::string(65, 'a')));
  CHECK(check_label("Production App").ok());
  CHECK(check_label("Café Ünïcode").ok());
  CHECK_FALSE(check_label("").ok());
  CHECK_FALSE(check_label("tab\there").ok());
  CHECK_FALSE(check_label(std::string(101, 'x')).ok());
}

TEST_CASE("account limit, verifiers and audit in one transaction") {
  Fixture f;
  REQUIRE(f.admin().create_workspace("acme", "10k").ok());
  std::vector<std::string> passwords;
  for (int i = 0; i < 5; i++) {
    auto n = f.admin().create_account("acme", "app " + std::to_string(i));
    REQUIRE(n.ok());
    CHECK(check_plain_verifier(n->account.plain_verifier, n->password.reveal()));
    passwords.push_back(n->password.reveal());
  }
  auto sixth = f.admin().create_account("acme", "app 5");
  CHECK(sixth.status().code() == Code::refused);
  CHECK_THAT(sixth.status().message(), Catch::Contains("5 of 5"));
  // The refusal changed nothing: no sixth account, no audit entry for it.
  REQUIRE(f.store->read([](const ReadTxn& t) {
    auto w = t.workspace_by_name("acme");
    CHECK(*t.account_count(w->id) == 5);
    CHECK(t.audit(0)->size() == 6);  // workspace.create + 5 account.create
    for (const auto& e : *t.audit(0)) CHECK(e.user == "tester");
    return Status::Ok();
  }).ok());
}

TEST_CASE("reset-password replaces the verifiers") {
  Fixture f;
  REQUIRE(f.admin().create_workspace("acme", "10k").ok());
  auto n = f.admin().create_account("acme", "app");
  REQUIRE(n.ok());
  auto r = f.admin(1700000100).reset_password(n->account.username);
  REQUIRE(r.ok());
  CHECK_FALSE(check_plain_verifier(r->account.plain_verifier, n->password.reveal()));
  CHECK(check_plain_verifier(r->account.plain_verifier, r->password.reveal()));
  CHECK(r->account.scram_verifier != n->account.scram_verifier);
  CHECK(r->account.password_set == 1700000100);
}

TEST_CASE("delete is refused while mail is queued, unless forced") {
  Fixture f;
  REQUIRE(f.admin().create_workspace("acme", "10k").ok());
  auto n = f.admin().create_account("acme", "app");
  REQUIRE(n.ok());
  uint64_t id = n->account.id;
  REQUIRE(f.store->write([&](WriteTxn& t) { return t.put_queue("4Xyz1", QueueEntry{id, 1700000000, 2}); }).ok());
  CHECK(f.admin().delete_account(n->account.username, "wrong", false).status().code() == Code::refused);
  auto queued = f.admin().delete_account(n->account.username, "app", false);
  CHECK(queued.status().code() == Code::refused);
  CHECK_THAT(queued.status().message(), Catch::Contains("4Xyz1"));
  CHECK(f.admin().delete_account(n->account.username, "app", true).ok());
}

TEST_CASE("DNS checks: verified by the token, lapsed only after the grace, back when it returns") {
  Fixture f;
  const int64_t T = 1700000000, H = 3600, grace = 72 * H;
  REQUIRE(f.admin().create_workspace("acme", "10k").ok());
  auto added = f.admin(T).add_domain("acme", "Example.COM", false);
  REQUIRE(added.ok());
  const std::string token = added->token;
  REQUIRE(token.size() == 32);
  CHECK_FALSE(added->verified);

  // Not published yet: stays pending, however long.
  auto d = f.admin(T + H).record_dns_check("acme", "example.com", token, false, grace);
  REQUIRE(d.ok());
  CHECK_FALSE(d->verified);
  CHECK_FALSE(d->lapsed);
  CHECK(d->missing_since == 0);
  // Published: verified by DNS.
  d = f.admin(T + 2 * H).record_dns_check("acme", "example.com", token, true, grace);
  CHECK(d->verified);
  CHECK_FALSE(d->manual);
  CHECK(d->verified_at == T + 2 * H);
  // Gone: the grace starts; verified until it has passed.
  d = f.admin(T + 3 * H).record_dns_check("acme", "example.com", token, false, grace);
  CHECK(d->verified);
  CHECK(d->missing_since == T + 3 * H);
  d = f.admin(T + 3 * H + grace - 1).record_dns_check("acme", "example.com", token, false, grace);
  CHECK(d->verified);
  d = f.admin(T + 3 * H + grace).record_dns_check("acme", "example.com", token, false, grace);
  CHECK_FALSE(d->verified);
  CHECK(d->lapsed);
  // Back: verified again, the grace cleared.
  d = f.admin(T + 100 * H).record_dns_check("acme", "example.com", token, true, grace);
  CHECK(d->verified);
  CHECK_FALSE(d->lapsed);
  CHECK(d->missing_since == 0);
  // A token briefly gone and back does not lapse.
  REQUIRE(f.admin(T + 101 * H).record_dns_check("acme", "example.com", token, false, grace).ok());
  d = f.admin(T + 102 * H).record_dns_check("acme", "example.com", token, true, grace);
  CHECK(d->missing_since == 0);
  REQUIRE(f.admin(T + 103 * H).record_dns_check("acme", "example.com", token, false, grace).ok());
  d = f.admin(T + 103 * H + grace - 1).record_dns_check("acme", "example.com", token, false, grace);
  CHECK(d->verified);
  // A check for another token (the domain was re-added meanwhile) changes nothing.
  CHECK(f.admin(T + 200 * H).record_dns_check("acme", "example.com", "other", true, grace).status().code() ==
        Code::refused);

  // Manual: verified on the admin's word; a DNS miss does not touch it.
  auto m = f.admin(T).add_domain("acme", "closed.example", false);
  REQUIRE(m.ok());
  d = f.admin(T + H).verify_domain_manually("acme", "closed.example");
  CHECK(d->verified);
  CHECK(d->manual);
  d = f.admin(T + 200 * H).record_dns_check("acme", "closed.example", m->token, false, 0);
  CHECK(d->verified);
  CHECK(d->manual);

  // Each change is audited, and says how.
  std::string log;
  REQUIRE(f.store->read([&](const ReadTxn& t) {
    auto a = t.audit(0);
    if (!a.ok()) return a.status();
    for (const AuditEntry& e : *a) log += e.action + " " + e.detail + "\n";
    return Status();
  }).ok());
  CHECK_THAT(log, Catch::Contains("domain.verify domain=example.com method=dns\n"));
  CHECK_THAT(log, Catch::Contains("domain.lapse domain=example.com token missing since"));
  CHECK_THAT(log, Catch::Contains("domain.verify domain=example.com method=dns (was lapsed)"));
  CHECK_THAT(log, Catch::Contains("domain.verify domain=closed.example method=manual"));
}

TEST_CASE("DKIM rotation: the new key activates when seen, the old retires after the delay") {
  Fixture f;
  const int64_t T = 1700000000, D = 86400, grace = 72 * 3600;
  REQUIRE(f.admin().create_workspace("acme", "10k").ok());
  auto d = f.admin(T).add_domain("acme", "example.com", false, {DkimKey{"one", "T05F", DkimKeyState::pending, T, T}});
  REQUIRE(d.ok());
  const std::string token = d->token;
  // Token alone is not enough while the only key is unpublished.
  d = f.admin(T + 1).record_dns_check("acme", "example.com", token, true, grace, {});
  CHECK_FALSE(d->verified);
  d = f.admin(T + 2).record_dns_check("acme", "example.com", token, true, grace, {"one"});
  CHECK(d->verified);
  CHECK(d->dkim[0].state == DkimKeyState::active);

  d = f.admin(T + D).add_dkim_key("acme", "example.com", DkimKey{"two", "VFdP", DkimKeyState::pending, T + D, T + D});
  REQUIRE(d.ok());
  CHECK(f.admin(T + D).add_dkim_key("acme", "example.com", DkimKey{"three", "X", DkimKeyState::pending, T, T})
            .status().code() == Code::refused);  // one new key at a time
  // Not yet published: "one" stays the only active key.
  d = f.admin(T + 2 * D).record_dns_check("acme", "example.com", token, true, grace, {"one"});
  CHECK(d->dkim[1].state == DkimKeyState::pending);
  // Seen: "two" active too (and newest: it signs); "one" stays a week.
  d = f.admin(T + 3 * D).record_dns_check("acme", "example.com", token, true, grace, {"one", "two"});
  CHECK(d->dkim[0].state == DkimKeyState::active);
  CHECK(d->dkim[1].state == DkimKeyState::active);
  d = f.admin(T + 3 * D + 7 * D - 1).record_dns_check("acme", "example.com", token, true, grace, {"one", "two"});
  CHECK(d->dkim[0].state == DkimKeyState::active);
  d = f.admin(T + 10 * D).record_dns_check("acme", "example.com", token, true, grace, {"two"});
  CHECK(d->dkim[0].state == DkimKeyState::retired);
  CHECK(d->dkim[1].state == DkimKeyState::active);
  CHECK(d->verified);
}

TEST_CASE("DKIM: an Ed25519 key is a second signature, rotated on its own") {
  Fixture f;
  const int64_t T = 1700000000, D = 86400, grace = 72 * 3600;
  const auto ed = DkimAlgorithm::ed25519_sha256;
  REQUIRE(f.admin().create_workspace("acme", "10k").ok());
  auto d = f.admin(T).add_domain("acme", "example.com", false,
                                 {DkimKey{"rsa1", "UlNB", DkimKeyState::pending, T, T},
                                  DkimKey{"ed1", "RUQ=", DkimKeyState::pending, T, T, ed}});
  REQUIRE(d.ok());
  const std::string token = d->token;
  d = f.admin(T + 1).record_dns_check("acme", "example.com", token, true, grace, {"rsa1", "ed1"});
  REQUIRE(signing_keys(*d).size() == 2);
  // A pending RSA key does not stop a new Ed25519 key, nor the other way.
  REQUIRE(f.admin(T + D).add_dkim_key("acme", "example.com", DkimKey{"rsa2", "UlNC", DkimKeyState::pending, T + D, T + D}).ok());
  d = f.admin(T + D).add_dkim_key("acme", "example.com", DkimKey{"ed2", "RUR=", DkimKeyState::pending, T + D, T + D, ed});
  REQUIRE(d.ok());
  CHECK(f.admin(T + D).add_dkim_key("acme", "example.com", DkimKey{"ed3", "RUS=", DkimKeyState::pending, T + D, T + D, ed})
            .status().code() == Code::refused);
  // The new RSA key is seen and, a week on, retires the old RSA key only:
  // "ed1" is the only active Ed25519 key and keeps signing.
  d = f.admin(T + 2 * D).record_dns_check("acme", "example.com", token, true, grace, {"rsa1", "rsa2", "ed1"});
  d = f.admin(T + 10 * D).record_dns_check("acme", "example.com", token, true, grace, {"rsa2", "ed1"});
  REQUIRE(d.ok());
  auto state = [&](const std::string& sel) {
    for (const DkimKey& k : d->dkim)
      if (k.selector == sel) return k.state;
    FAIL("no key " << sel);
    return DkimKeyState::pending;
  };
  CHECK(state("rsa1") == DkimKeyState::retired);
  CHECK(state("rsa2") == DkimKeyState::active);
  CHECK(state("ed1") == DkimKeyState::active);
  CHECK(state("ed2") == DkimKeyState::pending);
  auto keys = signing_keys(*d);
  REQUIRE(keys.size() == 2);
  CHECK(keys[0]->selector == "rsa2");
  CHECK(keys[1]->selector == "ed1");
}

TEST_CASE("DKIM rotation within one second: the old key still retires") {
  // Verified, rotated and re-checked in the same second: both keys are
  // active since that second, and the older one must go all the same.
  Fixture f;
  const int64_t T = 1700000000;
  REQUIRE(f.admin(T).create_workspace("acme", "10k").ok());
  DkimKey first{"old", "AAAA", DkimKeyState::pending, T, T, DkimAlgorithm::rsa_sha256};
  auto added = f.admin(T).add_domain("acme", "example.com", false, {first});
  REQUIRE(added.ok());
  const std::string token = added->token;
  REQUIRE(f.admin(T).record_dns_check("acme", "example.com", token, true, 3600, {"old"}, 0).ok());
  DkimKey second{"new", "BBBB", DkimKeyState::pending, T, T, DkimAlgorithm::rsa_sha256};
  REQUIRE(f.admin(T).add_dkim_key("acme", "example.com", second).ok());
  auto d = f.admin(T).record_dns_check("acme", "example.com", token, true, 3600, {"old", "new"}, 0);
  REQUIRE(d.ok());
  for (const DkimKey& k : d->dkim) {
    INFO("key " << k.selector);
    CHECK(std::string(dkim_state_name(k.state)) == (k.selector == "new" ? "active" : "retired"));
  }
}
