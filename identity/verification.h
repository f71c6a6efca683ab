// verification.h — what a workspace publishes in DNS to prove it owns a
// sending domain, and how an answer is judged.
//
// Proof: a TXT record at _migo-verify.DOMAIN whose text is exactly
// "migo-verify=TOKEN", TOKEN being the 32 random characters `migoctl domain
// add` generated for this workspace's domain. Another workspace adding the
// same domain gets another token, so publishing one proves nothing for the
// other. Records around it (other tokens, SPF, anything) are ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dns.h"
#include "migo/records.h"
#include "migo/status.h"

namespace migo {

constexpr const char* kVerifyLabel = "_migo-verify";
constexpr const char* kVerifyPrefix = "migo-verify=";
// A verified domain whose token has been missing from DNS this long lapses.
constexpr int64_t kDefaultLapseGraceSeconds = 72 * 3600;

Result<std::string> new_verification_token();

// The DKIM TXT record for a key, at SELECTOR._domainkey.DOMAIN.
std::string dkim_record_name(const std::string& selector, const std::string& domain);
std::string dkim_record_value(const std::string& public_b64, DkimAlgorithm algorithm = DkimAlgorithm::rsa_sha256);
inline std::string dkim_record_value(const DkimKey& k) { return dkim_record_value(k.public_b64, k.algorithm); }
// The value of tag `tag` in a tag=value; list (DKIM keys, RFC 6376 3.2;
// DMARC records, RFC 7489 6.4), whitespace removed; "" if absent.
std::string record_tag(std::string_view txt, std::string_view tag);
// The p= of a published DKIM record ("" if it has none or is malformed):
// tags as RFC 6376 3.6.1 writes them, whitespace inside the value removed.
std::string dkim_record_key(std::string_view txt);
// The SPF record among a name's TXT records ("" if none), and whether it
// names `mechanism` (e.g. "include:_spf.example.net") as a term of its own.
std::string spf_record(const TxtAnswer& answer);
bool spf_names(std::string_view spf, std::string_view mechanism);
// Whether `answer` publishes exactly this key: its p=, and its k= (absent
// means rsa), since a verifier reads p= as k= says.
bool dkim_published(const TxtAnswer& answer, const DkimKey& key);

// A record the domain's owner publishes. `purpose` is one of verification,
// dkim, return-path, spf, dmarc; `required` is false for advice.
struct DnsRecord {
  std::string type, name, value, purpose;
  bool required = true;
};
// How the relay appears in DNS: the host bounces reach (MX of each
// domain's bounce subdomain) and the SPF mechanism that names it.
struct RelayIdentity {
  std::string host;  // e.g. relay.example.net
  std::string spf;   // e.g. "a:relay.example.net" or "include:_spf.example.net"
};
std::vector<DnsRecord> records_to_publish(const Domain& d, const RelayIdentity& relay);

// "Verified", or what is missing or wrong, as one sentence an admin acts on.
struct Proof {
  bool ok = false;
  std::string detail;
};
Proof judge_verification(const Domain& d, const TxtAnswer& answer);

}  // namespace migo
