// migo-milter — From-domain check and account tagging. See `migo-milter --help`.
#include "milter_main.h"

int main(int argc, char** argv) { return migo::milter_main(argc, argv); }
