// sealed.h — DKIM private keys on their way between relays (several relays,
// docs/several-relays.md). The relay where `migoctl domain add` (or a
// rotation) makes a key seals it with the cluster's seal key and puts it
// in the shared state; every other relay's migo-syncd opens it and writes
// the milter's key file. Redis, its replicas and its backups only ever hold
// ciphertext.
//
// AES-256-GCM (OpenSSL), a random 96-bit nonce per key, the key's
// "DOMAIN/SELECTOR" as associated data (a sealed key moved to another
// domain's field does not open). Layout: "v1" | nonce(12) | ciphertext |
// tag(16). The seal key is 32 bytes (head -c 32 /dev/urandom), the same on
// every relay: the role makes it once and copies it.
#pragma once

#include <string>

#include "migo/credentials.h"
#include "migo/status.h"

namespace migo {

Result<std::string> seal_secret(const Secret& key, const std::string& name, const Secret& plain);
// Code::corrupt when it does not open (another key, another name, damage).
Result<Secret> open_sealed(const Secret& key, const std::string& name, const std::string& sealed);

}  // namespace migo
