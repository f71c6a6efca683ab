// credentials.cc — see credentials.h.
#include "migo/credentials.h"
#include "migo/loggable.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>

namespace migo {

void Secret::wipe() noexcept {
  if (!s_.empty()) OPENSSL_cleanse(s_.data(), s_.size());
  s_.clear();
}
Secret::~Secret() { wipe(); }

void Secret::reserve(size_t n) {
  if (n <= s_.capacity()) return;
  std::string bigger;
  bigger.reserve(n);
  bigger.append(s_);
  wipe();
  s_ = std::move(bigger);
}

void Secret::append(std::string_view v) {
  if (s_.size() + v.size() > s_.capacity()) reserve(2 * (s_.size() + v.size()));
  s_.append(v);
}
Secret& Secret::operator=(Secret&& o) noexcept {
  if (this != &o) {
    wipe();
    s_ = std::move(o.s_);
    o.wipe();
  }
  return *this;
}

Result<std::string> random_string(size_t n, std::string_view alphabet) {
  if (alphabet.empty() || alphabet.size() > 256) return Status(Code::invalid, "bad alphabet");
  // Accept a byte only below the largest multiple of the alphabet size, so
  // every symbol is exactly equally likely.
  const size_t limit = 256 - (256 % alphabet.size());
  std::string out;
  out.reserve(n);
  std::array<unsigned char, 64> buf;
  while (out.size() < n) {
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
      return Status(Code::unavailable, "RAND_bytes failed: no randomness");
    for (unsigned char b : buf) {
      if (b >= limit) continue;
      out.push_back(alphabet[b % alphabet.size()]);
      if (out.size() == n) break;
    }
  }
  OPENSSL_cleanse(buf.data(), buf.size());
  return out;
}

Result<std::string> generate_username() {
  auto tail = random_string(kUsernameRandomChars, "abcdefghijklmnopqrstuvwxyz0123456789");
  if (!tail.ok()) return tail;
  return std::string(kUsernamePrefix) + *tail;
}

Result<Secret> generate_password() {
  auto p = random_string(kPasswordChars,
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  if (!p.ok()) return p.status();
  return Secret(std::move(*p));
}

bool is_valid_username(std::string_view s) {
  if (s.substr(0, kUsernamePrefix.size()) != kUsernamePrefix) return false;
  std::string_view tail = s.substr(kUsernamePrefix.size());
  if (tail.empty() || tail.size() > 64) return false;
  for (char c : tail)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::optional<std::string> account_name_of_login(std::string_view login, std::string_view user_realm) {
  size_t at = login.find('@');
  if (at != std::string_view::npos) {
    if (user_realm.empty() || login.substr(at + 1) != user_realm) return std::nullopt;
    login = login.substr(0, at);
  }
  if (!is_valid_username(login)) return std::nullopt;
  return std::string(login);
}

// Declared in loggable.h.
std::string loggable_login(std::string_view login) {
  size_t at = login.find('@');
  if (is_valid_username(login.substr(0, at))) {
    if (at == std::string_view::npos) return std::string(login);
    return std::string(login.substr(0, at)) + "@(" + std::to_string(login.size() - at - 1) + " bytes)";
  }
  return "(malformed login, " + std::to_string(login.size()) + " bytes)";
}

std::string plain_verifier(std::string_view password, std::string_view salt16) {
  std::string out(salt16.substr(0, 16));
  out.push_back('\0');
  unsigned char md[16];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, salt16.data(), 16);
  EVP_DigestUpdate(ctx, "sasldb", 6);
  EVP_DigestUpdate(ctx, password.data(), password.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  out.append(reinterpret_cast<const char*>(md), sizeof md);
  return out;
}

namespace {
constexpr size_t kPlainVerifierBytes = 33;
constexpr std::string_view kScramPrefix = "SCRAM-SHA-256$";
// 16 salt bytes, NUL, 16 MD5 bytes.
bool plain_verifier_shaped(std::string_view v) { return v.size() == kPlainVerifierBytes && v[16] == '\0'; }
}  // namespace

bool is_acceptable_login_bytes(std::string_view login) {
  if (login.empty() || login.size() > 255) return false;
  for (unsigned char c : login)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

bool verifiers_well_formed(const Verifiers& v) {
  if (!plain_verifier_shaped(v.plain)) return false;
  // SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>
  std::string_view s = v.scram;
  if (s.substr(0, kScramPrefix.size()) != kScramPrefix) return false;
  s.remove_prefix(kScramPrefix.size());
  size_t colon = s.find(':'), dollar = s.find('$'), colon2 = s.rfind(':');
  return colon != 0 && colon != std::string_view::npos && dollar != std::string_view::npos && colon < dollar &&
         colon2 > dollar + 1 && colon2 + 1 < s.size() && s.find('\0') == std::string_view::npos;
}

bool check_plain_verifier(std::string_view verifier, std::string_view password) {
  if (!plain_verifier_shaped(verifier)) return false;
  std::string expect = plain_verifier(password, verifier.substr(0, 16));
  return CRYPTO_memcmp(expect.data(), verifier.data(), kPlainVerifierBytes) == 0;
}

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64url_encode(std::string_view in) {
  std::string b64 = base64_encode(in);
  for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return b64;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string std64(in);
  for (char& c : std64) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return std::nullopt;
  }
  size_t pad = (4 - std64.size() % 4) % 4;
  std64.append(pad, '=');
  std::string out(std64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(std64.data()), static_cast<int>(std64.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);  // EVP_DecodeBlock counts padding as zero bytes
  // Only the canonical encoding: unused low bits of the last character must
  // be zero, so one token has one spelling.
  if (base64url_encode(out) != in) return std::nullopt;
  return out;
}

std::string sha256(std::string_view in) {
  unsigned char md[32];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  return std::string(reinterpret_cast<char*>(md), sizeof md);
}

Result<std::string> scram_sha256_verifier(std::string_view password, std::string_view salt,
                                          uint32_t iterations) {
  unsigned char salted[32], client_key[32], stored_key[32], server_key[32];
  unsigned int len = 0;
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        sizeof salted, salted) != 1)
    return Status(Code::unavailable, "PBKDF2 failed");
  HMAC(EVP_sha256(), salted, sizeof salted, reinterpret_cast<const unsigned char*>("Client Key"),
       10, client_key, &len);
  SHA256(client_key, sizeof client_key, stored_key);
  HMAC(EVP_sha256(), salted, sizeof salted, reinterpret_cast<const unsigned char*>("Server Key"),
       10, server_key, &len);
  std::string out = "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + base64_encode(salt) +
                    "$" + base64_encode({reinterpret_cast<char*>(stored_key), 32}) + ":" +
                    base64_encode({reinterpret_cast<char*>(server_key), 32});
  OPENSSL_cleanse(salted, sizeof salted);
  OPENSSL_cleanse(client_key, sizeof client_key);
  return out;
}

Result<Verifiers> make_verifiers(std::string_view password) {
  unsigned char salts[32];
  if (RAND_bytes(salts, sizeof salts) != 1)
    return Status(Code::unavailable, "RAND_bytes failed: no randomness");
  Verifiers v;
  v.plain = plain_verifier(password, {reinterpret_cast<char*>(salts), 16});
  auto scram = scram_sha256_verifier(password, {reinterpret_cast<char*>(salts + 16), 16},
                                     kScramIterations);
  if (!scram.ok()) return scram.status();
  v.scram = std::move(*scram);
  return v;
}

}  // namespace migo
