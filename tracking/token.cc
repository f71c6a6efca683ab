// token.cc — see token.h.
#include "token.h"

#include "html.h"  // http_scheme

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <fstream>
#include <iterator>

namespace migo {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kMacBytes = 16;

std::string mac(const Secret& key, std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.reveal().data(), static_cast<int>(key.reveal().size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), kMacBytes);
}

}  // namespace

Result<TrackingKeys> TrackingKeys::parse(std::string_view text) {
  TrackingKeys out;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line_no++;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    auto bad = [&](const std::string& why) {
      return Status(Code::invalid, "tracking keys, line " + std::to_string(line_no) + ": " + why);
    };
    size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) return bad("expected \"ID KEY\"");
    unsigned id = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + sp, id);
    if (ec != std::errc() || end != line.data() + sp || id < 1 || id > 255) return bad("the id must be 1-255");
    std::string_view b64 = line.substr(sp + 1);
    while (!b64.empty() && (b64.front() == ' ' || b64.front() == '\t')) b64.remove_prefix(1);
    auto key = base64url_decode(b64);
    if (!key || key->size() < kMinTrackingKeyBytes) {
      if (key) OPENSSL_cleanse(key->data(), key->size());
      return bad("the key must be base64url of at least 32 bytes");
    }
    if (out.find(static_cast<uint8_t>(id))) return bad("id " + std::to_string(id) + " is listed twice");
    out.keys_.emplace_back(static_cast<uint8_t>(id), Secret(std::move(*key)));
  }
  if (out.keys_.empty()) return Status(Code::invalid, "tracking keys: none listed");
  return out;
}

Result<TrackingKeys> TrackingKeys::read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(Code::unavailable, "cannot read tracking keys " + path);
  Secret text(std::string(std::istreambuf_iterator<char>(f), {}));
  auto keys = parse(text.reveal());
  if (!keys.ok()) return Status(keys.status().code(), path + ": " + keys.status().message());
  return keys;
}

const Secret* TrackingKeys::find(uint8_t id) const {
  for (const auto& [kid, key] : keys_)
    if (kid == id) return &key;
  return nullptr;
}

std::optional<std::string> make_track_token(const TrackingKeys& keys, const TrackToken& t) {
  if (t.queue_id.empty() || t.queue_id.size() > 255 || t.time < 0 || t.time > 0xffffffffLL) return std::nullopt;
  if (t.kind == TrackToken::Kind::click && (t.url.size() > kMaxTrackedUrlBytes || !http_scheme(t.url)))
    return std::nullopt;
  std::string b;
  b += static_cast<char>(kVersion);
  b += static_cast<char>(keys.signing_id());
  b += static_cast<char>(t.kind);
  for (int i = 7; i >= 0; i--) b += static_cast<char>(t.account_id >> (8 * i));
  for (int i = 3; i >= 0; i--) b += static_cast<char>(static_cast<uint64_t>(t.time) >> (8 * i));
  b += static_cast<char>(t.queue_id.size());
  b += t.queue_id;
  if (t.kind == TrackToken::Kind::click) {
    b += static_cast<char>(t.link >> 8);
    b += static_cast<char>(t.link & 0xff);
    b += t.url;
  }
  b += mac(keys.signing_key(), b);
  return base64url_encode(b);
}

std::optional<TrackToken> verify_track_token(const TrackingKeys& keys, std::string_view token) {
  // Bounded before decoding: a request line can be anything.
  if (token.size() > 4 * (kMaxTrackedUrlBytes + 300 + kMacBytes) / 3) return std::nullopt;
  auto raw = base64url_decode(token);
  constexpr size_t kFixed = 3 + 8 + 4 + 1;
  if (!raw || raw->size() < kFixed + kMacBytes) return std::nullopt;
  const std::string& b = *raw;
  if (static_cast<uint8_t>(b[0]) != kVersion) return std::nullopt;
  const Secret* key = keys.find(static_cast<uint8_t>(b[1]));
  if (!key) return std::nullopt;
  std::string_view body = std::string_view(b).substr(0, b.size() - kMacBytes);
  std::string want = mac(*key, body);
  if (CRYPTO_memcmp(want.data(), b.data() + body.size(), kMacBytes) != 0) return std::nullopt;
  // Verified: what follows was written by make_track_token, but is still
  // read with bounds checks.
  TrackToken t;
  char kind = b[2];
  if (kind != 'o' && kind != 'c') return std::nullopt;
  t.kind = static_cast<TrackToken::Kind>(kind);
  size_t at = 3;
  for (int i = 0; i < 8; i++) t.account_id = t.account_id << 8 | static_cast<uint8_t>(b[at++]);
  uint64_t time = 0;
  for (int i = 0; i < 4; i++) time = time << 8 | static_cast<uint8_t>(b[at++]);
  t.time = static_cast<int64_t>(time);
  size_t n = static_cast<uint8_t>(b[at++]);
  if (n == 0 || n > body.size() - at) return std::nullopt;
  t.queue_id.assign(body.substr(at, n));
  at += n;
  if (t.kind == TrackToken::Kind::click) {
    if (body.size() - at < 2) return std::nullopt;
    t.link = static_cast<uint16_t>(static_cast<uint8_t>(b[at]) << 8 | static_cast<uint8_t>(b[at + 1]));
    at += 2;
    t.url.assign(body.substr(at));
    if (!http_scheme(t.url)) return std::nullopt;
  } else if (at != body.size()) {
    return std::nullopt;
  }
  return t;
}

}  // namespace migo
