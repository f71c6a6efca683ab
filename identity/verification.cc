// verification.cc — see verification.h.
#include "verification.h"

#include "migo/credentials.h"

namespace migo {

Result<std::string> new_verification_token() {
  // Lowercase letters and digits: survives every DNS control panel's
  // quoting and case-folding, and 32 of them are ~165 bits.
  return random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789");
}

std::vector<DnsRecord> records_to_publish(const Domain& d) {
  std::vector<DnsRecord> out;
  if (!d.token.empty())
    out.push_back({"TXT", std::string(kVerifyLabel) + "." + d.name, kVerifyPrefix + d.token, "verification", true});
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
