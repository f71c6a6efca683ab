// html.h — rewrites the links of one HTML text for click tracking and adds
// the open pixel, changing nothing else: links are found by a real HTML5
// tokenizer (gumbo) that reports where each attribute value sits in the
// source, and only those bytes are replaced. Everything between them stays
// byte for byte as the sender wrote it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace migo {

// Bigger HTML is left untouched. gumbo frees its tree recursively, so the
// number of tags bounds the stack a hostile message can make it use (a
// 30 KB newsletter has about 1,500).
inline constexpr size_t kMaxTrackedHtmlBytes = 2 * 1024 * 1024;
inline constexpr size_t kMaxTrackedHtmlTags = 20000;
// And deeper HTML too: gumbo's work grows with the square of the depth of
// open elements (20,000 nested <div> take 18 s; 256 levels, milliseconds).
inline constexpr size_t kMaxTrackedHtmlDepth = 256;
inline constexpr size_t kDefaultMaxTrackedLinks = 100;
// An attribute that marks a link not to track; removed from the output.
inline constexpr std::string_view kNoTrackAttribute = "migo:no-track";
// Where the sender wants the pixel, if not before </body>.
inline constexpr std::string_view kPixelPlaceholder = "<!--migo:open-->";

struct HtmlTracking {
  // The tracked URL for the link `url` (decoded: "&amp;" is "&") with index
  // `index`, or nullopt to leave it. Null: clicks are not tracked.
  std::function<std::optional<std::string>(const std::string& url, uint16_t index)> click;
  // The open pixel's URL; empty: opens are not tracked.
  std::string pixel_url;
  // Links to this host (the tracking host) and these exact URLs (those of
  // List-Unsubscribe) are never rewritten.
  std::string tracking_host;
  std::vector<std::string> skip_urls;
  size_t max_links = kDefaultMaxTrackedLinks;
};

struct HtmlRewrite {
  std::string html;      // the text with the changes spliced in
  unsigned links = 0;    // links rewritten
  bool pixel = false;    // pixel added
  bool changed = false;  // anything differs from the input (links, pixel, no-track attributes removed)
  std::string skipped;   // why nothing was done ("" if it was)
};

HtmlRewrite rewrite_html(std::string_view html, const HtmlTracking& t);

// The host of an http(s) URL, lowercase ("" if it has none).
std::string url_host(std::string_view url);
// Whether `url` is http: or https: (any case).
bool http_scheme(std::string_view url);

}  // namespace migo
