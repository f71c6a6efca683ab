// sealed.cc — see sealed.h.
#include "sealed.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

namespace migo {
namespace {

constexpr size_t kNonce = 12, kTag = 16;
constexpr const char kVersion[] = "v1";

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* bytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

Result<std::string> seal_secret(const Secret& key, const std::string& name, const Secret& plain) {
  if (key.reveal().size() != 32) return Status(Code::invalid, "the seal key must be 32 bytes");
  std::string out(kVersion);
  std::string nonce(kNonce, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(kNonce)) != 1)
    return Status(Code::unavailable, "RAND_bytes failed");
  out += nonce;
  Ctx c(EVP_CIPHER_CTX_new());
  int n = 0;
  std::string ct(plain.reveal().size(), '\0');
  unsigned char tag[kTag];
  if (!c || EVP_EncryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, bytes(key.reveal()), bytes(nonce)) != 1 ||
      EVP_EncryptUpdate(c.get(), nullptr, &n, bytes(name), static_cast<int>(name.size())) != 1 ||
      EVP_EncryptUpdate(c.get(), reinterpret_cast<unsigned char*>(ct.data()), &n, bytes(plain.reveal()),
                        static_cast<int>(plain.reveal().size())) != 1 ||
      EVP_EncryptFinal_ex(c.get(), nullptr, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, kTag, tag) != 1)
    return Status(Code::unavailable, "sealing failed (OpenSSL)");
  out += ct;
  out.append(reinterpret_cast<const char*>(tag), kTag);
  return out;
}

Result<Secret> open_sealed(const Secret& key, const std::string& name, const std::string& sealed) {
  if (key.reveal().size() != 32) return Status(Code::invalid, "the seal key must be 32 bytes");
  const size_t head = sizeof kVersion - 1;
  if (sealed.size() < head + kNonce + kTag || sealed.compare(0, head, kVersion) != 0)
    return Status(Code::corrupt, "a sealed key of another form");
  const std::string nonce = sealed.substr(head, kNonce);
  const std::string ct = sealed.substr(head + kNonce, sealed.size() - head - kNonce - kTag);
  std::string tag = sealed.substr(sealed.size() - kTag);
  Ctx c(EVP_CIPHER_CTX_new());
  int n = 0;
  Secret plain(std::string(ct.size(), '\0'));
  auto* out = reinterpret_cast<unsigned char*>(const_cast<char*>(plain.reveal().data()));
  if (!c || EVP_DecryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, bytes(key.reveal()), bytes(nonce)) != 1 ||
      EVP_DecryptUpdate(c.get(), nullptr, &n, bytes(name), static_cast<int>(name.size())) != 1 ||
      EVP_DecryptUpdate(c.get(), out, &n, bytes(ct), static_cast<int>(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(c.get(), out + n, &n) != 1)
    return Status(Code::corrupt, "a sealed key did not open (another seal key, another name, or damage)");
  return plain;
}

}  // namespace migo
