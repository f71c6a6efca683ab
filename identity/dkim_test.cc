// dkim_test.cc — keys made here and signatures made by libopendkim, checked
// by an independent verifier (python3-dkim) given our public key; a changed
// body or From breaks them.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "dkim.h"
#include "run.h"
#include "verification.h"

using namespace migo;

namespace {

// python3-dkim verifies `message` against the DNS record `record`, served
// by its dnsfunc hook (no DNS involved). Exit 0 = valid.
int python_verifies(const std::string& message, const std::string& record) {
  std::string script =
      "import sys, dkim\n"
      "rec = sys.argv[1].encode()\n"
      "msg = sys.stdin.buffer.read()\n"
      "ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec)\n"
      "sys.exit(0 if ok else 1)\n";
  auto r = test::run({"/usr/bin/python3", "-c", script, record}, {}, message);
  INFO("python3-dkim: " << r.err);
  return r.rc;
}

struct Signed {
  std::string message, record;
};

// Signed with a new RSA key, and (ed25519) with a new Ed25519 key beside
// it: then the Ed25519 signature comes first, as the one verified.
Signed sign(const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
           DkimAlgorithm algorithm = DkimAlgorithm::rsa_sha256) {
  auto key = generate_dkim_key();
  REQUIRE(key.ok());
  auto lib = DkimLibrary::create();
  REQUIRE(lib.ok());
  auto s = DkimSigner::start(**lib, key->private_pem, "m2026", "example.com", "TESTQID");
  REQUIRE(s.ok());
  for (const auto& [n, v] : headers) REQUIRE((*s)->header(n, v).ok());
  // The body in uneven chunks, as a milter receives it.
  for (size_t at = 0; at < body.size(); at += 7) REQUIRE((*s)->body(body.substr(at, 7)).ok());
  auto sig = (*s)->finish();
  INFO((sig.ok() ? std::string() : sig.status().message()));
  REQUIRE(sig.ok());
  std::string msg = "DKIM-Signature: " + *sig + "\r\n";
  std::string record = dkim_record_value(key->public_b64);
  if (algorithm == DkimAlgorithm::ed25519_sha256) {
    auto ed = generate_dkim_key(DkimAlgorithm::ed25519_sha256);
    REQUIRE(ed.ok());
    auto edsig = (*s)->cosign_ed25519(ed->private_pem, "m2026ed");
    INFO((edsig.ok() ? std::string() : edsig.status().message()));
    REQUIRE(edsig.ok());
    msg = "DKIM-Signature: " + *edsig + "\r\n" + msg;
    record = dkim_record_value(ed->public_b64, algorithm);
  }
  for (const auto& [n, v] : headers) msg += n + ":" + v + "\r\n";
  msg += "\r\n" + body;
  return {msg, record};
}

}  // namespace

TEST_CASE("DKIM keys: RSA-2048, PEM private key, base64 public key for p=") {
  auto k = generate_dkim_key();
  REQUIRE(k.ok());
  CHECK(k->private_pem.reveal().rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
  CHECK(k->public_b64.size() > 350);  // 294 DER bytes for 2048 bits
  CHECK(dkim_record_key(dkim_record_value(k->public_b64)) == k->public_b64);
  CHECK(dkim_record_key("v=DKIM1; k=rsa; p=AB CD\tEF") == "ABCDEF");
  CHECK(dkim_record_key(" p = QUJD ; v=DKIM1") == "QUJD");
  CHECK(dkim_record_key("v=DKIM1; k=rsa; p=") == "");  // revoked
  CHECK(dkim_record_key("v=DKIM1; k=rsa") == "");
  CHECK(dkim_record_key("v=DKIM1; p=AB\"CD") == "");  // not base64
  CHECK(dkim_record_key("v=DKIM1; pp=QUJD") == "");
}

TEST_CASE("signatures verify independently; changing the body or From breaks them") {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"From", " App <app@example.com>"},
      {"To", " someone@dest.example"},
      {"Subject", " Your   receipt"},  // relaxed canonicalisation folds spaces
      {"Date", " Wed, 25 Nov 2026 19:00:00 +0000"},
      {"Message-ID", " <1@example.com>"},
      {"X-Migo-Tag", " v=1; q=4ABC; t=xyz"},
  };
  std::string body = "Hello,\r\n\r\nthank you for your order.\r\n\r\n\r\n";
  Signed s = sign(headers, body);
  INFO(s.message);
  CHECK(s.message.find("d=example.com") != std::string::npos);
  CHECK(s.message.find("s=m2026") != std::string::npos);
  CHECK(s.message.find("c=relaxed/relaxed") != std::string::npos);
  CHECK(s.message.find("a=rsa-sha256") != std::string::npos);
  CHECK(python_verifies(s.message, s.record) == 0);

  std::string changed = s.message;
  changed.replace(changed.find("thank you"), 9, "THANK YOU");
  CHECK(python_verifies(changed, s.record) == 1);
  // A second From added after signing: From is over-signed.
  std::string two_froms = s.message;
  two_froms.insert(two_froms.find("From:"), "From: evil@attacker.example\r\n");
  CHECK(python_verifies(two_froms, s.record) == 1);
  // Another key's record does not verify it.
  Signed other = sign(headers, body);
  CHECK(python_verifies(s.message, other.record) == 1);
}

TEST_CASE("Ed25519 (RFC 8463): a raw 32-byte public key, and signatures that verify independently") {
  auto k = generate_dkim_key(DkimAlgorithm::ed25519_sha256);
  REQUIRE(k.ok());
  CHECK(k->private_pem.reveal().rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
  CHECK(k->public_b64.size() == 44);  // base64 of 32 bytes
  CHECK(dkim_record_value(k->public_b64, DkimAlgorithm::ed25519_sha256) == "v=DKIM1; k=ed25519; p=" + k->public_b64);

  std::vector<std::pair<std::string, std::string>> headers = {
      {"From", " App <app@example.com>"}, {"To", " someone@dest.example"}, {"Subject", " Ed"},
      {"Date", " Wed, 25 Nov 2026 19:00:00 +0000"}};
  std::string body = "Short and sweet.\r\n";
  Signed s = sign(headers, body, DkimAlgorithm::ed25519_sha256);
  INFO(s.message);
  CHECK(s.message.find("a=ed25519-sha256") != std::string::npos);
  CHECK(s.message.find("s=m2026ed") != std::string::npos);
  CHECK(python_verifies(s.message, s.record) == 0);
  std::string changed = s.message;
  changed.replace(changed.find("sweet"), 5, "sour!");
  CHECK(python_verifies(changed, s.record) == 1);
  // Headers as they come: folded, repeated, odd spacing, a header the
  // list does not sign. Every one the list signs is covered: a change to
  // the second (bottom) Subject, the first To or the folded Subject breaks it.
  std::vector<std::pair<std::string, std::string>> odd = {
      {"From", " App\t <app@example.com>  "},
      {"Subject", "  Folded\r\n\t subject\r\n line"},
      {"To", " one@dest.example,\r\n two@dest.example"},
      {"X-Unsigned", " anything"},
      {"subject", " a second subject, lowercase name"},
      {"Date", " Wed, 25 Nov 2026 19:00:00 +0000"},
      {"Content-Type", " text/plain;\r\n\tcharset=utf-8"}};
  Signed o = sign(odd, "Body\r\n", DkimAlgorithm::ed25519_sha256);
  INFO(o.message);
  CHECK(python_verifies(o.message, o.record) == 0);
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"a second subject", "a 2nd subject"}, {"one@dest", "uno@dest"}, {"Folded", "Fooled"},
           {"charset=utf-8", "charset=latin1"}}) {
    std::string t = o.message;
    t.replace(t.find(from), from.size(), to);
    INFO(from);
    CHECK(python_verifies(t, o.record) == 1);
  }
  std::string extra = o.message;  // the unsigned header may change
  extra.replace(extra.find("anything"), 8, "whatever");
  CHECK(python_verifies(extra, o.record) == 0);
  // Over-signed: a From added after signing breaks it.
  std::string two = o.message;
  two.insert(two.find("From:"), "From: evil@attacker.example\r\n");
  CHECK(python_verifies(two, o.record) == 1);
  // The same key published as k=rsa is not this key to a verifier.
  std::string as_rsa = s.record;
  as_rsa.replace(as_rsa.find("k=ed25519"), 9, "k=rsa");
  CHECK(python_verifies(s.message, as_rsa) == 1);
}

TEST_CASE("relaxed header canonicalisation (RFC 6376 3.4.2)") {
  CHECK(relaxed_header("SUBJect ", " \t Hello   there\r\n\t  world \t") == "subject:Hello there world");
  CHECK(relaxed_header("X", "") == "x:");
  CHECK(relaxed_header("X", " \r\n ") == "x:");
}

TEST_CASE("an Ed25519 signature needs the RSA one first, and an Ed25519 key") {
  auto rsa = generate_dkim_key();
  REQUIRE(rsa.ok());
  auto lib = DkimLibrary::create();
  REQUIRE(lib.ok());
  auto s = DkimSigner::start(**lib, rsa->private_pem, "m2026", "example.com", "Q1");
  REQUIRE(s.ok());
  REQUIRE((*s)->header("From", " a@example.com").ok());
  auto ed = generate_dkim_key(DkimAlgorithm::ed25519_sha256);
  REQUIRE(ed.ok());
  CHECK((*s)->cosign_ed25519(ed->private_pem, "e").status().code() == Code::invalid);  // before finish
  REQUIRE((*s)->finish().ok());
  CHECK((*s)->cosign_ed25519(rsa->private_pem, "e").status().code() == Code::unavailable);  // an RSA key
  Secret junk(std::string("not a key"));
  CHECK((*s)->cosign_ed25519(junk, "e").status().code() == Code::unavailable);
  CHECK((*s)->cosign_ed25519(ed->private_pem, "e").ok());
}

TEST_CASE("a key that is not a key is an error, not an unsigned message") {
  auto lib = DkimLibrary::create();
  REQUIRE(lib.ok());
  Secret junk(std::string("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"));
  auto s = DkimSigner::start(**lib, junk, "m2026", "example.com", "Q1");
  if (s.ok()) {
    REQUIRE((*s)->header("From", " a@example.com").ok());
    CHECK_FALSE((*s)->finish().ok());
  } else {
    CHECK(s.status().code() == Code::unavailable);
  }
}

TEST_CASE("key files: 0640 under DIR/DOMAIN (the directory's group reads), read back; hostile names refused") {
  char tmpl[] = "/tmp/migo-dkim-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string dir = tmpl;
  auto k = generate_dkim_key();
  REQUIRE(k.ok());
  REQUIRE(write_dkim_key(dir, "example.com", "m202611", k->private_pem).ok());
  struct stat st;
  REQUIRE(stat((dir + "/example.com/m202611.pem").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  REQUIRE(stat((dir + "/example.com").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0750);
  // Whatever the umask (a daemon's 0117 would take the directory's x away).
  mode_t old = umask(0177);
  REQUIRE(write_dkim_key(dir, "umask.example", "m202611", k->private_pem).ok());
  umask(old);
  REQUIRE(stat((dir + "/umask.example").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0750);
  REQUIRE(stat((dir + "/umask.example/m202611.pem").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  auto back = read_dkim_key(dir, "example.com", "m202611");
  REQUIRE(back.ok());
  CHECK(back->reveal() == k->private_pem.reveal());
  CHECK(read_dkim_key(dir, "example.com", "nothere").status().code() == Code::unavailable);
  for (auto [domain, selector] : std::vector<std::pair<std::string, std::string>>{
           {"../etc", "x"}, {"example.com", "../x"}, {"a/b", "x"}, {"example.com", "a.b"}, {"", "x"}, {"ok.example", ""},
           {"..", "x"}, {"Example.com", "x"}}) {
    INFO(domain << " " << selector);
    CHECK(dkim_key_path(dir, domain, selector).status().code() == Code::invalid);
    CHECK_FALSE(write_dkim_key(dir, domain, selector, k->private_pem).ok());
  }
  CHECK_FALSE(write_dkim_key(dir + "/missing", "example.com", "m1", k->private_pem).ok());
  std::filesystem::remove_all(dir);
}

TEST_CASE("selectors: year and month, then random") {
  const int64_t nov2026 = 1795000000;  // 2026-11-18
  auto a = new_dkim_selector(nov2026), b = new_dkim_selector(nov2026);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->rfind("m202611", 0) == 0);
  CHECK(a->size() == 13);
  CHECK(*a != *b);
  CHECK(dkim_key_path("/k", "example.com", *a).ok());
}
