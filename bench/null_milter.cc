// null_milter — the floor for bench/run.sh relay: a libmilter filter that
// asks Postfix for exactly what migo-milter asks for (milter/negotiation.h:
// the same skipped events, headers without replies, the same macros) and at
// END-OF-MESSAGE inserts one fixed header, but looks nothing up and signs
// nothing. What it costs is the price of any libmilter filter on Postfix;
// what migo-milter costs beyond it is ours.
//   null_milter unix:PATH|inet:PORT@HOST
#include <libmilter/mfapi.h>

#include <cstdio>

#include "negotiation.h"

namespace {

sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long, unsigned long,
                      unsigned long* want_actions, unsigned long* want_steps, unsigned long* want2,
                      unsigned long* want3) {
  bool symlist = migo::milter_ask_macros(ctx, actions);
  *want_actions = migo::kMilterActions | (symlist ? SMFIF_SETSYMLIST : 0);
  *want_steps = steps & migo::milter_skipped_steps(symlist);
  *want2 = *want3 = 0;
  return SMFIS_CONTINUE;
}

sfsistat on_envfrom(SMFICTX*, char**) { return SMFIS_NOREPLY; }
sfsistat on_header(SMFICTX*, char*, char*) { return SMFIS_NOREPLY; }
sfsistat on_eoh(SMFICTX*) { return SMFIS_NOREPLY; }
sfsistat on_body(SMFICTX*, unsigned char*, size_t) { return SMFIS_NOREPLY; }

sfsistat on_eom(SMFICTX* ctx) {
  smfi_insheader(ctx, 0, const_cast<char*>("X-Null-Milter"), const_cast<char*>("seen"));
  return SMFIS_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: null_milter unix:PATH|inet:PORT@HOST\n");
    return 2;
  }
  smfiDesc desc{};
  desc.xxfi_name = const_cast<char*>("null_milter");
  desc.xxfi_version = SMFI_VERSION;
  desc.xxfi_flags = migo::kMilterActions;
  desc.xxfi_negotiate = on_negotiate;
  desc.xxfi_envfrom = on_envfrom;
  desc.xxfi_header = on_header;
  desc.xxfi_eoh = on_eoh;
  desc.xxfi_body = on_body;
  desc.xxfi_eom = on_eom;
  if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS) return 1;
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
