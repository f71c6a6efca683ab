// shared_test.cc — the shared records: what an operation's capture holds,
// change sets as bytes (and damaged ones), applying them in order on
// another store, and rebuilding from a snapshot.
#include "migo/shared.h"

#include <catch2/catch.hpp>

#include "fresh_store.h"
#include "migo/accounting.h"
#include "temp_dir.h"

using namespace migo;
using Op = SharedChange::Op;

namespace {

// What a migoctl operation does: a workspace, an account, an audit entry.
Status make_things(WriteTxn& t, uint64_t ws, uint64_t id, const std::string& user) {
  MIGO_TRY(t.put(Workspace{ws, "ws" + std::to_string(ws), "10k", 100}));
  Account a;
  a.id = id;
  a.workspace_id = ws;
  a.username = user;
  a.label = "App";
  MIGO_TRY(t.put(a));
  return t.append_audit(AuditEntry{0, 100, 0, "root", ws, "account.create", user});
}

std::vector<SharedChange> rows_of(const Store& s) {
  return test::read_ok<std::vector<SharedChange>>(s, [](const ReadTxn& t) { return shared_rows(t); });
}

}  // namespace

TEST_CASE("a rehearsal captures the shared rows an operation writes, and changes nothing") {
  test::TempDir tmp;
  auto store = test::fresh_store(tmp.path(), 0);
  std::vector<SharedChange> captured;
  Status s = store->rehearse([&](WriteTxn& t) {
    t.capture(&captured);
    MIGO_TRY(make_things(t, 7, 70, "smtpuser_a"));
    MIGO_TRY(t.add_usage(7, 1000, 3));  // local: never captured
    return t.set_meta("unshared", "x");
  });
  REQUIRE(s.ok());
  std::vector<std::string> tables;
  for (const SharedChange& c : captured) tables.push_back(c.table);
  CHECK(tables == std::vector<std::string>{"workspaces", "workspace_names", "accounts", "usernames",
                                           "workspace_accounts", "audit"});
  CHECK(captured.back().op == Op::append);
  // Nothing was committed.
  CHECK(test::read_ok<std::vector<Workspace>>(*store, [](const ReadTxn& t) { return t.workspaces(); }).empty());
  // An operation's own error comes back from the rehearsal.
  CHECK(store->rehearse([](WriteTxn&) { return Status(Code::exists, "taken"); }).code() == Code::exists);
}

TEST_CASE("change sets as bytes: round trip, and every damaged form refused") {
  std::vector<SharedChange> set{{Op::put, "accounts", std::string("\0\1", 2), "value"},
                                {Op::erase, "usernames", "smtpuser_x", ""},
                                {Op::append, "audit", "", std::string(300, 'a')}};
  std::string bytes = encode_changes(set);
  std::vector<SharedChange> back;
  REQUIRE(decode_changes(bytes, &back).ok());
  CHECK(back == set);
  for (size_t cut = 0; cut < bytes.size(); cut++) {
    INFO(cut);
    CHECK(decode_changes(bytes.substr(0, cut), &back).code() == Code::corrupt);
  }
  CHECK(decode_changes(bytes + "x", &back).code() == Code::corrupt);
  std::string bad_op = bytes;
  bad_op[5] = 9;
  CHECK(decode_changes(bad_op, &back).code() == Code::corrupt);
  std::string huge = bytes;
  huge[1] = huge[2] = huge[3] = huge[4] = '\xff';  // a count no input can hold
  CHECK(decode_changes(huge, &back).code() == Code::corrupt);
}

TEST_CASE("change sets applied in order make another store the same; repeats, gaps and strangers refused") {
  test::TempDir a_dir, b_dir;
  auto a = test::fresh_store(a_dir.path(), 0);
  auto b = test::fresh_store(b_dir.path(), 0);
  std::vector<std::vector<SharedChange>> sets(3);
  REQUIRE(a->write([&](WriteTxn& t) {
    t.capture(&sets[0]);
    return make_things(t, 7, 70, "smtpuser_a");
  }).ok());
  REQUIRE(a->write([&](WriteTxn& t) {
    t.capture(&sets[1]);
    return make_things(t, 8, 80, "smtpuser_b");
  }).ok());
  REQUIRE(a->write([&](WriteTxn& t) -> Status {
    t.capture(&sets[2]);
    auto acct = t.account(70);
    if (!acct.ok()) return acct.status();
    return t.erase_account(*acct);
  }).ok());
  // B has statistics for the account that goes.
  REQUIRE(b->write([&](WriteTxn& t) {
    MIGO_TRY(set_shared_position(t, {"origin-1", 0}));
    AccountStats st;
    st.total_sent = 5;
    return t.put_stats(70, st);
  }).ok());
  auto apply = [&](uint64_t seq, const std::vector<SharedChange>& set, const std::string& origin = "origin-1") {
    Result<bool> r = false;
    Status s = b->write([&](WriteTxn& t) {
      r = apply_change_set(t, origin, seq, set);
      return r.status();
    });
    return r.ok() ? r : Result<bool>(s);
  };
  CHECK(*apply(1, sets[0]));
  CHECK(apply(3, sets[2]).status().code() == Code::refused);  // 2 is missing
  CHECK(*apply(2, sets[1]));
  CHECK_FALSE(*apply(2, sets[1]));  // seen: nothing done
  CHECK(apply(3, sets[2], "origin-2").status().code() == Code::refused);
  CHECK(*apply(3, sets[2]));
  CHECK(rows_of(*b) == rows_of(*a));
  auto stats = test::read_ok<AccountStats>(*b, [](const ReadTxn& t) { return t.stats(70); });
  CHECK(stats.total_sent == 0);  // went with the account
  // Both audit logs tell the same story, each under its own numbers.
  auto audit = test::read_ok<std::vector<AuditEntry>>(*b, [](const ReadTxn& t) { return t.audit(0); });
  CHECK(audit.size() == 2);
  CHECK(test::read_ok<SharedPosition>(*b, [](const ReadTxn& t) { return shared_position(t); }) ==
        SharedPosition{"origin-1", 3});
  // A hostile change set cannot reach the local tables or the position.
  for (const SharedChange& evil : {SharedChange{Op::put, "usage", "k", "v"}, SharedChange{Op::put, "meta", "shared.seq", "x"},
                                   SharedChange{Op::erase, "queue", "Q", ""}, SharedChange{Op::append, "accounts", "", "x"},
                                   SharedChange{Op::put, "nosuch", "k", "v"}}) {
    INFO(evil.table);
    CHECK(apply(4, {evil}).status().code() == Code::corrupt);
  }
}

TEST_CASE("a snapshot replaces the shared rows exactly and leaves the relay's own alone") {
  test::TempDir a_dir, b_dir;
  auto a = test::fresh_store(a_dir.path(), 0);
  auto b = test::fresh_store(b_dir.path(), 0);
  REQUIRE(a->write([&](WriteTxn& t) { return make_things(t, 7, 70, "smtpuser_a"); }).ok());
  // B: something A does not have, something A has differently, local usage.
  REQUIRE(b->write([&](WriteTxn& t) -> Status {
    MIGO_TRY(make_things(t, 9, 90, "smtpuser_gone"));
    MIGO_TRY(t.put(Workspace{7, "ws7", "20k", 100}));
    MIGO_TRY(t.put_stats(90, AccountStats{3}));
    return t.add_usage(7, 1000, 4);
  }).ok());
  std::vector<SharedChange> snapshot = rows_of(*a);
  size_t changed = 0;
  REQUIRE(b->write([&](WriteTxn& t) { return replace_shared_rows(t, "o", 12, snapshot, &changed); }).ok());
  CHECK(rows_of(*b) == snapshot);
  CHECK(changed > 0);
  CHECK(test::read_ok<AccountStats>(*b, [](const ReadTxn& t) { return t.stats(90); }).total_sent == 0);
  CHECK(test::read_ok<Usage>(*b, [](const ReadTxn& t) { return t.usage(7, 1000); }).hour == 4);
  CHECK(test::read_ok<SharedPosition>(*b, [](const ReadTxn& t) { return shared_position(t); }) ==
        SharedPosition{"o", 12});
  // Again: nothing to change.
  REQUIRE(b->write([&](WriteTxn& t) { return replace_shared_rows(t, "o", 12, snapshot, &changed); }).ok());
  CHECK(changed == 0);
  // A snapshot with a foreign row is refused whole.
  auto evil = snapshot;
  evil.push_back({Op::put, "queue", "Q", "v"});
  CHECK(b->write([&](WriteTxn& t) { return replace_shared_rows(t, "o", 13, evil); }).code() == Code::corrupt);
}
