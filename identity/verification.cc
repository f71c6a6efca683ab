// verification.cc — see verification.h.
#include "verification.h"

#include "migo/credentials.h"
#include "migo/tag.h"

namespace migo {

Result<std::string> new_verification_token() {
  // Lowercase letters and digits: survives every DNS control panel's
  // quoting and case-folding, and 32 of them are ~165 bits.
  return random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789");
}

std::string dkim_record_value(const std::string& public_b64, DkimAlgorithm algorithm) {
  return std::string("v=DKIM1; k=") + dkim_key_type(algorithm) + "; p=" + public_b64;
}

std::string record_tag(std::string_view txt, std::string_view tag) {
  auto is_space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
  size_t at = 0;
  while (at < txt.size()) {
    size_t end = txt.find(';', at);
    std::string_view part = txt.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    at = end == std::string_view::npos ? txt.size() : end + 1;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name;
    for (char ch : part.substr(0, eq))
      if (!is_space(ch)) name += ch;
    if (name != tag) continue;
    std::string value;
    for (char ch : part.substr(eq + 1))
      if (!is_space(ch)) value += ch;
    return value;
  }
  return "";
}

std::string dkim_record_key(std::string_view txt) {
  std::string p = record_tag(txt, "p");
  for (char ch : p) {
    bool b64 = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
               ch == '/' || ch == '=';
    if (!b64) return "";
  }
  return p;
}

std::string dkim_record_name(const std::string& selector, const std::string& domain) {
  return selector + "._domainkey." + domain;
}

std::string spf_record(const TxtAnswer& answer) {
  std::string spf;
  for (const std::string& r : answer.records)
    if (r.rfind("v=spf1", 0) == 0) spf = r;
  return spf;
}

bool spf_names(std::string_view spf, std::string_view mechanism) {
  return (" " + std::string(spf) + " ").find(" " + std::string(mechanism) + " ") != std::string::npos;
}

bool dkim_published(const TxtAnswer& answer, const DkimKey& key) {
  for (const std::string& r : answer.records) {
    std::string k = record_tag(r, "k");
    if (!key.public_b64.empty() && dkim_record_key(r) == key.public_b64 &&
        (k.empty() ? "rsa" : k) == dkim_key_type(key.algorithm))
      return true;
  }
  return false;
}

std::vector<DnsRecord> records_to_publish(const Domain& d, const RelayIdentity& relay) {
  std::vector<DnsRecord> out;
  if (!d.token.empty())
    out.push_back({"TXT", std::string(kVerifyLabel) + "." + d.name, kVerifyPrefix + d.token, "verification", true});
  for (const DkimKey& k : d.dkim)
    if (k.state != DkimKeyState::retired)
      out.push_back({"TXT", dkim_record_name(k.selector, d.name), dkim_record_value(k), "dkim", true});
  // The return path (the milter's b<token>@bounce.DOMAIN): bounces must
  // reach the relay, and SPF for that domain must name it — SPF then
  // aligns with From (relaxed: same organisational domain).
  std::string bounce = bounce_domain(d.name);
  out.push_back({"MX", bounce, "10 " + relay.host + ".", "return-path", true});
  out.push_back({"TXT", bounce, "v=spf1 " + relay.spf + " -all", "spf", true});
  // Advice, not checked: a receiver applies DMARC only where it is
  // published; p=none with reports first, tightened once mail aligns.
  out.push_back({"TXT", "_dmarc." + d.name, "v=DMARC1; p=none; rua=mailto:dmarc-reports@" + d.name, "dmarc", false});
  return out;
}

Proof judge_verification(const Domain& d, const TxtAnswer& answer) {
  std::string name = std::string(kVerifyLabel) + "." + d.name;
  std::string want = kVerifyPrefix + d.token;
  if (d.token.empty()) return {false, "domain " + d.name + " has no verification token (added before DNS proof existed: remove and add it again, or use --manual)"};
  if (answer.kind == TxtAnswer::Kind::no_such_name)
    return {false, "no DNS name " + name + ": publish TXT \"" + want + "\" there"};
  bool other_token = false;
  for (const std::string& r : answer.records) {
    if (r == want) return {true, "TXT " + name + " carries this workspace's token"};
    if (r.rfind(kVerifyPrefix, 0) == 0) other_token = true;
  }
  if (other_token)
    return {false, "TXT " + name + " has a migo-verify token, but not this workspace's: publish \"" + want + "\""};
  return {false, "no TXT record \"" + want + "\" at " + name};
}

}  // namespace migo
