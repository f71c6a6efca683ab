// dns.cc — see dns.h.
#include "dns.h"

#include <arpa/inet.h>
#include <poll.h>
#include <unbound.h>

#include <charconv>
#include <chrono>

namespace migo {

bool parse_txt_rdata(std::string_view rdata, std::string* joined) {
  joined->clear();
  size_t at = 0;
  while (at < rdata.size()) {
    size_t n = static_cast<unsigned char>(rdata[at++]);
    if (n > rdata.size() - at) return false;
    joined->append(rdata.substr(at, n));
    at += n;
  }
  return true;
}

namespace {
// An uncompressed domain name at `at`, to the end of `rdata`, as a
// lowercase host name without the final dot.
bool parse_name_rdata(std::string_view rdata, size_t at, std::string* host) {
  host->clear();
  for (;;) {
    if (at >= rdata.size()) return false;
    size_t n = static_cast<unsigned char>(rdata[at++]);
    if (n == 0) break;
    if (n > 63 || n > rdata.size() - at) return false;  // 0xC0.. is a compression pointer: refused
    if (!host->empty()) *host += '.';
    for (char ch : rdata.substr(at, n)) {
      bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a'), ok = true;
      if (!ok) return false;
      *host += ch;
    }
    at += n;
    if (host->size() > 253) return false;
  }
  return at == rdata.size();
}
}  // namespace

bool parse_mx_rdata(std::string_view rdata, MxRecord* out) {
  if (rdata.size() < 3) return false;
  out->preference = static_cast<uint16_t>(static_cast<unsigned char>(rdata[0]) << 8 | static_cast<unsigned char>(rdata[1]));
  return parse_name_rdata(rdata, 2, &out->host);
}

bool parse_cname_rdata(std::string_view rdata, std::string* target) {
  return parse_name_rdata(rdata, 0, target) && !target->empty();
}

Result<std::string> unbound_forwarder(const std::string& spec) {
  std::string host = spec, port = "53";
  if (!spec.empty() && spec.front() == '[') {
    size_t close = spec.find(']');
    if (close == std::string::npos) return Status(Code::invalid, "resolver '" + spec + "': no closing ]");
    host = spec.substr(1, close - 1);
    std::string rest = spec.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return Status(Code::invalid, "resolver '" + spec + "': expected :PORT after ]");
      port = rest.substr(1);
    }
  } else if (size_t colon = spec.find(':'); colon != std::string::npos) {
    if (spec.find(':', colon + 1) != std::string::npos)
      return Status(Code::invalid, "resolver '" + spec + "': write an IPv6 address as [ADDR]:PORT");
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1)
    return Status(Code::invalid, "resolver '" + spec + "': HOST must be a numeric IPv4 or IPv6 address");
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    return Status(Code::invalid, "resolver '" + spec + "': PORT must be 1-65535");
  return host + "@" + std::to_string(p);
}

struct Resolver::Impl {
  ub_ctx* ctx = nullptr;
  int timeout_ms = 5000;
  ~Impl() {
    if (ctx) ub_ctx_delete(ctx);
  }
};

Resolver::Resolver(std::unique_ptr<Impl> impl, std::string server) : impl_(std::move(impl)), server_(std::move(server)) {}
Resolver::~Resolver() = default;

Result<std::unique_ptr<Resolver>> Resolver::create(const std::string& server, int timeout_ms) {
  auto impl = std::make_unique<Impl>();
  impl->timeout_ms = timeout_ms;
  impl->ctx = ub_ctx_create();
  if (!impl->ctx) return Status(Code::unavailable, "cannot create a DNS resolver context");
  auto fail = [&](const char* what, int rc) {
    return Status(Code::invalid, std::string(what) + ": " + ub_strerror(rc));
  };
  // A thread, not a forked process, answers asynchronous questions.
  if (int rc = ub_ctx_async(impl->ctx, 1)) return fail("resolver threads", rc);
  if (server.empty()) {
    if (int rc = ub_ctx_resolvconf(impl->ctx, nullptr)) return fail("read /etc/resolv.conf", rc);
  } else {
    auto fwd = unbound_forwarder(server);
    if (!fwd.ok()) return fwd.status();
    // A resolver on loopback (a local cache, or the tests' server) is
    // allowed: libunbound refuses localhost by default.
    if (int rc = ub_ctx_set_option(impl->ctx, "do-not-query-localhost:", "no")) return fail("resolver option", rc);
    if (int rc = ub_ctx_set_fwd(impl->ctx, fwd->c_str())) return fail(("resolver " + server).c_str(), rc);
  }
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl), server.empty() ? "system resolver" : server));
}

namespace {
struct Pending {
  bool done = false;
  int err = 0;
  ub_result* result = nullptr;
};
extern "C" void on_answer(void* arg, int err, ub_result* result) {
  auto* p = static_cast<Pending*>(arg);
  p->done = true;
  p->err = err;
  p->result = result;
}
struct ResultGuard {
  ub_result* r;
  ~ResultGuard() {
    if (r) ub_resolve_free(r);
  }
};
constexpr int kTypeCname = 5, kTypeMx = 15, kTypeTxt = 16, kClassIn = 1;
constexpr int kRcodeServfail = 2, kRcodeRefused = 5;
}  // namespace

Result<TxtAnswer::Kind> Resolver::ask(const std::string& name, int type, std::vector<std::string>* rdata) {
  Pending p;
  int id = 0;
  if (int rc = ub_resolve_async(impl_->ctx, name.c_str(), type, kClassIn, &p, on_answer, &id))
    return Status(Code::unavailable, "DNS question for " + name + " not sent: " + ub_strerror(rc));
  // Our own deadline: libunbound's retries against a dead server take far
  // longer than an admin waits.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(impl_->timeout_ms);
  while (!p.done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ub_cancel(impl_->ctx, id);
      return Status(Code::unavailable, "no DNS answer for " + name + " from " + server_ + " within " +
                                           std::to_string(impl_->timeout_ms) + " ms");
    }
    pollfd pfd{ub_fd(impl_->ctx), POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) > 0) {
      if (int rc = ub_process(impl_->ctx))
        return Status(Code::unavailable, "DNS answer for " + name + ": " + ub_strerror(rc));
    }
  }
  ResultGuard guard{p.result};
  if (p.err) return Status(Code::unavailable, "DNS question for " + name + " failed: " + ub_strerror(p.err));
  const ub_result* r = p.result;
  if (r->rcode == kRcodeServfail || r->rcode == kRcodeRefused || (r->rcode != 0 && !r->nxdomain))
    return Status(Code::unavailable, "DNS server " + server_ + " could not answer for " + name + " (rcode " +
                                         std::to_string(r->rcode) + ")");
  if (r->bogus) return Status(Code::unavailable, "DNS answer for " + name + " failed DNSSEC validation");
  rdata->clear();
  if (r->nxdomain) return TxtAnswer::Kind::no_such_name;
  for (int i = 0; r->havedata && r->data[i]; i++)
    rdata->emplace_back(r->data[i], static_cast<size_t>(r->len[i]));
  return r->havedata ? TxtAnswer::Kind::records : TxtAnswer::Kind::no_records;
}

Result<TxtAnswer> Resolver::txt(const std::string& name) {
  std::vector<std::string> rdata;
  auto kind = ask(name, kTypeTxt, &rdata);
  if (!kind.ok()) return kind.status();
  TxtAnswer a;
  a.kind = *kind;
  for (const std::string& d : rdata) {
    std::string joined;
    if (parse_txt_rdata(d, &joined)) a.records.push_back(std::move(joined));
  }
  return a;
}

Result<MxAnswer> Resolver::mx(const std::string& name) {
  std::vector<std::string> rdata;
  auto kind = ask(name, kTypeMx, &rdata);
  if (!kind.ok()) return kind.status();
  MxAnswer a;
  a.kind = *kind;
  for (const std::string& d : rdata) {
    MxRecord r;
    if (parse_mx_rdata(d, &r)) a.records.push_back(std::move(r));
  }
  return a;
}

Result<CnameAnswer> Resolver::cname(const std::string& name) {
  std::vector<std::string> rdata;
  auto kind = ask(name, kTypeCname, &rdata);
  if (!kind.ok()) return kind.status();
  CnameAnswer a;
  a.kind = *kind;
  for (const std::string& d : rdata) {
    std::string target;
    if (parse_cname_rdata(d, &target)) a.targets.push_back(std::move(target));
  }
  return a;
}

}  // namespace migo
