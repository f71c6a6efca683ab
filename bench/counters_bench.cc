// counters_bench.cc — the counting step of an END-OF-MESSAGE decision, on
// the two engines: the LMDB store (migo-policyd's commit_end_of_message: the
// limit check and the count in one durable write transaction, per message
// and in the group commits migo-policyd makes under load) and Redis
// (RedisCounters: the check and the count in one Lua script), with one
// client and with several. The whole daemon over its socket is not measured
// here: migo-policyd does not use Redis yet.
//   counters_bench --store DIR --redis URL [--seconds S] [--redis-pid PID]
// Prints one line per run and a JSON line at the end. With --redis-pid,
// Redis's CPU per decision (from /proc/PID/stat).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "migo/store.h"
#include "policy.h"
#include "redis_counters.h"

using namespace migo;
using Clock = std::chrono::steady_clock;

namespace {

struct Result_ {
  std::string name;
  double per_s = 0, p50_us = 0, p99_us = 0;
  double redis_cpu_us = -1;  // per decision
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// utime + stime of a process, in seconds.
double cpu_seconds(long pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; i++) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A plan no run fills: the check runs in full, and every message counts.
const Plan kPlan{"bench", 15, 4000000000, 4000000000, 4000000000};

Result_ lmdb_run(Store& store, int seconds, size_t batch) {
  PolicyConfig config;
  std::vector<double> lat;
  uint64_t n = 0, seq = 0;
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  const auto start = Clock::now();
  while (Clock::now() < end) {
    std::vector<PolicyQuery> qs(batch);
    for (PolicyQuery& q : qs) {
      q.stage = PolicyQuery::Stage::end_of_message;
      q.protocol_state = "END-OF-MESSAGE";
      q.sasl_username = "smtpuser_bench" + std::to_string(seq % 10);
      q.queue_id = "L" + std::to_string(batch) + "x" + std::to_string(seq++);
      q.recipient_count = 1;
      q.instance = q.queue_id;
    }
    const int64_t now = static_cast<int64_t>(time(nullptr));
    auto t0 = Clock::now();
    auto verdicts = commit_end_of_message(store, qs, now, config);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    for (const Verdict& v : verdicts)
      if (v.kind != Verdict::Kind::dunno) {
        std::fprintf(stderr, "counters_bench: LMDB refused: %s\n", v.reason.c_str());
        std::exit(1);
      }
    n += batch;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  Result_ r{"lmdb, one client, " + std::to_string(batch) + " per transaction", static_cast<double>(n) / secs,
            percentile(lat, 0.5), percentile(lat, 0.99)};
  return r;
}

Result_ redis_run(const RedisEndpoint& e, int seconds, int clients, long redis_pid) {
  std::vector<std::vector<double>> lats(static_cast<size_t>(clients));
  std::atomic<uint64_t> n{0};
  std::atomic<bool> failed{false};
  const double cpu0 = cpu_seconds(redis_pid);
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; c++)
    threads.emplace_back([&, c] {
      auto rc = RedisCounters::connect(e, 2000);
      if (!rc.ok()) {
        failed = true;
        return;
      }
      uint64_t seq = 0;
      while (Clock::now() < end) {
        const std::string qid = "R" + std::to_string(clients) + "c" + std::to_string(c) + "x" + std::to_string(seq++);
        auto t0 = Clock::now();
        auto r = rc->commit(static_cast<uint64_t>(1 + seq % 10), qid, 1, static_cast<int64_t>(time(nullptr)), kPlan);
        lats[static_cast<size_t>(c)].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (!r.ok() || !r->fits) {
          failed = true;
          return;
        }
        n++;
      }
    });
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed) {
    std::fprintf(stderr, "counters_bench: a Redis commit failed\n");
    std::exit(1);
  }
  std::vector<double> all;
  for (auto& l : lats) all.insert(all.end(), l.begin(), l.end());
  Result_ r{"redis, " + std::to_string(clients) + " client" + (clients > 1 ? "s" : ""),
            static_cast<double>(n.load()) / secs, percentile(all, 0.5), percentile(all, 0.99)};
  if (redis_pid > 0) r.redis_cpu_us = (cpu_seconds(redis_pid) - cpu0) * 1e6 / static_cast<double>(n.load());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, url;
  int seconds = 5;
  long redis_pid = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--store")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--redis")) url = argv[i + 1];
    else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--redis-pid")) redis_pid = std::atol(argv[i + 1]);
  }
  if (dir.empty() || url.empty() || seconds <= 0) {
    std::fprintf(stderr, "usage: counters_bench --store DIR --redis URL [--seconds S] [--redis-pid PID]\n");
    return 2;
  }
  auto e = parse_redis_url(url);
  if (!e.ok()) {
    std::fprintf(stderr, "counters_bench: %s\n", e.status().message().c_str());
    return 2;
  }
  StoreOptions opt;
  opt.create = true;
  auto s = Store::open(dir, opt);
  if (!s.ok() || !(*s)->init_schema(0).ok()) {
    std::fprintf(stderr, "counters_bench: cannot create the store in %s\n", dir.c_str());
    return 1;
  }
  Store& store = **s;
  Status st = store.write([&](WriteTxn& t) -> Status {
    MIGO_TRY(t.put(kPlan));
    for (uint64_t w = 1; w <= 10; w++) {
      MIGO_TRY(t.put(Workspace{w, "ws" + std::to_string(w), kPlan.name, 0, {}}));
      Account a;
      a.id = 100 + w;
      a.workspace_id = w;
      a.username = "smtpuser_bench" + std::to_string(w % 10);
      MIGO_TRY(t.put(a));
    }
    return {};
  });
  if (!st.ok()) {
    std::fprintf(stderr, "counters_bench: %s\n", st.message().c_str());
    return 1;
  }
  std::vector<Result_> results{lmdb_run(store, seconds, 1), lmdb_run(store, seconds, 32),
                               redis_run(*e, seconds, 1, redis_pid), redis_run(*e, seconds, 8, redis_pid)};
  std::string json = "{\"counters\": [";
  for (size_t i = 0; i < results.size(); i++) {
    const Result_& r = results[i];
    std::printf("  %-40s %9.0f decisions/s   p50 %7.1f us   p99 %7.1f us", r.name.c_str(), r.per_s, r.p50_us, r.p99_us);
    if (r.redis_cpu_us >= 0) std::printf("   redis CPU %.1f us/decision", r.redis_cpu_us);
    std::printf("\n");
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s{\"run\": \"%s\", \"per_s\": %.0f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"redis_cpu_us\": %.2f}",
                  i ? ", " : "", r.name.c_str(), r.per_s, r.p50_us, r.p99_us, r.redis_cpu_us);
    json += buf;
  }
  std::printf("%s]}\n", json.c_str());
  return 0;
}
