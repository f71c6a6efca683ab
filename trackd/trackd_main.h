// trackd_main.h — migo-trackd's entry point (main.cc stays one line).
#pragma once

namespace migo {
int trackd_main(int argc, char** argv);
}
