// run.h — run a real program and capture its exit code and output.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace migo::test {

struct RunResult {
  int rc = -1;  // exit status, or 128 + signal
  std::string out, err;
};

// Starts argv[0] with argv (no shell), extra environment on top of ours, and
// the given descriptors as its standard input, output and error (-1: keep
// ours). Uses posix_spawn, never fork + code + exec: our tests spawn while
// other threads run, and a forked child that allocates can deadlock on a
// lock some other thread held at fork time (ASan's allocator makes that
// likely). Returns the pid, or -1.
pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
            int in = -1, int out = -1, int err = -1);

// Runs argv like spawn() with `input` on standard input and waits for it.
// Never hangs on a full pipe: output goes to temporary files. Never hangs on
// a wedged child either: after `hang_guard_s` seconds it is killed and the
// result says so (rc 128 + SIGKILL, and a line on err) — a guard against a
// stuck test, not a timing assertion.
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              const std::string& input = "", int hang_guard_s = 300);

}  // namespace migo::test
