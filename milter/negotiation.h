// negotiation.h — what migo-milter asks of the MTA at option negotiation.
// In one place because bench/null_milter and bench/epoll_milter must ask
// for exactly the same, or they would not measure migo-milter's floor.
//
// Ask for only what we use. Every event with a reply is a round trip, and
// Postfix opens a milter connection per SMTP session, so with applications
// that send one message per session the events per session are what the
// milter costs (context switches, not our code: see the whole-relay
// benchmark in docs/benchmarks.md). When the MTA lets us name the macros we want
// (SMFIF_SETSYMLIST; Postfix and Sendmail do), {auth_authen} comes with
// END-OF-MESSAGE and the connect and MAIL events are skipped: one round
// trip per message (plus negotiation), headers arriving without replies.
// Otherwise MAIL is still sent, for its macros, and answered only if the
// MTA cannot do without a reply.
//
// DKIM signing needs the body, and the key is chosen before it arrives: the
// login and queue id come with the end of headers too, so the signer starts
// there and the body streams through it. End of headers and body chunks
// take no reply (SMFIP_NR_EOH, SMFIP_NR_BODY): still one round trip per
// message.
#pragma once

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

namespace migo {

// The actions we need: the tag and the DKIM signature are inserted, a
// client's copy of the tag deleted, the envelope sender replaced by the
// relay's return path, and a tracked message's body replaced.
inline constexpr unsigned long kMilterActions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGFROM;
// With tracking, also that one: only then is an MTA without it refused.
inline constexpr unsigned long milter_actions(bool tracking) {
  return kMilterActions | (tracking ? SMFIF_CHGBODY : 0);
}

// The macros asked for at END-OF-MESSAGE (stage SMFIM_EOM) and, for the
// signer, at the end of headers (SMFIM_EOH).
inline constexpr const char* kMilterEomMacros = "i {auth_authen} {mail_addr}";
inline constexpr const char* kMilterEohMacros = "i {auth_authen}";

// Asks for both macro lists; false if the MTA did not take them.
inline bool milter_ask_macros(SMFICTX* ctx, unsigned long actions) {
  return (actions & SMFIF_SETSYMLIST) != 0 &&
         smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>(kMilterEomMacros)) == MI_SUCCESS &&
         smfi_setsymlist(ctx, SMFIM_EOH, const_cast<char*>(kMilterEohMacros)) == MI_SUCCESS;
}

// The events we skip or take without replying, given whether the MTA took
// our macro list; the MTA's offer is ANDed with this.
// Without signing (--no-dkim) or tracking the end of headers and the body
// are skipped.
constexpr unsigned long milter_skipped_steps(bool symlist, bool sign = true) {
  return SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_HDR |
         (sign ? SMFIP_NR_EOH | SMFIP_NR_BODY : SMFIP_NOEOH | SMFIP_NOBODY) |
         (symlist ? SMFIP_NOMAIL : SMFIP_NR_MAIL);
}

}  // namespace migo
