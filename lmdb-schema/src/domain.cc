// domain.cc — see domain.h.
#include "migo/domain.h"

#include <idn2.h>

#include <cstdlib>

namespace migo {
namespace {

bool ldh(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

Status check_syntax(std::string_view d) {
  if (d.empty()) return {Code::invalid, "domain is empty"};
  if (d.size() > 253) return {Code::invalid, "domain is longer than 253 characters"};
  size_t labels = 0;
  std::string_view last;
  for (size_t start = 0; start <= d.size();) {
    size_t dot = d.find('.', start);
    if (dot == std::string_view::npos) dot = d.size();
    std::string_view label = d.substr(start, dot - start);
    if (label.empty()) return {Code::invalid, "domain has an empty label"};
    if (label.size() > 63) return {Code::invalid, "domain label longer than 63 characters"};
    for (char c : label)
      if (!ldh(c)) return {Code::invalid, std::string("domain has an invalid character '") + c + "'"};
    if (label.front() == '-' || label.back() == '-')
      return {Code::invalid, "domain label starts or ends with '-'"};
    labels++;
    last = label;
    start = dot + 1;
  }
  if (labels < 2) return {Code::invalid, "domain needs at least two labels (example.com)"};
  bool numeric = true;
  for (char c : last) numeric = numeric && c >= '0' && c <= '9';
  if (numeric) return {Code::invalid, "domain's last label is numeric (an address, not a domain)"};
  return {};
}

}  // namespace

Result<std::string> normalize_domain(std::string_view input) {
  std::string d(input);
  if (!d.empty() && d.back() == '.') d.pop_back();
  bool ascii = true;
  for (unsigned char c : d) {
    if (c >= 0x80) ascii = false;
    if (c < 0x21 || c == 0x7f) return Status(Code::invalid, "domain contains a space or control character");
  }
  if (!ascii) {
    char* out = nullptr;
    int rc = idn2_to_ascii_8z(d.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK)
      return Status(Code::invalid, std::string("not a valid internationalised domain: ") +
                                       idn2_strerror(rc));
    d = out;
    idn2_free(out);
  }
  for (char& c : d)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  MIGO_TRY(check_syntax(d));
  return d;
}

bool domain_covers(const Domain& verified, std::string_view domain) {
  if (!verified.verified) return false;
  if (domain == verified.name) return true;
  if (!verified.include_subdomains || domain.size() <= verified.name.size() + 1) return false;
  return domain.substr(domain.size() - verified.name.size()) == verified.name &&
         domain[domain.size() - verified.name.size() - 1] == '.';
}

}  // namespace migo
