// dns.h — the TXT lookups that prove a sending domain's ownership (and, later,
// its DKIM keys): a thin wrapper over libunbound, so no DNS packet is parsed
// by hand here. Every answer is hostile input: the RDATA of a TXT record is
// split by parse_txt_rdata, bounds-checked, and a failure to get an answer is
// never mistaken for "the record is absent".
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "migo/status.h"

namespace migo {

struct TxtAnswer {
  enum class Kind {
    records,       // the name has TXT records (in `records`)
    no_records,    // the name exists without TXT records (NODATA)
    no_such_name,  // NXDOMAIN
  };
  Kind kind = Kind::no_such_name;
  // Each record's character-strings joined, as SPF (RFC 7208 3.3) and DKIM
  // (RFC 6376 3.6.2.2) read them. Records that are malformed are left out.
  std::vector<std::string> records;
};

// Joins the character-strings of one TXT record's RDATA (each a length byte
// and that many bytes). False if a length runs past the end.
bool parse_txt_rdata(std::string_view rdata, std::string* joined);

// Where to send questions: "" (the system's /etc/resolv.conf), or
// "HOST[:PORT]" with HOST a numeric IPv4 address or a bracketed IPv6 one
// ("[::1]:5353"). Returns libunbound's "ADDR@PORT" form.
Result<std::string> unbound_forwarder(const std::string& spec);

class Resolver {
 public:
  // `server` as for unbound_forwarder. No question waits longer than
  // `timeout_ms`.
  static Result<std::unique_ptr<Resolver>> create(const std::string& server, int timeout_ms = 5000);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // The TXT records at `name`. Code::unavailable when no server answered in
  // time or the answer was a server failure or refusal: never "absent".
  Result<TxtAnswer> txt(const std::string& name);

  const std::string& server() const { return server_; }

 private:
  struct Impl;
  Resolver(std::unique_ptr<Impl> impl, std::string server);
  std::unique_ptr<Impl> impl_;
  std::string server_;
};

}  // namespace migo
