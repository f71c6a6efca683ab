// token_test.cc — tracking tokens: round trips, and nothing that was not
// made with a listed key verifies.
#include <catch2/catch.hpp>

#include "token.h"

using namespace migo;

namespace {
std::string key_b64(char fill) { return base64url_encode(std::string(32, fill)); }
TrackingKeys keys(const std::string& text) {
  auto k = TrackingKeys::parse(text);
  REQUIRE(k.ok());
  return std::move(*k);
}
}  // namespace

TEST_CASE("tracking keys: ID KEY lines, the last signs; bad files are refused") {
  TrackingKeys k = keys("# rotated 2026-11\n1 " + key_b64('a') + "\n\n2 " + key_b64('b') + "  # newest\n");
  CHECK(k.signing_id() == 2);
  CHECK(k.find(1));
  CHECK_FALSE(k.find(3));
  for (const std::string& bad : {std::string(""), std::string("# only a comment\n"), "0 " + key_b64('a'),
                                 "256 " + key_b64('a'), "x " + key_b64('a'), "1 " + base64url_encode("short"),
                                 "1 " + key_b64('a') + "\n1 " + key_b64('b'), std::string("1"), std::string("1 not/base64url+")}) {
    INFO(bad);
    CHECK_FALSE(TrackingKeys::parse(bad).ok());
  }
}

TEST_CASE("tracking tokens round-trip, and every changed byte fails") {
  TrackingKeys k = keys("7 " + key_b64('k'));
  TrackToken click{TrackToken::Kind::click, 0xabcdef0123456789ull, 1795000000, "4ABCDEFGHJ", 3,
                   "https://shop.example/p?a=1&b=2#top"};
  auto t = make_track_token(k, click);
  REQUIRE(t);
  CHECK(t->find_first_of("+/=") == std::string::npos);
  auto back = verify_track_token(k, *t);
  REQUIRE(back);
  CHECK(back->kind == TrackToken::Kind::click);
  CHECK(back->account_id == click.account_id);
  CHECK(back->time == click.time);
  CHECK(back->queue_id == click.queue_id);
  CHECK(back->link == 3);
  CHECK(back->url == click.url);
  // No recipient inside, and nothing but what was given.
  auto raw = base64url_decode(*t);
  REQUIRE(raw);
  CHECK(raw->find("@") == std::string::npos);

  // Every single-character change of the token fails to verify.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int verified = 0;
  for (size_t i = 0; i < t->size(); i++) {
    std::string changed = *t;
    changed[i] = alphabet[(alphabet.find(changed[i]) + 1 + i % 63) % 64];
    if (verify_track_token(k, changed)) verified++;
  }
  CHECK(verified == 0);
  CHECK_FALSE(verify_track_token(k, t->substr(0, t->size() - 1)));
  CHECK_FALSE(verify_track_token(k, *t + "A"));
  CHECK_FALSE(verify_track_token(k, ""));
  CHECK_FALSE(verify_track_token(k, std::string(100000, 'A')));
  // Another key (same id or not) does not verify it.
  CHECK_FALSE(verify_track_token(keys("7 " + key_b64('x')), *t));
  CHECK_FALSE(verify_track_token(keys("8 " + key_b64('k')), *t));

  TrackToken open{TrackToken::Kind::open, 1, 2, "Q1", 0, ""};
  auto o = make_track_token(k, open);
  REQUIRE(o);
  auto ob = verify_track_token(k, *o);
  REQUIRE(ob);
  CHECK(ob->kind == TrackToken::Kind::open);
  CHECK(ob->url.empty());
}

TEST_CASE("tokens of a rotated-out key still verify while it is listed") {
  TrackingKeys old_keys = keys("1 " + key_b64('a'));
  auto t = make_track_token(old_keys, {TrackToken::Kind::open, 1, 2, "Q1", 0, ""});
  REQUIRE(t);
  TrackingKeys rotated = keys("1 " + key_b64('a') + "\n2 " + key_b64('b'));
  CHECK(verify_track_token(rotated, *t));
  auto fresh = make_track_token(rotated, {TrackToken::Kind::open, 1, 2, "Q1", 0, ""});
  REQUIRE(fresh);
  CHECK_FALSE(verify_track_token(old_keys, *fresh));
  CHECK_FALSE(verify_track_token(keys("2 " + key_b64('b')), *t));  // retired: gone
}

TEST_CASE("only http(s) URLs of bounded length become click tokens") {
  TrackingKeys k = keys("1 " + key_b64('a'));
  auto click = [&](std::string url) {
    return make_track_token(k, {TrackToken::Kind::click, 1, 2, "Q1", 0, std::move(url)});
  };
  CHECK(click("HTTPS://EXAMPLE.COM/"));
  CHECK(click("http://example.com"));
  for (const std::string& bad : {std::string("javascript:alert(1)"), std::string("mailto:a@example.com"),
                                 std::string("data:text/html,x"), std::string("http\x1a//x"),
                                 std::string("//example.com/"), std::string("https://e.com/") +
                                 std::string(kMaxTrackedUrlBytes, 'a')}) {
    INFO(bad);
    CHECK_FALSE(click(bad));
  }
  CHECK_FALSE(make_track_token(k, {TrackToken::Kind::open, 1, 2, "", 0, ""}));
}
