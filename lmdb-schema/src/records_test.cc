#include "migo/records.h"
#include "migo/codec.h"

#include <catch2/catch.hpp>

using namespace migo;

template <typename T>
static void round_trip(const T& in) {
  T out;
  std::string bytes = encode(in);
  REQUIRE(decode(bytes, &out).ok());
  CHECK(out == in);
  // Every proper prefix must decode as corrupt, not as a shorter record.
  for (size_t cut = 0; cut < bytes.size(); cut++) {
    T partial;
    CHECK(decode(std::string_view(bytes).substr(0, cut), &partial).code() == Code::corrupt);
  }
  std::string wrong_version = bytes;
  wrong_version[0] = 99;
  CHECK(decode(wrong_version, &out).code() == Code::corrupt);
}

TEST_CASE("every record encoding round-trips and rejects damage") {
  round_trip(Plan{"20k", 10, 20000, 4000, 1000});
  round_trip(Workspace{0x1234567890abcdefull, "acme", "10k", 1700000000});
  round_trip(Domain{.workspace_id = 42, .name = "xn--bcher-kva.example", .include_subdomains = true, .verified = true,
                    .added = 1700000000, .verified_at = 1700000100});
  round_trip(Domain{.workspace_id = 42, .name = "example.com", .verified = true, .added = 1700000000,
                    .verified_at = 1700000100, .token = "abc123", .manual = true, .checked_at = 1700000200,
                    .missing_since = 1700000150});
  round_trip(Domain{.workspace_id = 42, .name = "example.com", .added = 1700000000, .token = "abc123",
                    .lapsed = true, .checked_at = 1700000200, .missing_since = 1700000150});
  round_trip(Domain{.workspace_id = 42, .name = "example.com", .verified = true, .added = 1700000000,
                    .token = "abc123",
                    .dkim = {{"m202611", "QUJD", DkimKeyState::retired, 1700000000, 1700000300},
                             {"m202612", "REVG", DkimKeyState::active, 1700000300, 1700000400},
                             {"m202612e", "RUQ=", DkimKeyState::pending, 1700000300, 1700000300,
                              DkimAlgorithm::ed25519_sha256}}});
  Account a;
  a.id = 7;
  a.workspace_id = 42;
  a.username = "smtpuser_abc123";
  a.label = "Production App";
  a.status = AccountStatus::disabled;
  a.created = 1700000000;
  a.password_set = 1700000500;
  a.plain_verifier = std::string(16, '\0') + '\0' + std::string(16, '\xff');
  a.scram_verifier = "SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5";
  round_trip(a);
  a.track_opens = false;
  a.track_clicks = ClickTracking::all;
  round_trip(a);
  a.track_opens.reset();
  round_trip(a);
  round_trip(Workspace{7, "acme", "10k", 1700000000,
                       {true, ClickTracking::html, "track.example.com", "tok", true}});
  round_trip(Workspace{7, "acme", "10k", 1700000000, {false, ClickTracking::all, "", "", false}});
  round_trip(AccountStats{10, 202611, 3, 8, 1, 2, 1, 1700000000});
  round_trip(AccountStats{10, 202611, 3, 8, 1, 2, 1, 1700000000, 5, 4, 3, 9, 2, 7});
  CHECK(encode(AccountStats{10, 202611, 3, 8, 1, 2, 1, 1700000000})[0] == 1);
  round_trip(QueueEntry{7, 1700000000, 3, 1, 1});
  QueueEntry shared{7, 1700000000, 3, 1, 1};
  shared.shared = true;
  round_trip(shared);
  CHECK(encode(shared)[0] == 2);  // v2 only when shared
  CHECK(encode(QueueEntry{7, 1700000000, 3, 1, 1})[0] == 1);
  round_trip(FollowPosition{1234, 99999, std::string(32, '\x7f'), 1700000000});
  round_trip(AuditEntry{0, 1700000000, 0, "root", 42, "account.create", "label=Production App"});
}

TEST_CASE("domain records written before Ed25519 (version 2) still decode, their keys as RSA") {
  std::string v2 = Encoder()
                       .u8(2).u64(42).str("example.com").u8(2).i64(1700000000).i64(1700000100)
                       .str("tok").i64(1700000200).i64(0)
                       .u32(1).str("m202611").str("QUJD").u8(1).i64(1700000000).i64(1700000300)
                       .bytes();
  Domain out;
  REQUIRE(decode(v2, &out).ok());
  CHECK(out.verified);
  CHECK(out.token == "tok");
  REQUIRE(out.dkim.size() == 1);
  CHECK(out.dkim[0].selector == "m202611");
  CHECK(out.dkim[0].state == DkimKeyState::active);
  CHECK(out.dkim[0].algorithm == DkimAlgorithm::rsa_sha256);
  // An algorithm this code does not know is damage, not RSA.
  Domain d{.workspace_id = 1, .name = "example.com", .dkim = {{"s", "QQ", DkimKeyState::active, 1, 1}}};
  std::string bytes = encode(d);
  bytes.back() = 7;
  CHECK(decode(bytes, &out).code() == Code::corrupt);
}

TEST_CASE("records without tracking settings are written as version 1, as earlier releases read them") {
  Account a;
  a.username = "smtpuser_x";
  CHECK(encode(a)[0] == 1);
  a.track_clicks = ClickTracking::off;  // an override, even to "off", needs version 2
  CHECK(encode(a)[0] == 2);
  CHECK(encode(Workspace{1, "w", "10k", 0})[0] == 1);
  Workspace w{1, "w", "10k", 0};
  w.tracking.opens = true;
  CHECK(encode(w)[0] == 2);
}

TEST_CASE("tracking: the account's overrides over the workspace's settings; the own host once verified") {
  Workspace w{1, "w", "10k", 0, {true, ClickTracking::html, "track.example.com", "tok", false}};
  Account a;
  TrackingPlan p = tracking_for(w, a);
  CHECK(p.opens);
  CHECK(p.clicks == ClickTracking::html);
  CHECK(p.host.empty());  // not verified: the relay's host
  w.tracking.domain_verified = true;
  a.track_opens = false;
  a.track_clicks = ClickTracking::all;
  p = tracking_for(w, a);
  CHECK_FALSE(p.opens);
  CHECK(p.clicks == ClickTracking::all);
  CHECK(p.host == "track.example.com");
  CHECK(p.any());
  a.track_clicks = ClickTracking::off;
  CHECK_FALSE(tracking_for(w, a).any());
}

TEST_CASE("an account with an unknown status byte is corrupt") {
  Account a;
  a.username = "smtpuser_x";
  std::string bytes = encode(a);
  // status byte follows version, id, workspace, and the two strings
  size_t at = 1 + 8 + 8 + 4 + a.username.size() + 4 + a.label.size();
  bytes[at] = 9;
  Account out;
  CHECK(decode(bytes, &out).code() == Code::corrupt);
}

TEST_CASE("month_of is the UTC calendar month") {
  CHECK(month_of(0) == 197001);
  CHECK(month_of(1798761599) == 202612);  // 2026-12-31 23:59:59 UTC
  CHECK(month_of(1798761600) == 202701);  // 2027-01-01 00:00:00 UTC
  AccountStats s;
  s.month = 202611;
  s.sent_this_month = 5;
  CHECK(s.sent_in(202611) == 5);
  CHECK(s.sent_in(202612) == 0);
}

TEST_CASE("the signing key is the active key activated last, the later-added on a tie") {
  Domain d{.workspace_id = 1, .name = "example.com"};
  CHECK(signing_key(d) == nullptr);
  d.dkim = {{"a", "QQ", DkimKeyState::active, 1, 10},
            {"b", "Qg", DkimKeyState::active, 2, 20},
            {"c", "Qw", DkimKeyState::pending, 3, 30},
            {"d", "RA", DkimKeyState::retired, 4, 40}};
  REQUIRE(signing_key(d));
  CHECK(signing_key(d)->selector == "b");
  d.dkim[0].state_since = 20;  // a tie: the later-added one signs
  CHECK(signing_key(d)->selector == "b");
  d.dkim[1].state = DkimKeyState::retired;
  CHECK(signing_key(d)->selector == "a");
}

TEST_CASE("each algorithm has its own signing key; RSA signs first") {
  Domain d{.workspace_id = 1, .name = "example.com"};
  d.dkim = {{"r1", "QQ", DkimKeyState::active, 1, 10},
            {"e1", "Qg", DkimKeyState::active, 2, 30, DkimAlgorithm::ed25519_sha256},
            {"r2", "Qw", DkimKeyState::active, 3, 20}};
  // The newest Ed25519 key is not the RSA signing key, however new it is.
  REQUIRE(signing_key(d));
  CHECK(signing_key(d)->selector == "r2");
  CHECK(signing_key(d, DkimAlgorithm::ed25519_sha256)->selector == "e1");
  auto keys = signing_keys(d);
  REQUIRE(keys.size() == 2);
  CHECK(keys[0]->selector == "r2");
  CHECK(keys[1]->selector == "e1");
  d.dkim[1].state = DkimKeyState::pending;
  CHECK(signing_keys(d).size() == 1);
  CHECK(std::string(dkim_key_type(DkimAlgorithm::ed25519_sha256)) == "ed25519");
  CHECK(std::string(dkim_algorithm_name(DkimAlgorithm::rsa_sha256)) == "rsa-sha256");
}
