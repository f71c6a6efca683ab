#include "migo/codec.h"

#include <catch2/catch.hpp>

using namespace migo;

TEST_CASE("codec round-trips integers and strings") {
  std::string bytes = Encoder().u8(7).u32(0xdeadbeef).u64(~0ull).i64(-5).str("héllo").str("").bytes();
  Decoder d(bytes, "test");
  CHECK(d.u8() == 7);
  CHECK(d.u32() == 0xdeadbeef);
  CHECK(d.u64() == ~0ull);
  CHECK(d.i64() == -5);
  CHECK(d.str() == "héllo");
  CHECK(d.str().empty());
  CHECK(d.finish().ok());
}

TEST_CASE("keys are big-endian so byte order is numeric order") {
  CHECK(key_of(1) < key_of(256));
  CHECK(key_of(255) < key_of(256));
  CHECK(key_of(0x0102030405060708ull) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  uint64_t v = 0;
  REQUIRE(u64_of_key(key_of(123456789), &v));
  CHECK(v == 123456789);
  CHECK_FALSE(u64_of_key("short", &v));
}

TEST_CASE("a truncated or padded record is corrupt, never read out of bounds") {
  std::string bytes = Encoder().u32(3).str("abc").bytes();
  for (size_t cut = 0; cut < bytes.size(); cut++) {
    Decoder d(std::string_view(bytes).substr(0, cut), "test");
    d.u32();
    d.str();
    CHECK(d.finish().code() == Code::corrupt);
  }
  const std::string with_extra = bytes + "x";  // Decoder views its input: keep it alive
  Decoder padded(with_extra, "test");
  padded.u32();
  padded.str();
  CHECK(padded.finish().code() == Code::corrupt);
  // A length prefix far beyond the input must not allocate or read it.
  std::string huge = Encoder().u32(0xffffffff).bytes();
  Decoder h(huge, "test");
  CHECK(h.str().empty());
  CHECK(h.finish().code() == Code::corrupt);
}
