// migoctl — administer the migo-relay store. See `migoctl --help`.
#include <iostream>

#include "cli.h"

int main(int argc, char** argv) { return migo::cli::run(argc, argv, std::cout, std::cerr); }
