// statd.h — migo-statd, the statistics follower daemon (see --help).
#pragma once

namespace migo {
int statd_main(int argc, char** argv);
}
