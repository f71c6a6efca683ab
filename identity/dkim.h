// dkim.h — DKIM keys and signatures. Keys are made with OpenSSL; RSA
// signing is libopendkim's (Debian's libopendkim-dev): it canonicalises
// (relaxed/relaxed), hashes and formats the DKIM-Signature. The Ed25519
// second signature reuses that work (see DkimSigner for why).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "migo/credentials.h"
#include "migo/records.h"
#include "migo/status.h"

namespace migo {

// A new key pair, RSA-2048 or Ed25519: the private key as PKCS#8 PEM (in
// a Secret: wiped when dropped; libopendkim reads both kinds) and the public
// key as DNS wants it in p= (see DkimKey::public_b64).
struct DkimKeyPair {
  Secret private_pem;
  std::string public_b64;
};
Result<DkimKeyPair> generate_dkim_key(DkimAlgorithm algorithm = DkimAlgorithm::rsa_sha256);

// Private keys live in files, never in the store every smtpd maps:
// DIR/DOMAIN/SELECTOR.pem, mode 0640, owner and group DIR's (one relay:
// the role creates DIR as migo-milter:root 0700; several: migo-syncd, which
// writes the keys other relays made, with group migo-milter, 2750).
// migoctl writes them, migo-milter reads them.
constexpr const char* kDefaultDkimKeyDir = "/etc/migo/dkim";
Result<std::string> dkim_key_path(const std::string& dir, const std::string& domain, const std::string& selector);
// Writes atomically (temporary file, fsync, rename); DIR must exist.
Status write_dkim_key(const std::string& dir, const std::string& domain, const std::string& selector,
                      const Secret& pem);
Result<Secret> read_dkim_key(const std::string& dir, const std::string& domain, const std::string& selector);

// A new selector: "m", the UTC year and month, and 6 random letters and
// digits ("m202611k3v9x0"). Random, because two workspaces may add the same
// domain, and each needs its own record at SELECTOR._domainkey.DOMAIN.
Result<std::string> new_dkim_selector(int64_t now);


// The headers signed, in this order, and those signed once more than they
// occur (over-signed: a header of that name added later breaks the
// signature, so no one can add a second From or Subject).
extern const std::vector<std::string> kDkimSignedHeaders;
extern const std::vector<std::string> kDkimOversignedHeaders;

// libopendkim's library handle, set up once per process with our header
// lists. Thread-safe for signing (libopendkim's handles are per message).
class DkimLibrary {
 public:
  // fixed_time: the signature's t= (tests); 0 = now.
  static Result<std::unique_ptr<DkimLibrary>> create(uint64_t fixed_time = 0);
  ~DkimLibrary();
  DkimLibrary(const DkimLibrary&) = delete;
  DkimLibrary& operator=(const DkimLibrary&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit DkimLibrary(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One message signed: feed headers in order, then the body in chunks (CRLF
// line ends, as SMTP carries it), then finish() gives the RSA
// DKIM-Signature header's value (without the "DKIM-Signature:" name), and
// cosign_ed25519() as many Ed25519 ones (RFC 8463) as the domain has keys.
//
// Why Ed25519 is not libopendkim's too: Debian 12's libopendkim
// (2.11.0~beta2) does not free an Ed25519 signature's key — dkim_free frees
// a signature's crypto state only for RSA — about 470 bytes per message,
// measured (fixed upstream in May 2026, after Debian's package). So the
// Ed25519 signature is made here, from what libopendkim already decided
// for the RSA one: the same header list (its h=, over-signing included),
// the same body hash (bh=: both are relaxed and SHA-256, RFC 8463 3) and
// the same time. What is written here is only what RFC 8463 adds: the
// relaxed canonical form of those headers and of the new signature header
// (RFC 6376 3.4.2, 3.7), their SHA-256, and its Ed25519 signature
// (OpenSSL). python3-dkim checks the result (dkim_test, milter_e2e).
class DkimSigner {
 public:
  // `private_pem`: the RSA key. `id` names the message in libopendkim's
  // errors (the queue id).
  static Result<std::unique_ptr<DkimSigner>> start(DkimLibrary& lib, const Secret& private_pem,
                                                   const std::string& selector, const std::string& domain,
                                                   const std::string& id);
  ~DkimSigner();
  DkimSigner(const DkimSigner&) = delete;
  DkimSigner& operator=(const DkimSigner&) = delete;

  Status header(std::string_view name, std::string_view value);
  Status body(std::string_view chunk);  // the end of headers is implied by the first call
  Result<std::string> finish();
  // After finish(): the Ed25519 signature of the same message with this key
  // (PKCS#8 PEM) and selector.
  Result<std::string> cosign_ed25519(const Secret& private_pem, const std::string& selector) const;

 private:
  struct Impl;
  explicit DkimSigner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// RFC 6376 3.4.2, the relaxed canonical form of one header ("name:value",
// no CRLF): the name lowercased, the value unfolded, each run of spaces and
// tabs one space, none at either end or around the colon.
std::string relaxed_header(std::string_view name, std::string_view value);

}  // namespace migo
