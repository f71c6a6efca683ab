// dns.h — the lookups that prove a sending domain's ownership and show its
// setup (TXT: token, DKIM, SPF, DMARC; MX of the return path; CNAME of a
// workspace's own tracking host): a thin
// wrapper over libunbound, so no DNS packet is parsed by hand here. Every
// answer is hostile input: RDATA is split by parse_txt_rdata and
// parse_mx_rdata, bounds-checked, and a failure to get an answer is never
// mistaken for "the record is absent".
#pragma once

#include <cstdint>
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

// An MX record: the exchange as a host name, lowercase, without the final
// dot ("" for the null MX of RFC 7505, which says the name takes no mail).
struct MxRecord {
  uint16_t preference = 0;
  std::string host;
  bool operator==(const MxRecord&) const = default;
};
struct MxAnswer {
  TxtAnswer::Kind kind = TxtAnswer::Kind::no_such_name;
  std::vector<MxRecord> records;  // malformed ones left out
};
// One MX record's RDATA: a 16-bit preference and an uncompressed name
// (libunbound hands RDATA decompressed). False if it is malformed, or a
// label holds anything but letters, digits, '-' and '_' (a host name we
// would print).
bool parse_mx_rdata(std::string_view rdata, MxRecord* out);

// A CNAME record's RDATA: one uncompressed name, checked as parse_mx_rdata
// checks the exchange. False if malformed or the root.
bool parse_cname_rdata(std::string_view rdata, std::string* target);
struct CnameAnswer {
  TxtAnswer::Kind kind = TxtAnswer::Kind::no_such_name;
  std::vector<std::string> targets;  // lowercase, no final dot; malformed ones left out
};

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
  // The MX records at `name`, the same way.
  Result<MxAnswer> mx(const std::string& name);
  // The CNAME record at `name` (the alias's own record, not followed).
  Result<CnameAnswer> cname(const std::string& name);

  const std::string& server() const { return server_; }

 private:
  struct Impl;
  Resolver(std::unique_ptr<Impl> impl, std::string server);
  // One question; `rdata` gets each record's RDATA.
  Result<TxtAnswer::Kind> ask(const std::string& name, int type, std::vector<std::string>* rdata);
  std::unique_ptr<Impl> impl_;
  std::string server_;
};

}  // namespace migo
