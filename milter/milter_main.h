// milter_main.h — migo-milter's process: options, libmilter callbacks,
// privileges. main.cc only calls milter_main().
#pragma once

namespace migo {
int milter_main(int argc, char** argv);
}
