// migo-statd — counts Postfix's delivery results per SMTP account. See `migo-statd --help`.
#include "statd.h"

int main(int argc, char** argv) { return migo::statd_main(argc, argv); }
