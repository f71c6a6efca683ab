// dkim.h — DKIM keys and signatures. Keys are made with OpenSSL; signing is
// libopendkim's (Debian's libopendkim-dev), not a hand-written signer: it
// canonicalises (relaxed/relaxed), hashes and formats the DKIM-Signature.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "migo/credentials.h"
#include "migo/status.h"

namespace migo {

// A new RSA-2048 key pair: the private key as PKCS#8 PEM (in a Secret:
// wiped when dropped) and the public key as DNS wants it in p= (base64 of
// the SubjectPublicKeyInfo).
struct DkimKeyPair {
  Secret private_pem;
  std::string public_b64;
};
Result<DkimKeyPair> generate_dkim_key();

// The TXT record value for a public key.
std::string dkim_record_value(const std::string& public_b64);
// The p= of a published DKIM record ("" if it has none or is malformed):
// tags as RFC 6376 3.6.1 writes them, whitespace inside the value removed.
std::string dkim_record_key(std::string_view txt);

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

// One message signed with one key: feed headers in order, then the body in
// chunks (CRLF line ends, as SMTP carries it), then finish() gives the
// DKIM-Signature header's value (without the "DKIM-Signature:" name).
class DkimSigner {
 public:
  // `id` names the message in libopendkim's errors (the queue id).
  static Result<std::unique_ptr<DkimSigner>> start(DkimLibrary& lib, const Secret& private_pem,
                                                   const std::string& selector, const std::string& domain,
                                                   const std::string& id);
  ~DkimSigner();
  DkimSigner(const DkimSigner&) = delete;
  DkimSigner& operator=(const DkimSigner&) = delete;

  Status header(std::string_view name, std::string_view value);
  Status body(std::string_view chunk);  // the end of headers is implied by the first call
  Result<std::string> finish();

 private:
  struct Impl;
  explicit DkimSigner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace migo
