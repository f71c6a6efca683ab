// tag.h — the signed header that ties a message to its SMTP account.
//
//   X-Migo-Tag: v=1; a=<account id, 16 hex>; q=<queue id>; t=<unix time>; s=<HMAC>
//
// s is HMAC-SHA256 over "v=1;a=…;q=…;t=…" with the relay's key, base64url
// without padding. The account id is the store's random opaque id, never the
// username. Bounces and complaints quote the original headers, so whoever
// holds the key can attribute them (issue 6) — and a tag the client forged
// or altered does not verify.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "migo/credentials.h"
#include "migo/status.h"

namespace migo {

inline constexpr std::string_view kTagHeader = "X-Migo-Tag";
inline constexpr size_t kMinKeyBytes = 32;
// Where migo-milter and migoctl's report ingest find the key by default.
inline constexpr const char* kDefaultTagKeyPath = "/etc/migo/tag.key";

// Reads the key file: at least 32 bytes, used as they are.
Result<Secret> read_tag_key(const std::string& path);

std::string make_tag(const Secret& key, uint64_t account_id, std::string_view queue_id, int64_t time);

struct TagFields {
  uint64_t account_id = 0;
  std::string queue_id;
  int64_t time = 0;
};
// The fields of a tag header value whose signature verifies, or nullopt.
std::optional<TagFields> verify_tag(const Secret& key, std::string_view value);

// The return path the relay gives a message (VERP), for bounces that quote
// no headers:
//
//   b<token>@bounce.<domain>
//
// token = base32 (lowercase, no padding) of account id (8 bytes), time (4),
// queue id, and the first 10 bytes of HMAC-SHA256 over them with the tag
// key. Lowercase letters and digits only: it survives MTAs that fold an
// address's case. nullopt when the local part would pass 64 octets.
inline constexpr std::string_view kBounceSubdomain = "bounce";
// The domain of a return path for `domain`: bounce.DOMAIN.
inline std::string bounce_domain(std::string_view domain) {
  return std::string(kBounceSubdomain) + "." + std::string(domain);
}
std::optional<std::string> make_return_path(const Secret& key, uint64_t account_id, std::string_view queue_id,
                                            int64_t time, std::string_view domain);
// The fields of a return path whose token verifies (any case, any domain
// part), or nullopt.
std::optional<TagFields> verify_return_path(const Secret& key, std::string_view address);

}  // namespace migo
