// milter_main.cc — libmilter glue for migo-milter. One thread per MTA
// connection (libmilter's model): per-connection state lives in
// smfi_setpriv, per-message state is reset at MAIL FROM, abort and end of
// message. Every callback is noexcept and turns trouble into a temporary
// failure: no exception ever reaches libmilter.
#include "milter_main.h"

#include <libmilter/mfapi.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "../common/daemon.h"
#include "../common/options.h"
#include "../common/prometheus.h"
#include "dkim.h"
#include "filter.h"
#include "negotiation.h"
#include "migo/tag.h"

namespace migo {
namespace {

struct Globals {
  std::unique_ptr<Store> store;
  Secret key;
  MilterConfig config;
  std::unique_ptr<DaemonLog> log;
  std::unique_ptr<DkimLibrary> dkim;  // null with --no-dkim
  std::string dkim_keys = kDefaultDkimKeyDir;
  // Open and click tracking: on with --tracking-host (the relay's default
  // host; a workspace may have its own), and then the keys must be read.
  std::string tracking_host;
  std::optional<TrackingKeys> tracking_keys;
  bool keeps_headers() const { return dkim || tracking_keys; }
  // For --metrics-file: end-of-message outcomes by FilterDecision::Kind,
  // and accepted messages that were signed and that were tracked.
  std::atomic<uint64_t> outcomes[4] = {};
  std::atomic<uint64_t> signed_messages{0}, tracked_messages{0};
};
Globals* g = nullptr;

void log_line(int priority, const std::string& line) { (*g->log)(priority, line); }

struct Connection {
  bool header_no_reply = false;  // SMFIP_NR_HDR negotiated: headers get no reply
  bool mail_no_reply = false;    // SMFIP_NR_MAIL negotiated
  bool eoh_no_reply = false;     // SMFIP_NR_EOH
  bool body_no_reply = false;    // SMFIP_NR_BODY
  std::vector<std::string> froms;
  int client_tags = 0;  // X-Migo-Tag headers the client supplied
  std::vector<std::string> track_headers;     // X-Migo-Track values: removed before the message leaves
  std::vector<std::string> list_unsubscribe;  // List-Unsubscribe values: their URLs are never rewritten
  // Headers in order (the client's tags left out: they are deleted), for
  // the signer, which starts at the end of headers.
  std::vector<std::pair<std::string, std::string>> headers;
  size_t header_bytes = 0;
  bool headers_overflow = false;  // more than kMaxHeaderBytes: cannot be signed
  // Decided at the end of headers: whether and how the message is signed
  // (message_plan.signing) and tracked (message_plan.tracking, `tracking`).
  MessagePlan message_plan;
  int64_t now = 0;  // the time the tag carries; 0 until the end of headers
  std::vector<std::unique_ptr<DkimSigner>> signers;  // the RSA key's (libopendkim)
  // The Ed25519 keys of the plan, read at the end of headers (an unreadable
  // one is a 451 there): each signs beside the RSA signature at the end.
  std::vector<std::pair<Secret, std::string>> ed25519_keys;
  std::string sign_error;  // why signing failed: the message gets a 451
  // A tracked message's body is kept (up to kMaxTrackedBodyBytes) to be
  // rewritten before it is signed.
  bool tracking = false;
  std::string header_block;  // the headers as they came, for the MIME parser
  std::string body;
  std::string track_note;
  void reset_message() {
    froms.clear();
    client_tags = 0;
    track_headers.clear();
    list_unsubscribe.clear();
    message_plan = MessagePlan{};
    tracking = false;
    header_block.clear();
    body.clear();
    track_note.clear();
    headers.clear();
    header_bytes = 0;
    headers_overflow = false;
    now = 0;
    signers.clear();
    ed25519_keys.clear();
    sign_error.clear();
  }
};

// Header values as libmilter gives them may fold with a bare LF; the
// signer, like the message on the wire, wants CRLF.
std::string crlf_folded(const char* v) {
  std::string out;
  for (const char* p = v; *p; p++) {
    if (*p == '\n' && (p == v || p[-1] != '\r')) out += '\r';
    out += *p;
  }
  return out;
}

// All headers of one message kept for the signer, at most.
constexpr size_t kMaxHeaderBytes = 1 << 20;
// A tracked message's body kept for rewriting, at most; a bigger one is
// sent untracked (and still signed).
constexpr size_t kMaxTrackedBodyBytes = 4 << 20;
constexpr const char* kTrackHeader = "X-Migo-Track";

Connection* conn(SMFICTX* ctx) { return static_cast<Connection*>(smfi_getpriv(ctx)); }

// Body bytes to every signer. The first failure is the message's signing
// error, and the signers are dropped (the message then gets a 451).
void feed_signers(std::vector<std::unique_ptr<DkimSigner>>& signers, std::string_view data, std::string* error) {
  for (auto& signer : signers)
    if (Status s = signer->body(data); !s.ok()) {
      if (error->empty()) *error = s.message();
      signers.clear();
      return;
    }
}

// smfi_setreply formats its text: a '%' must be doubled.
std::string escape_percent(const std::string& s) {
  std::string out;
  for (char c : s) {
    out.push_back(c);
    if (c == '%') out.push_back('%');
  }
  return out;
}

// See negotiation.h for what we ask and why. Called before on_connect,
// once per MTA connection.
sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long, unsigned long,
                      unsigned long* want_actions, unsigned long* want_steps, unsigned long* want2,
                      unsigned long* want3) noexcept {
  try {
    const unsigned long needed = milter_actions(g->tracking_keys.has_value());
    if ((actions & needed) != needed) return SMFIS_REJECT;  // the MTA cannot let us tag (or track)
    bool symlist = milter_ask_macros(ctx, actions);
    *want_actions = needed | (symlist ? SMFIF_SETSYMLIST : 0);
    *want_steps = steps & milter_skipped_steps(symlist, g->keeps_headers());
    *want2 = *want3 = 0;
    auto* c = new Connection;
    c->header_no_reply = (*want_steps & SMFIP_NR_HDR) != 0;
    c->mail_no_reply = (*want_steps & SMFIP_NR_MAIL) != 0;
    c->eoh_no_reply = (*want_steps & SMFIP_NR_EOH) != 0;
    c->body_no_reply = (*want_steps & SMFIP_NR_BODY) != 0;
    smfi_setpriv(ctx, c);
    return SMFIS_CONTINUE;
  } catch (...) {
    return SMFIS_TEMPFAIL;
  }
}

sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR*) noexcept {
  try {
    if (!conn(ctx)) smfi_setpriv(ctx, new Connection);  // an MTA that skipped negotiation
    return SMFIS_CONTINUE;
  } catch (...) {
    return SMFIS_TEMPFAIL;
  }
}

// Only when the MTA could not be asked for {auth_authen} at END-OF-MESSAGE:
// libmilter keeps MAIL's macros for the rest of the message, so on_eom finds
// the login either way.
sfsistat on_envfrom(SMFICTX* ctx, char**) noexcept {
  Connection* c = conn(ctx);
  if (!c) return SMFIS_TEMPFAIL;
  c->reset_message();
  return c->mail_no_reply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) noexcept {
  Connection* c = conn(ctx);
  if (!c) return SMFIS_TEMPFAIL;
  try {
    if (strcasecmp(name, "From") == 0) c->froms.emplace_back(value ? value : "");
    if (strcasecmp(name, "List-Unsubscribe") == 0 && c->list_unsubscribe.size() < 8)
      c->list_unsubscribe.emplace_back(value ? value : "");
    if (strcasecmp(name, std::string(kTagHeader).c_str()) == 0) {
      c->client_tags++;
    } else if (strcasecmp(name, kTrackHeader) == 0) {
      c->track_headers.emplace_back(value ? value : "");  // ours to read and remove; never signed
    } else if (!g->keeps_headers()) {
      // Neither signing (--no-dkim) nor tracking: nothing to keep.
    } else if (c->header_bytes < kMaxHeaderBytes) {
      // Postfix's header_size_limit bounds a header; this bounds them all.
      c->headers.emplace_back(name, " " + crlf_folded(value ? value : ""));
      c->header_bytes += c->headers.back().first.size() + c->headers.back().second.size();
    } else {
      c->headers_overflow = true;  // an error only if the message is to be signed
    }
    return c->header_no_reply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
  } catch (...) {
    return SMFIS_TEMPFAIL;
  }
}

// The end of headers: choose the key and start signing, so the body
// streams through the signer instead of being kept.
sfsistat on_eoh(SMFICTX* ctx) noexcept {
  Connection* c = conn(ctx);
  if (!c) return SMFIS_TEMPFAIL;
  try {
    const char* login = smfi_getsymval(ctx, const_cast<char*>("{auth_authen}"));
    c->now = static_cast<int64_t>(time(nullptr));
    if (g->keeps_headers() && login && *login) {
      auto mplan = plan_message(*g->store, g->config, login, c->froms);
      if (mplan.ok()) {
        if (!g->dkim) mplan->signing = SigningPlan{};
        if (g->tracking_keys) {
          mplan->tracking = narrow_tracking(mplan->tracking, c->track_headers);
          c->tracking = mplan->tracking.any() && mplan->account_id != 0 && !c->headers_overflow;
          if (c->tracking)
            for (const auto& [n, v] : c->headers) c->header_block += n + ":" + v + "\r\n";
        }
        c->message_plan = std::move(*mplan);
      }
      const SigningPlan& plan = c->message_plan.signing;
      if (!mplan.ok()) {
        c->sign_error = mplan.status().message();
      } else if (plan.sign && c->headers_overflow) {
        c->sign_error = "headers too large to sign";
      } else if (plan.sign) {
        for (const SigningPlan::Key& k : plan.keys) {
          auto key = read_dkim_key(g->dkim_keys, plan.domain, k.selector);
          if (key.ok() && k.algorithm == DkimAlgorithm::ed25519_sha256) {
            c->ed25519_keys.emplace_back(std::move(*key), k.selector);
            continue;
          }
          auto signer = key.ok() ? DkimSigner::start(*g->dkim, *key, k.selector, plan.domain, "migo-milter")
                                 : Result<std::unique_ptr<DkimSigner>>(key.status());
          // Our tag is not signed: its queue id is only sure at end of
          // message (libmilter answers a macro asked for here with the
          // previous message's end-of-message value on a reused connection).
          Status fed = signer.ok() ? Status() : signer.status();
          for (size_t i = 0; fed.ok() && i < c->headers.size(); i++)
            fed = (*signer)->header(c->headers[i].first, c->headers[i].second);
          if (!fed.ok()) {
            c->sign_error = fed.message();
            c->signers.clear();
            break;
          }
          c->signers.push_back(std::move(*signer));
        }
      }
    }
    c->headers.clear();
    c->headers.shrink_to_fit();
    return c->eoh_no_reply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
  } catch (...) {
    c->sign_error = "internal error at end of headers";
    return c->eoh_no_reply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
  }
}

sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t len) noexcept {
  Connection* c = conn(ctx);
  if (!c) return SMFIS_TEMPFAIL;
  try {
    std::string_view data(reinterpret_cast<const char*>(chunk), len);
    if (c->tracking && c->body.size() + len > kMaxTrackedBodyBytes) {
      // Too big to keep: untracked. What was kept goes to the signers now.
      c->tracking = false;
      c->track_note = "body over 4 MB: not tracked";
      std::string kept = std::move(c->body);
      c->body.clear();
      feed_signers(c->signers, kept, &c->sign_error);
    }
    if (c->tracking) c->body.append(data);  // signed at the end of message, once rewritten
    else feed_signers(c->signers, data, &c->sign_error);
  } catch (...) {
    c->sign_error = "internal error in the body";
    c->signers.clear();
  }
  return c->body_no_reply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

sfsistat on_eom(SMFICTX* ctx) noexcept {
  Connection* c = conn(ctx);
  if (!c) return SMFIS_TEMPFAIL;
  try {
    const char* qid_macro = smfi_getsymval(ctx, const_cast<char*>("i"));
    std::string qid = qid_macro ? qid_macro : "";
    std::string shown = qid.empty() ? "NOQUEUE" : qid;
    const char* login_macro = smfi_getsymval(ctx, const_cast<char*>("{auth_authen}"));
    std::string login = login_macro ? login_macro : "";
    const char* mail_addr = smfi_getsymval(ctx, const_cast<char*>("{mail_addr}"));
    const int64_t now = c->now ? c->now : static_cast<int64_t>(time(nullptr));
    FilterDecision d = decide_message(*g->store, g->key, g->config, login, c->froms, qid, now,
                                      mail_addr ? mail_addr : "");
    int client_tags = c->client_tags;
    const size_t track_headers = c->track_headers.size();
    std::vector<std::unique_ptr<DkimSigner>> signers = std::move(c->signers);
    std::vector<std::pair<Secret, std::string>> ed25519_keys = std::move(c->ed25519_keys);
    std::string sign_error = std::move(c->sign_error);
    const bool tracking = c->tracking;
    MessagePlan mplan = std::move(c->message_plan);
    const SigningPlan& plan = mplan.signing;
    std::string header_block = std::move(c->header_block), body = std::move(c->body);
    std::vector<std::string> list_unsubscribe = std::move(c->list_unsubscribe);
    std::string track_note = std::move(c->track_note);
    c->reset_message();
    // Tracking rewrites the body first; the signature is over what leaves.
    bool body_replaced = false;
    std::string track_log;
    if (tracking && d.kind == FilterDecision::Kind::accept) {
      const std::string host = mplan.tracking.host.empty() ? g->tracking_host : mplan.tracking.host;
      auto r = rewrite_message(header_block, body,
                               message_tracking(*g->tracking_keys, mplan.tracking, host, mplan.account_id, qid, now,
                                                list_unsubscribe));
      if (!r.ok()) {
        track_log = "; not tracked: " + r.status().message();
      } else {
        if (r->changed) {
          body = std::move(r->body);
          body_replaced = true;
        }
        track_log = "; tracked: " + std::to_string(r->links) + " links" + (r->pixel ? ", open pixel" : "") +
                    (r->notes.empty() ? "" : " (" + r->notes + ")");
      }
    }
    if (tracking) feed_signers(signers, body, &sign_error);
    if (!track_note.empty()) track_log += "; " + track_note;
    // Accepted mail is signed whenever its domain has an active key; if that
    // went wrong it is a temporary failure, never unsigned mail.
    std::vector<std::string> signatures;
    if (d.kind == FilterDecision::Kind::accept) {
      if (sign_error.empty() && plan.sign && signers.size() + ed25519_keys.size() != plan.keys.size())
        sign_error = "the signature was not prepared for this message";
      for (size_t i = 0; sign_error.empty() && i < signers.size(); i++) {
        auto sig = signers[i]->finish();
        if (sig.ok()) signatures.push_back(std::move(*sig));
        else sign_error = sig.status().message();
      }
      for (size_t i = 0; sign_error.empty() && i < ed25519_keys.size(); i++) {
        auto sig = signers.empty() ? Result<std::string>(Status(Code::invalid, "an Ed25519 key without an RSA one"))
                                   : signers[0]->cosign_ed25519(ed25519_keys[i].first, ed25519_keys[i].second);
        if (sig.ok()) signatures.push_back(std::move(*sig));
        else sign_error = sig.status().message();
      }
      if (!sign_error.empty()) {
        // Not accepted after all: the policy daemon's count goes back.
        uint32_t refunded = 0;
        Status r = refund_message(*g->store, qid, &refunded);
        d.kind = FilterDecision::Kind::tempfail;
        d.reply = "4.3.0 Message signing temporarily unavailable; try again later";
        d.log = d.log.substr(0, d.log.find(':')) + ": DKIM signing failed: " + sign_error +
                (r.ok() ? "; " + std::to_string(refunded) + " recipients refunded" : "; refund FAILED: " + r.message());
      }
    }
    if (d.kind != FilterDecision::Kind::accept) g->outcomes[static_cast<int>(d.kind)]++;
    switch (d.kind) {
      case FilterDecision::Kind::pass:
        return SMFIS_ACCEPT;
      case FilterDecision::Kind::reject: {
        log_line(LOG_INFO, shown + ": reject: " + d.log +
                               (d.refunded ? "; " + std::to_string(d.refunded) + " recipients refunded" : ""));
        std::string text = escape_percent(d.reply.substr(6));
        smfi_setreply(ctx, const_cast<char*>("550"), const_cast<char*>("5.7.1"), text.data());
        return SMFIS_REJECT;
      }
      case FilterDecision::Kind::tempfail: {
        log_line(LOG_WARNING, shown + ": tempfail: " + d.log);
        std::string text = escape_percent(d.reply.substr(6));
        smfi_setreply(ctx, const_cast<char*>("451"), const_cast<char*>("4.3.0"), text.data());
        return SMFIS_TEMPFAIL;
      }
      case FilterDecision::Kind::accept:
        break;
    }
    // A tag the client wrote must not survive: delete every copy (from the
    // last, so the indexes of the others do not move), then add ours.
    std::string header(kTagHeader);
    for (int i = client_tags; i >= 1; i--)
      if (smfi_chgheader(ctx, header.data(), i, nullptr) != MI_SUCCESS) return SMFIS_TEMPFAIL;
    for (size_t i = track_headers; i >= 1; i--)
      if (smfi_chgheader(ctx, const_cast<char*>(kTrackHeader), static_cast<int>(i), nullptr) != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    // libmilter sends a body in pieces of at most 64 KB each.
    for (size_t at = 0; body_replaced && at < body.size(); at += 65535) {
      std::string_view piece = std::string_view(body).substr(at, 65535);
      if (smfi_replacebody(ctx, reinterpret_cast<unsigned char*>(const_cast<char*>(piece.data())),
                           static_cast<int>(piece.size())) != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    }
    if (smfi_insheader(ctx, 0, header.data(), d.tag.data()) != MI_SUCCESS) return SMFIS_TEMPFAIL;
    // Each at the top; the RSA signature, added last, ends up first.
    for (size_t i = signatures.size(); i-- > 0;)
      if (smfi_insheader(ctx, 0, const_cast<char*>("DKIM-Signature"), signatures[i].data()) != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    std::string signed_with;
    for (size_t i = 0; i < signatures.size(); i++) signed_with += (i ? "," : "") + plan.keys[i].selector;
    if (!d.return_path.empty()) {
      std::string sender = "<" + d.return_path + ">";
      if (smfi_chgfrom(ctx, sender.data(), nullptr) != MI_SUCCESS) return SMFIS_TEMPFAIL;
    }
    g->outcomes[static_cast<int>(FilterDecision::Kind::accept)]++;
    if (!signatures.empty()) g->signed_messages++;
    if (body_replaced) g->tracked_messages++;
    log_line(LOG_INFO, shown + ": accept: " + d.log +
                           (client_tags ? "; removed " + std::to_string(client_tags) + " client-supplied tag" : "") +
                           (signatures.empty() ? "" : "; DKIM signed d=" + plan.domain + " s=" + signed_with) +
                           track_log);
    return SMFIS_CONTINUE;
  } catch (...) {
    return SMFIS_TEMPFAIL;
  }
}

sfsistat on_abort(SMFICTX* ctx) noexcept {
  if (Connection* c = conn(ctx)) c->reset_message();
  return SMFIS_CONTINUE;
}

sfsistat on_close(SMFICTX* ctx) noexcept {
  delete conn(ctx);
  smfi_setpriv(ctx, nullptr);
  return SMFIS_CONTINUE;
}

std::string milter_metrics() {
  static const char* kKinds[] = {"pass", "accept", "reject", "tempfail"};
  std::vector<MetricSample> outcomes;
  for (int k = 0; k < 4; k++) outcomes.push_back({std::string("{outcome=\"") + kKinds[k] + "\"}", g->outcomes[k].load()});
  return prometheus_family("migo_milter_messages_total",
                           "Messages at end of message by outcome (pass: no SASL login, untouched).", "counter",
                           outcomes) +
         prometheus_family("migo_milter_signed_messages_total", "Accepted messages DKIM-signed.", "counter",
                           {{"", g->signed_messages.load()}}) +
         prometheus_family("migo_milter_tracked_messages_total", "Accepted messages whose links or pixel were rewritten.",
                           "counter", {{"", g->tracked_messages.load()}});
}

const ProgramDoc kDoc = {
    "migo-milter",
    "From-domain check, account tagging, DKIM signing and open and click tracking for migo-relay",
    "--socket unix:PATH|inet:PORT@HOST [--key FILE] [--db PATH] [--dkim-keys DIR] [--user USER] "
    "[--sasl-realm REALM] [--unverified-sender rewrite|refuse|keep] [--no-dkim] [--tracking-host HOST "
    "--tracking-keys FILE] [--reject-unauthenticated] [--foreground]",
    "For mail sent with a SASL login ({auth_authen}), requires exactly one From\n"
    "header whose every address is in a domain verified for the account's\n"
    "workspace (550 5.7.1 otherwise), refuses disabled accounts, removes any\n"
    "X-Migo-Tag the client supplied and adds a signed one naming the account\n"
    "by its opaque id and the queue id, and DKIM-signs it (relaxed/relaxed,\n"
    "rsa-sha256, and ed25519-sha256 beside it where the domain has such a\n"
    "key; d= the verified domain) with the domain's active keys. A key that\n"
    "cannot be read or a signing error is 451 4.3.0, never unsigned mail.\n"
    "\n"
    "With --tracking-host, the links and open pixel of workspaces that track\n"
    "are rewritten before signing. A refused message's recipients are\n"
    "refunded to the workspace. Store trouble: 451 4.3.0. Mail without a SASL\n"
    "login passes untouched unless --reject-unauthenticated.\n",
    {{"EXIT STATUS", "0 after a clean stop; 1 on a start-up error; 2 on a usage error.\n"}},
    "migo-policyd(8), migo-trackd(8), migoctl(8), postconf(5)",
};

}  // namespace

int milter_main(int argc, char** argv) {
  static Globals globals;
  g = &globals;
  std::string socket, key_path = kDefaultTagKeyPath, db, user, tracking_keys_path = kDefaultTrackingKeyPath,
                      metrics_path;
  bool foreground = false, no_dkim = false;
  const std::vector<ProgramOption> opts = {
      {"socket", "SPEC", "libmilter socket, e.g. unix:/var/spool/postfix/migo/milter", store_value(&socket)},
      {"key", "FILE",
       "tag key, at least 32 bytes (default /etc/migo/tag.key;\n"
       "make one: head -c 32 /dev/urandom); migoctl ingest-dsn\n"
       "and ingest-arf verify tags with the same key",
       store_value(&key_path)},
      {"db", "PATH", "the store (default: $MIGO_DB, else /var/lib/migo)", store_value(&db)},
      {"dkim-keys", "DIR",
       "DKIM private keys, DIR/DOMAIN/SELECTOR.pem (default\n/etc/migo/dkim); read per message, so a new key needs\nno "
       "restart",
       store_value(&g->dkim_keys)},
      {"unverified-sender", "MODE",
       "rewrite, refuse or keep: an envelope sender outside the\n"
       "workspace's verified domains is replaced by the relay's\n"
       "return path b<token>@bounce.DOMAIN (rewrite, the default),\n"
       "refused (550 5.7.1), or kept",
       [&](const std::string& v) -> Status {
         if (v == "rewrite") g->config.unverified_sender = MilterConfig::UnverifiedSender::rewrite;
         else if (v == "refuse") g->config.unverified_sender = MilterConfig::UnverifiedSender::refuse;
         else if (v == "keep") g->config.unverified_sender = MilterConfig::UnverifiedSender::keep;
         else return {Code::invalid, "--unverified-sender takes rewrite, refuse or keep, not '" + v + "'"};
         return {};
       }},
      {"no-dkim", "",
       "do not sign (another milter, e.g. OpenDKIM, signs);\nwithout --tracking-host, the end of headers and the\nbody "
       "are then not asked for",
       set_flag(&no_dkim)},
      {"sign-ed25519", "", "no longer needed: a domain's Ed25519 key always signs\n(accepted from earlier units, ignored)",
       [](const std::string&) -> Status { return {}; }},
      {"tracking-host", "HOST",
       "turn open and click tracking on: the host of tracked\n"
       "links and the open pixel (https://HOST/c/..., /o/...)\n"
       "for workspaces without a verified host of their own;\n"
       "what is tracked is each workspace's setting (migoctl\n"
       "tracking set). Links are rewritten before signing.",
       store_value(&g->tracking_host)},
      {"tracking-keys", "FILE",
       "tracking token keys, lines \"ID KEY\" (default\n/etc/migo/tracking.keys; migo-trackd reads the same)",
       store_value(&tracking_keys_path)},
      {"user", "USER", "when started as root: run as USER after set-up (required)", store_value(&user)},
      {"sasl-realm", "REALM", "Postfix's smtpd_sasl_local_domain, if set", store_value(&g->config.sasl_realm)},
      {"reject-unauthenticated", "", "refuse mail without a SASL login", set_flag(&g->config.reject_unauthenticated)},
      {"metrics-file", "FILE",
       "keep the outcomes' counters in FILE (Prometheus' text format,\nreplaced every 10 s; migoctl metrics --include-dir reads it)",
       store_value(&metrics_path)},
      {"foreground", "", "also log to standard error", set_flag(&foreground)},
  };
  if (int rc = parse_command_line(argc, argv, kDoc, opts); rc >= 0) return rc;
  db = store_path(db);
  g->log = std::make_unique<DaemonLog>("migo-milter", foreground);
  auto fatal = [&](const std::string& msg) {
    log_line(LOG_ERR, msg);
    if (!foreground) std::cerr << "migo-milter: " << msg << "\n";
    return 1;
  };
  if (socket.empty()) return fatal("--socket is required (see --help)");
  if (geteuid() == 0 && user.empty()) return fatal("refusing to run as root: give --user (e.g. --user migo-milter)");
  auto key = read_tag_key(key_path);
  if (!key.ok()) return fatal(key.status().message());
  g->key = std::move(*key);
  auto store = Store::open(db, {});
  if (!store.ok()) return fatal("cannot open store: " + store.status().message());
  g->store = std::move(*store);
  if (!g->tracking_host.empty()) {
    // Tracking asked for and no keys: refuse to start rather than send
    // links no one can follow.
    if (url_host("https://" + g->tracking_host + "/") != g->tracking_host)
      return fatal("--tracking-host " + g->tracking_host + " is not a host name (lowercase, no port or path)");
    auto keys = TrackingKeys::read(tracking_keys_path);
    if (!keys.ok()) return fatal(keys.status().message());
    g->tracking_keys = std::move(*keys);
  }
  if (!no_dkim) {
    auto dkim = DkimLibrary::create();
    if (!dkim.ok()) return fatal(dkim.status().message());
    g->dkim = std::move(*dkim);
  }

  smfiDesc desc{};
  desc.xxfi_name = const_cast<char*>("migo-milter");
  desc.xxfi_version = SMFI_VERSION;
  desc.xxfi_flags = milter_actions(g->tracking_keys.has_value());
  desc.xxfi_connect = on_connect;
  desc.xxfi_envfrom = on_envfrom;
  desc.xxfi_header = on_header;
  desc.xxfi_eoh = on_eoh;
  desc.xxfi_body = on_body;
  desc.xxfi_eom = on_eom;
  desc.xxfi_abort = on_abort;
  desc.xxfi_close = on_close;
  desc.xxfi_negotiate = on_negotiate;
  // libmilter would unlink a live socket and leave its daemon unreachable.
  for (const char* prefix : {"unix:", "local:"})
    if (socket.rfind(prefix, 0) == 0)
      if (Status s = claim_unix_socket(socket.substr(std::strlen(prefix))); !s.ok()) return fatal(s.message());
  if (smfi_setconn(socket.data()) != MI_SUCCESS) return fatal("bad --socket " + socket);
  if (smfi_register(desc) != MI_SUCCESS) return fatal("smfi_register failed");
  umask(0117);  // a unix socket only its owner and group may use
  if (smfi_opensocket(true) != MI_SUCCESS) return fatal("cannot open milter socket " + socket);
  if (geteuid() == 0)
    if (Status s = drop_privileges(user); !s.ok()) return fatal(s.message());
  log_line(LOG_INFO, "ready: listening on " + socket);
  std::optional<MetricsFile> metrics;
  if (!metrics_path.empty())
    metrics.emplace(metrics_path, 10, milter_metrics, [](const std::string& why) { log_line(LOG_WARNING, why); });
  int rc = smfi_main();
  log_line(LOG_INFO, "stopped");
  return rc == MI_SUCCESS ? 0 : 1;
}

}  // namespace migo
