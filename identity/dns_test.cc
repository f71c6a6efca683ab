// dns_test.cc — the hostile-input edges of the DNS wrapper: TXT RDATA
// splitting and resolver addresses. (Questions to a real DNS server are in
// tests/domain_dns_test.cc.)
#include <catch2/catch.hpp>

#include "dns.h"

using namespace migo;

TEST_CASE("TXT RDATA: character-strings are joined; a length past the end is refused") {
  std::string out;
  CHECK(parse_txt_rdata(std::string("\x05hello\x06 world", 13), &out));
  CHECK(out == "hello world");
  CHECK(parse_txt_rdata("", &out));
  CHECK(out.empty());
  CHECK(parse_txt_rdata(std::string("\x00\x01x", 3), &out));  // an empty string is allowed
  CHECK(out == "x");
  CHECK_FALSE(parse_txt_rdata(std::string("\x05hell", 5), &out));
  CHECK_FALSE(parse_txt_rdata(std::string("\x02hi\xff", 4), &out));
  std::string big(1, '\xff');
  big += std::string(255, 'a');
  CHECK(parse_txt_rdata(big + big, &out));
  CHECK(out.size() == 510);
  // Bytes are bytes: a NUL inside is kept, so it can never match a token.
  CHECK(parse_txt_rdata(std::string("\x03" "a\0b", 4), &out));
  CHECK(out == std::string("a\0b", 3));
}

TEST_CASE("MX RDATA: preference and an uncompressed host name; anything else is refused") {
  using namespace std::string_literals;
  MxRecord r;
  CHECK(parse_mx_rdata("\x00\x0a\x05Relay\x07" "example\x03net\x00"s, &r));
  CHECK(r == MxRecord{10, "relay.example.net"});
  CHECK(parse_mx_rdata("\x01\x00\x00"s, &r));  // null MX (RFC 7505)
  CHECK(r == MxRecord{256, ""});
  for (const std::string& bad : {""s, "\x00\x0a"s, "\x00\x0a\x05relay"s, "\x00\x0a\x05relay\x00x"s,
                                 "\x00\x0a\xc0\x0c"s,                 // a compression pointer
                                 "\x00\x0a\x03" "a b\x00"s,              // a space
                                 "\x00\x0a\x04" "a\nb.\x00"s,           // a newline, a dot inside a label
                                 "\x00\x0a\x03" "a\0b\x00"s,            // a NUL
                                 "\x00\x0a\x40"s + std::string(64, 'a') + "\x00"s}) {  // label > 63
    INFO(bad.size());
    CHECK_FALSE(parse_mx_rdata(bad, &r));
  }
  std::string long_name = "\x00\x0a"s;
  for (int i = 0; i < 5; i++) long_name += "\x3f"s + std::string(63, 'a');
  CHECK_FALSE(parse_mx_rdata(long_name + "\x00"s, &r));  // longer than a host name may be
}

TEST_CASE("CNAME RDATA: one uncompressed host name, checked as the MX exchange is") {
  using namespace std::string_literals;
  std::string t;
  CHECK(parse_cname_rdata("\x05Track\x05relay\x04test\x00"s, &t));
  CHECK(t == "track.relay.test");
  for (const std::string& bad : {""s, "\x00"s /* the root */, "\x05track"s, "\xc0\x0c"s, "\x03" "a b\x00"s,
                                 "\x05track\x00x"s})
    CHECK_FALSE(parse_cname_rdata(bad, &t));
}

TEST_CASE("resolver addresses") {
  CHECK(*unbound_forwarder("127.0.0.1") == "127.0.0.1@53");
  CHECK(*unbound_forwarder("127.0.0.1:5353") == "127.0.0.1@5353");
  CHECK(*unbound_forwarder("[::1]:5353") == "::1@5353");
  CHECK(*unbound_forwarder("[2001:db8::1]") == "2001:db8::1@53");
  for (const char* bad : {"", "localhost", "dns.example:53", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x",
                          "::1", "[::1", "[::1]5353", "1.2.3.4:53:1", "127.0.0.1@53"}) {
    INFO(bad);
    CHECK(unbound_forwarder(bad).status().code() == Code::invalid);
  }
}

TEST_CASE("a resolver pointed at a dead server says unavailable, within its timeout") {
  // Port 9 on loopback (discard): nothing answers DNS there.
  auto r = Resolver::create("127.0.0.1:9", 1500);
  REQUIRE(r.ok());
  auto a = (*r)->txt("_migo-verify.example.com");
  CHECK(a.status().code() == Code::unavailable);
}
