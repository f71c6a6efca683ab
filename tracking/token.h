// token.h — the self-contained tokens in tracked links and open pixels.
//
//   https://HOST/c/TOKEN   (a click: 302 to the URL inside)
//   https://HOST/o/TOKEN   (an open: a 1x1 GIF)
//
// TOKEN is base64url (no padding) of
//
//   u8 version (1) | u8 key id | u8 kind ('c' or 'o') | u64 account id |
//   u32 send time | u8 n | n bytes queue id | [click: u16 link index | URL] |
//   16 bytes HMAC-SHA256 over everything before it, with key `key id`
//
// so migo-trackd needs no lookup to redirect, and a token it did not make
// (or one changed in any byte) does not verify: there is no open redirect.
// No recipient address is inside. The MAC is truncated to 128 bits (RFC
// 2104 section 5 allows it) to keep links short; forging one is still a
// 2^-128 guess. Keys rotate by id: the key file lists several, the newest
// signs, all verify.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migo/credentials.h"
#include "migo/status.h"

namespace migo {

inline constexpr size_t kMaxTrackedUrlBytes = 2048;  // longer links are left as they are
inline constexpr size_t kMinTrackingKeyBytes = 32;
inline constexpr const char* kDefaultTrackingKeyPath = "/etc/migo/tracking.keys";

// The tracking keys: a file of lines "ID BASE64KEY" (ID 1-255, a key of at
// least 32 bytes; '#' starts a comment). The last line's key signs.
class TrackingKeys {
 public:
  static Result<TrackingKeys> read(const std::string& path);
  static Result<TrackingKeys> parse(std::string_view text);
  uint8_t signing_id() const { return keys_.back().first; }
  const Secret* find(uint8_t id) const;
  const Secret& signing_key() const { return keys_.back().second; }

 private:
  std::vector<std::pair<uint8_t, Secret>> keys_;  // never empty once made
};

struct TrackToken {
  enum class Kind : char { open = 'o', click = 'c' };
  Kind kind = Kind::open;
  uint64_t account_id = 0;
  int64_t time = 0;  // when the message was sent (seconds)
  std::string queue_id;
  uint16_t link = 0;  // clicks: the link's index in the message
  std::string url;    // clicks: the exact original URL
};

// The token for `t`, or nullopt when it cannot be one (a URL past
// kMaxTrackedUrlBytes or not http(s), a queue id past 255 bytes).
std::optional<std::string> make_track_token(const TrackingKeys& keys, const TrackToken& t);
// The fields of a token that verifies, or nullopt.
std::optional<TrackToken> verify_track_token(const TrackingKeys& keys, std::string_view token);

}  // namespace migo
