// codec.cc — see codec.h.
#include "migo/codec.h"

#include <cstring>

namespace migo {

Encoder& Encoder::u8(uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}

Encoder& Encoder::u32(uint32_t v) {
  for (int i = 0; i < 4; i++) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return *this;
}

Encoder& Encoder::u64(uint64_t v) {
  for (int i = 0; i < 8; i++) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return *this;
}

Encoder& Encoder::str(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  out_.append(s);
  return *this;
}

Encoder& Encoder::key_u64(uint64_t v) {
  for (int i = 7; i >= 0; i--) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return *this;
}

Encoder& Encoder::raw(std::string_view s) {
  out_.append(s);
  return *this;
}

bool Decoder::take(size_t n, const char** p) {
  if (failed_ || in_.size() - pos_ < n) {
    failed_ = true;
    return false;
  }
  *p = in_.data() + pos_;
  pos_ += n;
  return true;
}

uint8_t Decoder::u8() {
  const char* p;
  return take(1, &p) ? static_cast<uint8_t>(*p) : 0;
}

uint32_t Decoder::u32() {
  const char* p;
  if (!take(4, &p)) return 0;
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t Decoder::u64() {
  const char* p;
  if (!take(8, &p)) return 0;
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string Decoder::str() {
  uint32_t n = u32();
  const char* p;
  if (!take(n, &p)) return {};
  return std::string(p, n);
}

uint64_t Decoder::key_u64() {
  const char* p;
  if (!take(8, &p)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

Status Decoder::finish(bool exhaust) const {
  if (failed_) return {Code::corrupt, std::string(what_) + " record is truncated"};
  if (exhaust && pos_ != in_.size())
    return {Code::corrupt, std::string(what_) + " record has trailing bytes"};
  return {};
}

std::string key_of(uint64_t v) { return Encoder().key_u64(v).bytes(); }

bool u64_of_key(std::string_view s, uint64_t* out) {
  if (s.size() != 8) return false;
  Decoder d(s, "key");
  *out = d.key_u64();
  return true;
}

}  // namespace migo
