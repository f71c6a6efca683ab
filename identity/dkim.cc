// dkim.cc — see dkim.h.
#include "dkim.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

// dkim.h is C: it spells C's boolean type `_Bool`, which C++ lacks. The two
// have the same size and ABI (both are the platform's bool).
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "verification.h"

namespace migo {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::string base64(const unsigned char* p, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

}  // namespace

const std::vector<std::string> kDkimSignedHeaders = {
    "from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to", "references",
    "mime-version", "content-type", "content-transfer-encoding", "list-unsubscribe", "list-unsubscribe-post"};
const std::vector<std::string> kDkimOversignedHeaders = {"from", "reply-to", "subject", "date", "to", "cc",
                                                         "message-id", "mime-version", "content-type"};

Result<DkimKeyPair> generate_dkim_key(DkimAlgorithm algorithm) {
  const bool ed25519 = algorithm == DkimAlgorithm::ed25519_sha256;
  std::unique_ptr<EVP_PKEY, PkeyFree> key(ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                                  : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  if (!key) return Status(Code::unavailable, ed25519 ? "cannot generate an Ed25519 key" : "cannot generate an RSA-2048 key");
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Status(Code::unavailable, "cannot write the DKIM private key");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  DkimKeyPair out;
  out.private_pem.reserve(static_cast<size_t>(n));
  out.private_pem.append(std::string_view(data, static_cast<size_t>(n)));
  if (ed25519) {
    // RFC 8463: p= is the raw 32-byte key, not a SubjectPublicKeyInfo.
    unsigned char raw[32];
    size_t raw_len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key.get(), raw, &raw_len) != 1 || raw_len != sizeof raw)
      return Status(Code::unavailable, "cannot encode the DKIM public key");
    out.public_b64 = base64(raw, raw_len);
    return out;
  }
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return Status(Code::unavailable, "cannot encode the DKIM public key");
  out.public_b64 = base64(der, static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

namespace {
// Names we put in a path: lowercase letters, digits, '-' and '.', no empty
// label, never "." or "..": a domain (normalised A-labels) or a selector.
bool path_safe(const std::string& s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.' || s.find("..") != std::string::npos)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}
Status sys_error(const std::string& what) { return {Code::unavailable, what + ": " + std::strerror(errno)}; }
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};
}  // namespace

Result<std::string> dkim_key_path(const std::string& dir, const std::string& domain, const std::string& selector) {
  if (!path_safe(domain) || !path_safe(selector) || selector.find('.') != std::string::npos)
    return Status(Code::invalid, "not a domain and selector for a key file: '" + domain + "', '" + selector + "'");
  return dir + "/" + domain + "/" + selector + ".pem";
}

Status write_dkim_key(const std::string& dir, const std::string& domain, const std::string& selector,
                      const Secret& pem) {
  auto path = dkim_key_path(dir, domain, selector);
  if (!path.ok()) return path.status();
  struct stat top;
  if (stat(dir.c_str(), &top) != 0)
    return sys_error("DKIM key directory " + dir + " (create it: mode 0700, owned by the milter's user)");
  // Owner and group as the key directory's, readable by that group: the
  // milter's user owns it on one relay (group root); on several, migo-syncd
  // writes the keys other relays made, and the milter reads them as the
  // directory's group (docs/several-relays.md). Modes are set, not left to
  // the umask (a daemon's 0117 would leave a directory unusable).
  std::string sub = dir + "/" + domain;
  if (mkdir(sub.c_str(), 0750) == 0) {
    if (chmod(sub.c_str(), 0750 | (top.st_mode & S_ISGID)) != 0) return sys_error("chmod " + sub);
  } else if (errno != EEXIST) {
    return sys_error("mkdir " + sub);
  }
  if (chown(sub.c_str(), top.st_uid, top.st_gid) != 0 && geteuid() == 0) return sys_error("chown " + sub);
  std::string tmp = *path + ".tmp";
  unlink(tmp.c_str());
  FdCloser f{open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640)};
  if (f.fd < 0) return sys_error("create " + tmp);
  if (fchmod(f.fd, 0640) != 0) return sys_error("chmod " + tmp);
  if (geteuid() == 0 && fchown(f.fd, top.st_uid, top.st_gid) != 0) return sys_error("chown " + tmp);
  const std::string& text = pem.reveal();
  for (size_t at = 0; at < text.size();) {
    ssize_t n = write(f.fd, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return sys_error("write " + tmp);
    at += static_cast<size_t>(n);
  }
  if (fsync(f.fd) != 0) return sys_error("fsync " + tmp);
  if (rename(tmp.c_str(), path->c_str()) != 0) return sys_error("rename " + tmp);
  return {};
}

Result<Secret> read_dkim_key(const std::string& dir, const std::string& domain, const std::string& selector) {
  auto path = dkim_key_path(dir, domain, selector);
  if (!path.ok()) return path.status();
  FdCloser f{open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) return sys_error("DKIM key " + *path);
  struct stat st;
  if (fstat(f.fd, &st) != 0) return sys_error("stat " + *path);
  if (st.st_size <= 0 || st.st_size > 64 * 1024) return Status(Code::unavailable, "DKIM key " + *path + " has a bad size");
  Secret out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[4096];
  for (;;) {
    ssize_t n = read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read " + *path);
    if (n == 0) break;
    out.append(std::string_view(buf, static_cast<size_t>(n)));
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return out;
}

Result<std::string> new_dkim_selector(int64_t now) {
  time_t t = static_cast<time_t>(now);
  struct tm tm;
  gmtime_r(&t, &tm);
  char base[32];
  std::snprintf(base, sizeof base, "m%04d%02d", tm.tm_year + 1900, tm.tm_mon + 1);
  auto r = random_string(6, "abcdefghijklmnopqrstuvwxyz0123456789");
  if (!r.ok()) return r.status();
  return std::string(base) + *r;
}

// ------------------------------------------------------------ library

struct DkimLibrary::Impl {
  DKIM_LIB* lib = nullptr;
  // libopendkim keeps the pointers we give it: the lists live here.
  std::vector<const char*> signed_headers, oversigned_headers;
  ~Impl() {
    if (lib) dkim_close(lib);
  }
};

DkimLibrary::DkimLibrary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DkimLibrary::~DkimLibrary() = default;

Result<std::unique_ptr<DkimLibrary>> DkimLibrary::create(uint64_t fixed_time) {
  auto impl = std::make_unique<Impl>();
  impl->lib = dkim_init(nullptr, nullptr);
  if (!impl->lib) return Status(Code::unavailable, "libopendkim did not initialise");
  for (const std::string& h : kDkimSignedHeaders) impl->signed_headers.push_back(h.c_str());
  impl->signed_headers.push_back(nullptr);
  for (const std::string& h : kDkimOversignedHeaders) impl->oversigned_headers.push_back(h.c_str());
  impl->oversigned_headers.push_back(nullptr);
  auto set = [&](dkim_opts_t opt, void* p, size_t len) {
    return dkim_options(impl->lib, DKIM_OP_SETOPT, opt, p, len) == DKIM_STAT_OK;
  };
  if (!set(DKIM_OPTS_SIGNHDRS, impl->signed_headers.data(), sizeof(const char**)) ||
      !set(DKIM_OPTS_OVERSIGNHDRS, impl->oversigned_headers.data(), sizeof(const char**)))
    return Status(Code::unavailable, "libopendkim refused the header lists");
  if (fixed_time) {
    uint64_t t = fixed_time;
    if (!set(DKIM_OPTS_FIXEDTIME, &t, sizeof t)) return Status(Code::unavailable, "libopendkim refused the fixed time");
  }
  return std::unique_ptr<DkimLibrary>(new DkimLibrary(std::move(impl)));
}

// ------------------------------------------------------------- signer

struct DkimSigner::Impl {
  DKIM* dkim = nullptr;
  bool in_body = false;
  std::string scratch;  // libopendkim takes non-const buffers
  std::string domain;
  // Every header as fed, for the Ed25519 signature, and the RSA one.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string signature;
  ~Impl() {
    if (dkim) dkim_free(dkim);
  }
  Status fail(const char* step, DKIM_STAT st) const {
    const char* detail = dkim ? dkim_geterror(dkim) : nullptr;
    return {Code::unavailable, std::string("DKIM ") + step + ": " + dkim_getresultstr(st) +
                                   (detail && *detail ? std::string(" (") + detail + ")" : "")};
  }
};

DkimSigner::DkimSigner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DkimSigner::~DkimSigner() = default;

Result<std::unique_ptr<DkimSigner>> DkimSigner::start(DkimLibrary& lib, const Secret& private_pem,
                                                      const std::string& selector, const std::string& domain,
                                                      const std::string& id) {
  auto impl = std::make_unique<Impl>();
  impl->domain = domain;
  DKIM_STAT st = DKIM_STAT_OK;
  // libopendkim copies the key into its own buffer (dkim_sign) and never
  // writes through this pointer; its type is merely not const.
  auto* key = reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(private_pem.reveal().c_str()));
  impl->dkim = dkim_sign(lib.impl().lib, reinterpret_cast<const unsigned char*>(id.c_str()), nullptr, key,
                         reinterpret_cast<const unsigned char*>(selector.c_str()),
                         reinterpret_cast<const unsigned char*>(domain.c_str()), DKIM_CANON_RELAXED,
                         DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
  if (!impl->dkim || st != DKIM_STAT_OK) return impl->fail("sign", st);
  return std::unique_ptr<DkimSigner>(new DkimSigner(std::move(impl)));
}

Status DkimSigner::header(std::string_view name, std::string_view value) {
  if (impl_->in_body) return {Code::invalid, "DKIM: a header after the body"};
  impl_->scratch.assign(name);
  impl_->scratch += ':';
  impl_->scratch += value;
  DKIM_STAT st = dkim_header(impl_->dkim, reinterpret_cast<u_char*>(impl_->scratch.data()), impl_->scratch.size());
  if (st != DKIM_STAT_OK) return impl_->fail("header", st);
  impl_->headers.emplace_back(name, value);
  return {};
}

Status DkimSigner::body(std::string_view chunk) {
  if (!impl_->in_body) {
    impl_->in_body = true;
    if (DKIM_STAT st = dkim_eoh(impl_->dkim); st != DKIM_STAT_OK) return impl_->fail("end of headers", st);
  }
  if (chunk.empty()) return {};
  impl_->scratch.assign(chunk);
  DKIM_STAT st = dkim_body(impl_->dkim, reinterpret_cast<u_char*>(impl_->scratch.data()), impl_->scratch.size());
  return st == DKIM_STAT_OK ? Status() : impl_->fail("body", st);
}

Result<std::string> DkimSigner::finish() {
  MIGO_TRY(body(""));
  if (DKIM_STAT st = dkim_eom(impl_->dkim, nullptr); st != DKIM_STAT_OK) return impl_->fail("end of message", st);
  u_char* buf = nullptr;
  size_t len = 0;
  // The width of "DKIM-Signature: " on the first line, for folding.
  if (DKIM_STAT st = dkim_getsighdr_d(impl_->dkim, std::strlen("DKIM-Signature: "), &buf, &len); st != DKIM_STAT_OK)
    return impl_->fail("signature", st);
  impl_->signature.assign(reinterpret_cast<char*>(buf), len);
  return impl_->signature;
}

std::string relaxed_header(std::string_view name, std::string_view value) {
  auto wsp = [](char c) { return c == ' ' || c == '\t'; };
  while (!name.empty() && wsp(name.back())) name.remove_suffix(1);
  std::string out;
  out.reserve(name.size() + value.size() + 1);
  for (char c : name) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  out += ':';
  bool space = false, started = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;  // unfolding: the WSP after the CRLF stays, and collapses
    if (wsp(c)) {
      space = true;
      continue;
    }
    if (space && started) out += ' ';
    space = false;
    started = true;
    out += c;
  }
  return out;
}

Result<std::string> DkimSigner::cosign_ed25519(const Secret& private_pem, const std::string& selector) const {
  const std::string& rsa = impl_->signature;
  if (rsa.empty()) return Status(Code::invalid, "DKIM: an Ed25519 signature is made after the RSA one");
  const std::string h = record_tag(rsa, "h"), bh = record_tag(rsa, "bh"), t = record_tag(rsa, "t");
  if (h.empty() || bh.empty()) return Status(Code::unavailable, "DKIM: the RSA signature has no h= or bh=");
  std::vector<std::string_view> names;  // h=, in order
  for (size_t at = 0; at <= h.size();) {
    size_t end = std::min(h.find(':', at), h.size());
    names.emplace_back(h.data() + at, end - at);
    at = end + 1;
  }
  // Folded as libopendkim folds; the value of b= is what the hash leaves out.
  std::string value = "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=" + impl_->domain + "; s=" + selector +
                      (t.empty() ? "" : "; t=" + t) + ";\r\n\th=";
  size_t line = 3;
  for (size_t i = 0; i < names.size(); i++) {
    if (i > 0) {
      if (line + names[i].size() + 1 > 72) {
        value += "\r\n\t";
        line = 1;
      }
      value += ':';
    }
    value += names[i];
    line += names[i].size() + 1;
  }
  value += ";\r\n\tbh=" + bh + ";\r\n\tb=";
  // RFC 6376 5.4.2: each name in h= takes the last instance of that header
  // not yet taken, from the bottom up; a name with none left (over-signed)
  // adds nothing.
  std::string input;
  std::vector<bool> used(impl_->headers.size(), false);
  auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
  };
  for (std::string_view name : names) {
    for (size_t i = impl_->headers.size(); i-- > 0;)
      if (!used[i] && same(impl_->headers[i].first, name)) {
        used[i] = true;
        input += relaxed_header(impl_->headers[i].first, impl_->headers[i].second) + "\r\n";
        break;
      }
  }
  input += relaxed_header("DKIM-Signature", value);  // no CRLF after the signature header
  unsigned char digest[32];
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha256(), nullptr) != 1 || digest_len != 32)
    return Status(Code::unavailable, "DKIM: SHA-256 failed");
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(private_pem.reveal().data(), static_cast<int>(private_pem.reveal().size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519)
    return Status(Code::unavailable, "DKIM: the Ed25519 key " + selector + " is not an Ed25519 private key");
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  unsigned char sig[64];
  size_t sig_len = sizeof sig;
  // RFC 8463 3: PureEdDSA over the SHA-256 hash (no pre-hash variant).
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &sig_len, digest, sizeof digest) != 1 || sig_len != 64)
    return Status(Code::unavailable, "DKIM: the Ed25519 signature failed");
  return value + base64(sig, sig_len);
}

}  // namespace migo
