// domain.h — sending-domain names as the store keeps them, and matching.
//
// Domains are stored normalised: lowercase, no trailing dot, IDNs as
// A-labels (IDNA2008, via libidn2), each label 1-63 LDH characters, at least
// two labels, at most 253 characters, and a non-numeric last label (so an IP
// address is never mistaken for a domain).
#pragma once

#include <string>
#include <string_view>

#include "migo/records.h"
#include "migo/status.h"

namespace migo {

Result<std::string> normalize_domain(std::string_view input);

// True if `domain` (normalised) is covered by `verified`: the same name, or
// a subdomain of it when it was added with include_subdomains. Unverified
// entries cover nothing.
bool domain_covers(const Domain& verified, std::string_view domain);

}  // namespace migo
