// events.cc — see events.h.
#include "events.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "migo/credentials.h"

namespace migo {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool contains_any(const std::string& haystack, std::initializer_list<std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(),
                     [&](std::string_view n) { return haystack.find(n) != std::string::npos; });
}

// Apple's network, 17.0.0.0/8 (IPv4) and 2620:149::/32, 2403:300::/32,
// 2a01:b740::/32 (IPv6): Mail Privacy Protection's proxies fetch from there.
bool apple_network(const std::string& ip) {
  in_addr v4;
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 17;
  in6_addr v6;
  if (inet_pton(AF_INET6, ip.c_str(), &v6) != 1) return false;
  static const std::array<std::array<uint8_t, 4>, 3> prefixes = {
      {{0x26, 0x20, 0x01, 0x49}, {0x24, 0x03, 0x03, 0x00}, {0x2a, 0x01, 0xb7, 0x40}}};
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const auto& p) { return std::equal(p.begin(), p.end(), v6.s6_addr); });
}

}  // namespace

TrackEvent classify(const TrackToken& token, const TrackRequest& r, int64_t scanner_seconds) {
  TrackEvent e;
  e.token = token;
  const std::string ua = lower(r.user_agent);
  if (token.kind == TrackToken::Kind::open) {
    if (contains_any(ua, {"googleimageproxy", "ggpht.com"})) e.why = "Gmail image proxy";
    else if (contains_any(ua, {"yahoomailproxy"})) e.why = "Yahoo image proxy";
    else if (apple_network(r.client_ip)) e.why = "Apple Mail Privacy Protection";
  } else {
    if (r.now - token.time < scanner_seconds) e.why = "clicked within seconds of sending";
    else if (ua.empty()) e.why = "no User-Agent";
    else if (contains_any(ua, {"bot", "spider", "crawl", "preview", "scan", "python", "curl", "wget", "go-http-client",
                               "java/", "okhttp", "libwww", "barracuda", "mimecast", "proofpoint", "symantec",
                               "trendmicro", "zscaler", "safelinks", "microsoft office", "forcepoint", "headless"}))
      e.why = "link scanner";
  }
  e.machine = !e.why.empty();
  return e;
}

Status apply_event(WriteTxn& t, const TrackEvent& e, int64_t now) {
  const TrackToken& tok = e.token;
  auto account = t.account(tok.account_id);
  if (!account.ok()) return account.status().code() == Code::not_found ? Status() : account.status();
  auto stats = t.stats(tok.account_id);
  if (!stats.ok()) return stats.status();
  const bool open = tok.kind == TrackToken::Kind::open;
  if (e.machine) {
    (open ? stats->machine_opens : stats->machine_clicks)++;
  } else {
    (open ? stats->opens : stats->clicks)++;
    std::string id(8, '\0');
    for (int i = 0; i < 8; i++) id[static_cast<size_t>(i)] = static_cast<char>(tok.account_id >> (56 - 8 * i));
    std::string what = id + tok.queue_id;
    if (!open) what += std::string{static_cast<char>(tok.link >> 8), static_cast<char>(tok.link & 0xff)};
    auto first = t.mark_report(std::string(1, open ? 'o' : 'k') + sha256(what), now);
    if (!first.ok()) return first.status();
    if (*first) (open ? stats->unique_opens : stats->unique_clicks)++;
  }
  return t.put_stats(tok.account_id, *stats);
}

}  // namespace migo
