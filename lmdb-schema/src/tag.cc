// tag.cc — see tag.h.
#include "migo/tag.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
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
  std::string b64 = base64_encode(std::string_view(reinterpret_cast<char*>(out), len));
  for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;  // base64url
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return b64;
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
