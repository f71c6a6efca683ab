// run.h — run a real program and capture its exit code and output.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace migo::test {

struct RunResult {
  int rc = -1;  // exit status, or 128 + signal
  std::string out, err;
};

// Runs argv[0] with argv (no shell), extra environment on top of ours, and
// `input` on standard input. Never hangs on a full pipe: output goes to
// temporary files.
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              const std::string& input = "");

}  // namespace migo::test
