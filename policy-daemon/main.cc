// migo-policyd — Postfix policy server for migo-relay. See `migo-policyd --help`.
#include "daemon.h"

int main(int argc, char** argv) { return migo::policyd_main(argc, argv); }
