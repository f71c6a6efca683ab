// migo-syncd — keeps a relay's store in step with the shared state. See `migo-syncd --help`.
#include "syncd.h"

int main(int argc, char** argv) { return migo::syncd_main(argc, argv); }
