#include "migo/credentials.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>

using namespace migo;

static std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

static std::string b64decode(const std::string& in) {
  std::string out(in.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  REQUIRE(n >= 0);
  size_t pad = (in.size() >= 1 && in.back() == '=') + (in.size() >= 2 && in[in.size() - 2] == '=');
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

static std::string hmac256(const std::string& key, const std::string& msg) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

TEST_CASE("usernames: prefix, alphabet, length, uniqueness") {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; i++) {
    auto u = generate_username();
    REQUIRE(u.ok());
    CHECK(u->size() == kUsernamePrefix.size() + kUsernameRandomChars);
    CHECK(is_valid_username(*u));
    seen.insert(*u);
  }
  CHECK(seen.size() == 2000);
  CHECK_FALSE(is_valid_username("smtpuser_"));
  CHECK_FALSE(is_valid_username("smtpuser_ABC"));
  CHECK_FALSE(is_valid_username("user_abc"));
  CHECK_FALSE(is_valid_username("smtpuser_abc@example.com"));
}

TEST_CASE("passwords: 32 characters of [A-Za-z0-9], unique") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; i++) {
    auto p = generate_password();
    REQUIRE(p.ok());
    REQUIRE(p->reveal().size() == 32);
    for (char c : p->reveal()) CHECK(std::isalnum(static_cast<unsigned char>(c)));
    seen.insert(p->reveal());
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("random_string has no bias beyond chance") {
  // 62 symbols, 620,000 draws: each expected 10,000 times. A chi-square
  // statistic with 61 degrees of freedom above 120 has probability ~1e-5
  // by chance; the modulo bias of a naive `byte % 62` (symbols 0-7 drawn
  // 5/4 as often) would score in the thousands.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  auto s = random_string(620000, alphabet);
  REQUIRE(s.ok());
  std::map<char, double> count;
  for (char c : *s) count[c]++;
  REQUIRE(count.size() == 62);
  double chi2 = 0;
  for (auto& [c, n] : count) chi2 += (n - 10000) * (n - 10000) / 10000;
  CHECK(chi2 < 120);
}

TEST_CASE("PLAIN verifier matches libsasl2's cmusaslsecretPLAIN on a known vector") {
  std::string salt;
  for (int i = 0; i < 16; i++) salt.push_back(static_cast<char>(i));
  std::string v = plain_verifier("pencil", salt);
  REQUIRE(v.size() == 33);
  CHECK(v.substr(0, 16) == salt);
  CHECK(v[16] == '\0');
  // MD5(salt || "sasldb" || "pencil"), computed independently.
  CHECK(hex(v.substr(17)) == "0085bb867953ff2c9396a00a0d8c17c5");
  CHECK(check_plain_verifier(v, "pencil"));
  CHECK_FALSE(check_plain_verifier(v, "pencil2"));
  CHECK_FALSE(check_plain_verifier(v.substr(0, 32), "pencil"));
}

TEST_CASE("SCRAM-SHA-256 verifier reproduces RFC 7677's exchange") {
  auto v = scram_sha256_verifier("pencil", b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  REQUIRE(v.ok());
  // SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>
  REQUIRE(v->rfind("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$", 0) == 0);
  std::string keys = v->substr(v->rfind('$') + 1);
  std::string stored = b64decode(keys.substr(0, keys.find(':')));
  std::string server = b64decode(keys.substr(keys.find(':') + 1));
  REQUIRE(stored.size() == 32);
  REQUIRE(server.size() == 32);

  const std::string auth_message =
      "n=user,r=rOprNGfwEbeRWgbNEkqO,"
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  // The server checks the client's proof with StoredKey alone...
  std::string proof = b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  std::string client_sig = hmac256(stored, auth_message);
  std::string client_key(32, '\0');
  for (size_t i = 0; i < 32; i++) client_key[i] = static_cast<char>(proof[i] ^ client_sig[i]);
  unsigned char h[32];
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), 32, h);
  CHECK(std::string(reinterpret_cast<char*>(h), 32) == stored);
  // ...and proves itself with ServerKey.
  CHECK(base64_encode(hmac256(server, auth_message)) ==
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST_CASE("make_verifiers salts every call") {
  auto a = make_verifiers("samepassword");
  auto b = make_verifiers("samepassword");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->plain != b->plain);
  CHECK(a->scram != b->scram);
  CHECK(check_plain_verifier(a->plain, "samepassword"));
  CHECK(a->plain.find("samepassword") == std::string::npos);
  CHECK(a->scram.find("samepassword") == std::string::npos);
}

TEST_CASE("Secret moves and wipes") {
  Secret a("hunter2hunter2");
  Secret b(std::move(a));
  CHECK(b.reveal() == "hunter2hunter2");
  CHECK(a.reveal().empty());  // NOLINT(bugprone-use-after-move): moved-from is wiped by contract
}

TEST_CASE("logins map to account names deliberately") {
  CHECK(*account_name_of_login("smtpuser_abc123", "") == "smtpuser_abc123");
  CHECK(*account_name_of_login("smtpuser_abc123@relay.example", "relay.example") == "smtpuser_abc123");
  CHECK_FALSE(account_name_of_login("smtpuser_abc123@other.example", "relay.example"));
  CHECK_FALSE(account_name_of_login("smtpuser_abc123@example.com", ""));
  CHECK_FALSE(account_name_of_login("SMTPUSER_ABC", ""));
  CHECK_FALSE(account_name_of_login("root", ""));
  CHECK_FALSE(account_name_of_login("", ""));
  CHECK_FALSE(account_name_of_login(std::string_view("smtpuser_a\0b", 12), ""));
}

TEST_CASE("a Secret grows in place, or by a copy whose old buffer is wiped") {
  Secret s;
  s.reserve(64);
  const char* before = s.reveal().data();
  s.append("head ");
  s.append("PASSWORD");
  CHECK(s.reveal().data() == before);  // reserved: no reallocation, no stray copy
  CHECK(s.reveal() == "head PASSWORD");
  s.append(std::string(200, 'x'));  // past the reservation: moved to a bigger buffer
  CHECK(s.reveal().size() == 213);
  CHECK(s.reveal().substr(0, 13) == "head PASSWORD");
}

TEST_CASE("base64url: unpadded, and only the canonical spelling decodes") {
  for (std::string s : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                        std::string("\xfb\xff\xfe", 3), std::string(100, '\0')}) {
    std::string e = base64url_encode(s);
    CHECK(e.find_first_of("+/=") == std::string::npos);
    auto d = base64url_decode(e);
    REQUIRE(d);
    CHECK(*d == s);
  }
  CHECK(base64url_encode("\xfb\xff\xfe") == "-__-");
  CHECK_FALSE(base64url_decode("Zm9v="));  // padding
  CHECK_FALSE(base64url_decode("Zm+v"));   // standard alphabet
  CHECK_FALSE(base64url_decode("Z"));      // no encoding is 1 mod 4 long
  CHECK_FALSE(base64url_decode("Zh"));     // "f" is "Zg": low bits set
  CHECK_FALSE(base64url_decode("Zm9v\n"));
  CHECK(*base64url_decode("Zg") == "f");
}
