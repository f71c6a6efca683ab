// credentials.h — generated SMTP credentials and the verifiers stored for them.
//
// Passwords are generated, never chosen: 32 characters from [A-Za-z0-9]
// drawn from OpenSSL's RAND_bytes by rejection sampling (no modulo bias),
// about 190 bits. Only verifiers are stored:
//  - cmusaslsecretPLAIN: salt(16) NUL MD5(salt || "sasldb" || password), the
//    form libsasl2 checks for PLAIN and LOGIN under pwcheck_method auxprop;
//  - authPassword: "SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>"
//    (RFC 5803 form), which libsasl2's SCRAM plugin reads.
// MD5 would be weak for chosen passwords; for 190 random bits an offline
// search of either verifier is infeasible. See docs/security.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "migo/status.h"

namespace migo {

// A secret string wiped from memory when destroyed. Move-only.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string s) : s_(std::move(s)) {}
  ~Secret();
  Secret(Secret&& o) noexcept : s_(std::move(o.s_)) { o.wipe(); }
  Secret& operator=(Secret&& o) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  const std::string& reveal() const { return s_; }
  // Builds a secret text in place (e.g. output that shows a password): a
  // buffer that must grow is copied and the old one wiped, so no copy is
  // left behind in freed memory. reserve() first to avoid even that.
  void reserve(size_t n);
  void append(std::string_view v);

 private:
  void wipe() noexcept;
  std::string s_;
};

inline constexpr std::string_view kUsernamePrefix = "smtpuser_";
inline constexpr size_t kUsernameRandomChars = 16;  // 36^16 ~ 2^82.7
inline constexpr size_t kPasswordChars = 32;          // 62^32 ~ 2^190.5
inline constexpr uint32_t kScramIterations = 4096;

// n characters drawn uniformly from alphabet (at most 256 symbols).
Result<std::string> random_string(size_t n, std::string_view alphabet);
Result<std::string> generate_username();
Result<Secret> generate_password();
// smtpuser_ followed by 1..64 of [a-z0-9].
bool is_valid_username(std::string_view s);

// The account name a SASL login refers to, or nullopt if it cannot be one.
// libsasl appends "@realm" itself when Postfix's smtpd_sasl_local_domain is
// set (and Postfix then reports that as sasl_username), so a suffix equal to
// that realm is dropped; any other "@domain" is not one of our accounts
// (usernames are global, not per domain).
std::optional<std::string> account_name_of_login(std::string_view login, std::string_view user_realm);

// Whether a login as the client sent it could name an account at all:
// non-empty, at most 255 bytes, printable ASCII without blanks (so no NUL,
// no control byte, no space). What libsasl's LOGIN would cut or trim fails.
bool is_acceptable_login_bytes(std::string_view login);


struct Verifiers {
  std::string plain;  // cmusaslsecretPLAIN value (33 bytes, binary)
  std::string scram;  // authPassword value
};
// Both verifiers with fresh random salts.
Result<Verifiers> make_verifiers(std::string_view password);

std::string plain_verifier(std::string_view password, std::string_view salt16);
bool check_plain_verifier(std::string_view verifier, std::string_view password);
// The shapes libsasl relies on without checking: 16 salt bytes, NUL, 16
// MD5 bytes; "SCRAM-SHA-256$iterations:salt$stored:server". A record that
// decodes but holds anything else is damage, never handed to libsasl.
bool verifiers_well_formed(const Verifiers& v);
Result<std::string> scram_sha256_verifier(std::string_view password, std::string_view salt,
                                          uint32_t iterations);

std::string base64_encode(std::string_view in);
// base64url (RFC 4648 section 5) without padding, as tags and tracking
// tokens carry it; decoding refuses any other character, padding, and a
// length no encoding produces.
std::string base64url_encode(std::string_view in);
std::optional<std::string> base64url_decode(std::string_view in);
// The 32 raw bytes of SHA-256(in).
std::string sha256(std::string_view in);

}  // namespace migo
