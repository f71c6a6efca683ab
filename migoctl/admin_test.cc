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
