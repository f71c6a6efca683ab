// filter.h — what migo-milter decides at end of message, without libmilter.
//
// Given the SASL login and the message's From headers, decide: pass (not
// authenticated), reject (550 5.7.1, with the reason), temporary failure
// (the store cannot answer), or accept with a tag. On accept the queue map
// gets an entry for the message (if the policy daemon has not written one);
// on a reject after the policy daemon counted the message, its count is
// refunded here — the milter's verdict comes after the policy's.
#pragma once

#include <string>
#include <vector>

#include "migo/store.h"
#include "mime.h"
#include "token.h"
#include "migo/credentials.h"

namespace migo {

struct MilterConfig {
  bool reject_unauthenticated = false;  // default: pass mail without SASL login untouched
  std::string sasl_realm;               // Postfix's smtpd_sasl_local_domain, if set
  // An envelope sender outside the workspace's verified domains: given the
  // relay's own return path (tag.h, make_return_path), refused, or kept.
  enum class UnverifiedSender { rewrite, refuse, keep };
  UnverifiedSender unverified_sender = UnverifiedSender::rewrite;
};

struct FilterDecision {
  enum class Kind { pass, accept, reject, tempfail };
  Kind kind = Kind::pass;
  std::string reply;   // for reject/tempfail: "5.7.1 ..." text without the code
  std::string tag;     // for accept: the X-Migo-Tag value
  std::string return_path;  // for accept: the new envelope sender, or empty to keep it
  std::string log;     // what happened, for the log (no secrets)
  uint32_t refunded = 0;  // recipients taken back on reject
};

// `froms` are the values of every From header, in order. `queue_id` is
// Postfix's (macro i). `now` is Unix time. `mail_from` is the envelope
// sender ({mail_addr}; "" for the null sender or when the MTA did not say:
// kept as it is).
FilterDecision decide_message(Store& store, const Secret& key, const MilterConfig& config,
                              const std::string& login, const std::vector<std::string>& froms,
                              const std::string& queue_id, int64_t now, const std::string& mail_from = "");

// A message refused (or failed) after the policy daemon counted it: its
// recipients are taken back.
Status refund_message(Store& store, const std::string& queue_id, uint32_t* refunded);

// True if `domain` (normalised) may be used in From by workspace `ws`.
Result<bool> domain_allowed(const ReadTxn& t, uint64_t ws, const std::string& domain);

// What a message is signed with, chosen at the end of its headers: the
// active DKIM keys of the verified domain record that covers the From
// address (d= that record's domain), one per algorithm: RSA, and Ed25519
// beside it where the domain has one (a second signature, RFC 8463 — never
// alone, since many verifiers know only RSA; and it is made from the RSA
// signature's work, see DkimSigner). None when the message will not be accepted as
// it stands (decide_message then refuses it) or its domain has no active
// key.
struct SigningPlan {
  struct Key {
    std::string selector;
    DkimAlgorithm algorithm = DkimAlgorithm::rsa_sha256;
  };
  bool sign = false;
  std::string domain;
  std::vector<Key> keys;  // RSA first
};
// Everything decided at the end of headers, in one read of the store: the
// signing plan, and the tracking the account's mail gets (tracking_for:
// nothing tracks unless the workspace or account turned it on).
struct MessagePlan {
  SigningPlan signing;
  TrackingPlan tracking;
  uint64_t account_id = 0;  // 0: no active account behind the login
};
Result<MessagePlan> plan_message(const Store& store, const MilterConfig& config, const std::string& login,
                                 const std::vector<std::string>& froms);

// The sender's say over one message, from its X-Migo-Track headers
// ("opens=no, clicks=no"; clicks=html-only or all choose where links are
// tracked): it can turn tracking off, or move clicks between HTML only and
// all parts, never turn on what the workspace and account have off.
// Unknown words are ignored.
TrackingPlan narrow_tracking(TrackingPlan plan, const std::vector<std::string>& header_values);

// The rewriting of one accepted message (tracking/mime.h): links become
// https://HOST/c/TOKEN and the pixel https://HOST/o/TOKEN, each token naming
// the account, the queue id and the send time (tracking/token.h); the
// URLs of its List-Unsubscribe headers and HOST itself are left alone.
MessageTracking message_tracking(const TrackingKeys& keys, const TrackingPlan& plan, const std::string& host,
                                 uint64_t account_id, const std::string& queue_id, int64_t now,
                                 const std::vector<std::string>& list_unsubscribe);

}  // namespace migo
