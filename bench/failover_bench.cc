// failover_bench.cc — what a Redis failover loses of the shared counters.
// Redis replicates asynchronously: a master killed at full load takes with
// it the increments its replica had not received yet. Clients count what
// Redis acknowledged (each an accepted recipient); the master is killed
// with SIGKILL while they run; the replica is promoted (REPLICAOF NO ONE)
// and read. Lost = acknowledged - what the replica holds: recipients
// accepted that the shared windows forgot, so the workspace may send that
// many more than its limit in the window. One line per run.
//   failover_bench --master URL --master-pid PID --replica URL [--clients N] [--seconds S]
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "redis_counters.h"

using namespace migo;

int main(int argc, char** argv) {
  std::string master, replica;
  long master_pid = 0;
  int clients = 8;
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--master")) master = argv[i + 1];
    else if (!std::strcmp(argv[i], "--replica")) replica = argv[i + 1];
    else if (!std::strcmp(argv[i], "--master-pid")) master_pid = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--clients")) clients = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  if (master.empty() || replica.empty() || master_pid <= 0) {
    std::fprintf(stderr, "usage: failover_bench --master URL --master-pid PID --replica URL [--clients N] [--seconds S]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const Plan plan{"huge", 10, 4000000000ull, 4000000000ull, 4000000000ull};
  const int64_t now = time(nullptr);
  std::atomic<uint64_t> acked{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; t++)
    threads.emplace_back([&, t] {
      auto c = RedisCounters::connect(*parse_redis_url(master), 1000);
      if (!c.ok()) return;
      for (uint64_t i = 0; !stop; i++) {
        auto r = c->commit(1, "F" + std::to_string(t) + "-" + std::to_string(i), 1, now, plan);
        if (!r.ok()) break;  // the master is gone
        if (r->fits) acked++;
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  kill(static_cast<pid_t>(master_pid), SIGKILL);
  stop = true;
  for (auto& th : threads) th.join();
  // Promote the replica, then read what it holds.
  auto client = RedisClient::connect({*parse_redis_url(replica)}, RedisOptions{2000, 0});
  if (!client.ok()) {
    std::fprintf(stderr, "failover_bench: %s\n", client.status().message().c_str());
    return 1;
  }
  (void)client->command("", {"REPLICAOF", "NO", "ONE"});
  RedisCounters promoted(std::move(*client));
  auto u = promoted.usage(1, now);
  if (!u.ok()) {
    std::fprintf(stderr, "failover_bench: %s\n", u.status().message().c_str());
    return 1;
  }
  const uint64_t held = u->month, sent = acked.load();
  std::printf("acknowledged %llu, the promoted replica holds %llu: %lld lost (%.4f%%)\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(held),
              static_cast<long long>(sent) - static_cast<long long>(held),
              sent ? 100.0 * (static_cast<double>(sent) - static_cast<double>(held)) / static_cast<double>(sent) : 0.0);
  return 0;
}
