// run.cc — see run.h.
#include "run.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdexcept>

extern char** environ;

namespace migo::test {
namespace {
std::string slurp(int fd) {
  std::string s;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}
int temp_fd() {
  char name[] = "/tmp/migo-run-XXXXXX";
  int fd = mkstemp(name);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  unlink(name);
  return fd;
}
}  // namespace

pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int in,
            int out, int err) {
  // Everything the child needs is built here, in the parent.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; e++) {
    std::string entry = *e;
    if (!env.count(entry.substr(0, entry.find('=')))) env_strings.push_back(std::move(entry));
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in >= 0) posix_spawn_file_actions_adddup2(&actions, in, 0);
  if (out >= 0) posix_spawn_file_actions_adddup2(&actions, out, 1);
  if (err >= 0) posix_spawn_file_actions_adddup2(&actions, err, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& input, int hang_guard_s) {
  int out = temp_fd(), err = temp_fd(), in = temp_fd();
  if (write(in, input.data(), input.size()) != static_cast<ssize_t>(input.size()))
    throw std::runtime_error("write failed");
  lseek(in, 0, SEEK_SET);
  RunResult r;
  pid_t pid = spawn(argv, env, in, out, err);
  if (pid < 0) {
    r.rc = 127;
    r.err = "run: cannot start " + argv.at(0) + "\n";
  } else {
    int status = 0;
    bool killed = false;
    const time_t give_up = time(nullptr) + hang_guard_s;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (!killed && time(nullptr) >= give_up) {
        kill(pid, SIGKILL);
        killed = true;
      }
      usleep(2000);
    }
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out);
    r.err = slurp(err);
    if (killed) r.err += "run: killed " + argv.at(0) + " after " + std::to_string(hang_guard_s) + " s\n";
  }
  close(out);
  close(err);
  close(in);
  return r;
}

}  // namespace migo::test
