// cli.h — migoctl's command line: parsing, dispatch, output.
//
// run() is the whole program minus process set-up, so tests can drive it;
// main.cc only forwards to it. Exit codes (documented in --help):
//   0 success, 1 refused (rule, limit, confirmation, not found, exists,
//   invalid value), 2 usage error, 75 temporary failure (store unavailable,
//   damaged or not initialised: try again / run migoctl init).
#pragma once

#include <ostream>

namespace migo::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitTempfail = 75;  // EX_TEMPFAIL

int run(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace migo::cli
