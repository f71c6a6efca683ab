// codec.h — the byte layout every stored record and key uses.
//
// Integers in *values* are little-endian fixed width; integers in *keys* are
// big-endian so LMDB's bytewise order is numeric order. Strings are a u32
// length then the bytes. A Decoder never reads past its input: a short or
// over-long record is reported as Code::corrupt, never undefined behaviour.
// SCHEMA.md documents which fields each record holds, in this encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "migo/status.h"

namespace migo {

class Encoder {
 public:
  Encoder& u8(uint8_t v);
  Encoder& u32(uint32_t v);
  Encoder& u64(uint64_t v);
  Encoder& i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
  Encoder& str(std::string_view s);
  // Big-endian, for keys.
  Encoder& key_u64(uint64_t v);
  Encoder& raw(std::string_view s);
  const std::string& bytes() const& { return out_; }
  std::string bytes() && { return std::move(out_); }

 private:
  std::string out_;
};

// Reads a record in place: it holds a view of `in`, which must outlive it.
class Decoder {
 public:
  explicit Decoder(std::string_view in, const char* what) : in_(in), what_(what) {}
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string str();
  uint64_t key_u64();
  // ok() only if every read was in bounds and, when `exhaust` is true, the
  // whole input was consumed (trailing bytes also mean a foreign record).
  Status finish(bool exhaust = true) const;
  bool failed() const { return failed_; }

 private:
  bool take(size_t n, const char** p);
  std::string_view in_;
  size_t pos_ = 0;
  bool failed_ = false;
  const char* what_;
};

// Big-endian u64 as an 8-byte key, and back (false if `s` is not 8 bytes).
std::string key_of(uint64_t v);
bool u64_of_key(std::string_view s, uint64_t* out);

}  // namespace migo
