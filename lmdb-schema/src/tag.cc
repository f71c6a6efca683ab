// tag.cc — see tag.h.
#include "migo/tag.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace migo {
namespace {

std::string signed_part(uint64_t account_id, std::string_view queue_id, int64_t time) {
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(account_id));
  return "v=1;a=" + std::string(id) + ";q=" + std::string(queue_id) + ";t=" + std::to_string(time);
}

std::string mac(const Secret& key, const std::string& data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.reveal().data(), static_cast<int>(key.reveal().size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return base64url_encode(std::string_view(reinterpret_cast<char*>(out), len));
}

bool queue_id_ok(std::string_view q) {
  if (q.empty() || q.size() > 32) return false;
  for (char c : q)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace

Result<Secret> read_tag_key(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(Code::unavailable, "cannot read tag key " + path);
  Secret key(std::string(std::istreambuf_iterator<char>(f), {}));
  if (key.reveal().size() < kMinKeyBytes)
    return Status(Code::invalid, "tag key " + path + " is shorter than 32 bytes (make one: head -c 32 /dev/urandom)");
  return key;
}

std::string make_tag(const Secret& key, uint64_t account_id, std::string_view queue_id, int64_t time) {
  std::string part = signed_part(account_id, queue_id, time);
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(account_id));
  return "v=1; a=" + std::string(id) + "; q=" + std::string(queue_id) + "; t=" + std::to_string(time) +
         "; s=" + mac(key, part);
}

std::optional<TagFields> verify_tag(const Secret& key, std::string_view value) {
  // Strict: exactly the form make_tag writes (folding white space aside).
  std::string v;
  for (char c : value)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') v.push_back(c);
  TagFields f;
  std::string s;
  int seen = 0;
  size_t start = 0;
  while (start <= v.size()) {
    size_t end = v.find(';', start);
    if (end == std::string::npos) end = v.size();
    std::string_view item = std::string_view(v).substr(start, end - start);
    start = end + 1;
    if (item.size() < 2 || item[1] != '=') return std::nullopt;
    std::string_view val = item.substr(2);
    switch (item[0]) {
      case 'v':
        if (val != "1") return std::nullopt;
        seen |= 1;
        break;
      case 'a': {
        if (val.size() != 16) return std::nullopt;
        auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), f.account_id, 16);
        if (ec != std::errc() || p != val.data() + val.size()) return std::nullopt;
        seen |= 2;
        break;
      }
      case 'q':
        if (!queue_id_ok(val)) return std::nullopt;
        f.queue_id = std::string(val);
        seen |= 4;
        break;
      case 't': {
        auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), f.time);
        if (ec != std::errc() || p != val.data() + val.size()) return std::nullopt;
        seen |= 8;
        break;
      }
      case 's':
        s = std::string(val);
        seen |= 16;
        break;
      default:
        return std::nullopt;
    }
  }
  if (seen != 31) return std::nullopt;
  std::string expect = mac(key, signed_part(f.account_id, f.queue_id, f.time));
  if (expect.size() != s.size() || CRYPTO_memcmp(expect.data(), s.data(), s.size()) != 0) return std::nullopt;
  return f;
}

}  // namespace migo

namespace migo {
namespace {

constexpr char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr size_t kReturnMacBytes = 10;

std::string base32(std::string_view in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buf >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buf << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> unbase32(std::string_view in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    const char* p = (l >= 'a' && l <= 'z') || (l >= '2' && l <= '7') ? std::strchr(kBase32, l) : nullptr;
    if (!p) return std::nullopt;
    buf = (buf << 5) | static_cast<uint32_t>(p - kBase32);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buf >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

std::string return_mac(const Secret& key, std::string_view payload) {
  // Domain-separated from the header tag's MAC: one key, two meanings.
  std::string data = std::string("migo-return-path-1") + '\0' + std::string(payload);
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.reveal().data(), static_cast<int>(key.reveal().size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), kReturnMacBytes);
}

void put_be(std::string& s, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t get_be(std::string_view s, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = (v << 8) | static_cast<unsigned char>(s[static_cast<size_t>(i)]);
  return v;
}

}  // namespace

std::optional<std::string> make_return_path(const Secret& key, uint64_t account_id, std::string_view queue_id,
                                            int64_t time, std::string_view domain) {
  if (!queue_id_ok(queue_id) || domain.empty()) return std::nullopt;
  std::string payload;
  put_be(payload, account_id, 8);
  put_be(payload, static_cast<uint64_t>(time), 4);
  payload += queue_id;
  std::string local = "b" + base32(payload + return_mac(key, payload));
  if (local.size() > 64) return std::nullopt;
  return local + "@" + bounce_domain(domain);
}

std::optional<TagFields> verify_return_path(const Secret& key, std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at < 2 || (address[0] != 'b' && address[0] != 'B')) return std::nullopt;
  auto raw = unbase32(address.substr(1, at - 1));
  if (!raw || raw->size() < 12 + 1 + kReturnMacBytes) return std::nullopt;
  std::string_view payload = std::string_view(*raw).substr(0, raw->size() - kReturnMacBytes);
  std::string_view got = std::string_view(*raw).substr(raw->size() - kReturnMacBytes);
  std::string want = return_mac(key, payload);
  if (CRYPTO_memcmp(want.data(), got.data(), kReturnMacBytes) != 0) return std::nullopt;
  TagFields f;
  f.account_id = get_be(payload, 8);
  f.time = static_cast<int64_t>(get_be(payload.substr(8), 4));
  f.queue_id = std::string(payload.substr(12));
  if (!queue_id_ok(f.queue_id)) return std::nullopt;
  return f;
}

}  // namespace migo
