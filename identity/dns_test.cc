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
