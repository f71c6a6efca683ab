// store_growth.cc — how big the store gets when mail never stops: a
// simulated clock runs DAYS days at PER_DAY messages a day through the same
// calls the relay makes for each message (the policy daemon's commit, the
// follower's delivery and "removed" lines), with migo-statd's retention
// pruning in every batch. The baseline, in the same run, is the same
// traffic without retention for the first BASELINE_DAYS days.
//   store_growth [--days N] [--per-day N] [--retention DAYS] [--baseline-days N]
// Prints data.mdb's size every simulated day (a line per 10 days, and the
// last), then one JSON line with the results.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "migo/accounting.h"
#include "migo/outcomes.h"
#include "migo/store.h"

using namespace migo;

namespace {

struct Run {
  double final_mib = 0, peak_mib = 0, at_retention_mib = 0;
  double seconds = 0;
  uint64_t messages = 0;
};

double mib(const std::string& dir) {
  struct stat st {};
  if (stat((dir + "/data.mdb").c_str(), &st) != 0) return 0;
  return static_cast<double>(st.st_size) / (1024.0 * 1024.0);
}

Run simulate(const std::string& dir, int days, long per_day, int retention_days, const char* name) {
  std::filesystem::remove_all(dir);
  StoreOptions opt;
  opt.create = true;
  auto s = Store::open(dir, opt);
  if (!s.ok() || !(*s)->init_schema(0).ok()) {
    std::fprintf(stderr, "store_growth: cannot create %s: %s\n", dir.c_str(), s.status().message().c_str());
    std::exit(1);
  }
  Store& store = **s;
  Account acct;
  acct.id = 42;
  acct.workspace_id = 7;
  acct.username = "smtpuser_bench";
  if (!store.write([&](WriteTxn& t) { return t.put(acct); }).ok()) std::exit(1);
  const long kBatch = 5000;  // messages per transaction (a follower batch is ~1 MiB of lines)
  Run r;
  auto start = std::chrono::steady_clock::now();
  char qid[32];
  for (int day = 0; day < days; day++) {
    for (long done = 0; done < per_day; done += kBatch) {
      long n = std::min(kBatch, per_day - done);
      int64_t now = static_cast<int64_t>(day) * 86400 + static_cast<int64_t>(done * 86400 / per_day);
      Status st = store.write([&](WriteTxn& t) -> Status {
        for (long i = 0; i < n; i++) {
          std::snprintf(qid, sizeof qid, "4Q%08dx%08ld", day, done + i);
          MIGO_TRY(commit_recipients(t, acct, qid, 1, now));
          auto d = record_delivery(t, qid, "rcpt@dest.test", Delivery::sent, now);
          if (!d.ok()) return d.status();
          MIGO_TRY(record_removed(t, qid));
        }
        if (retention_days > 0) {
          auto p = t.prune_expired(now - static_cast<int64_t>(retention_days) * 86400, 512 + 4 * static_cast<size_t>(n));
          if (!p.ok()) return p.status();
        }
        return {};
      });
      if (!st.ok()) {
        std::fprintf(stderr, "store_growth: %s\n", st.message().c_str());
        std::exit(1);
      }
      r.messages += static_cast<uint64_t>(n);
    }
    double now_mib = mib(dir);
    r.peak_mib = std::max(r.peak_mib, now_mib);
    if (day + 1 == retention_days) r.at_retention_mib = now_mib;
    if ((day + 1) % 10 == 0 || day + 1 == days)
      std::printf("%-9s day %4d  data.mdb %9.1f MiB\n", name, day + 1, now_mib);
    std::fflush(stdout);
  }
  r.final_mib = mib(dir);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

long arg(int argc, char** argv, const char* name, long dflt) {
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], name) == 0) return std::strtol(argv[i + 1], nullptr, 10);
  return dflt;
}

}  // namespace

int main(int argc, char** argv) {
  int days = static_cast<int>(arg(argc, argv, "--days", 365));
  long per_day = arg(argc, argv, "--per-day", 1000000);
  int retention = static_cast<int>(arg(argc, argv, "--retention", 30));
  int baseline_days = static_cast<int>(arg(argc, argv, "--baseline-days", retention + 15));
  // On tmpfs when there is one: the sizes do not depend on fsync, the run time does.
  std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                  : std::filesystem::temp_directory_path();
  std::string base = dir / ("migo-store-growth-" + std::to_string(getpid()));
  Run kept = simulate(base + "-retention", days, per_day, retention, "retention");
  Run all = simulate(base + "-baseline", std::min(days, baseline_days), per_day, 0, "baseline");
  std::filesystem::remove_all(base + "-retention");
  std::filesystem::remove_all(base + "-baseline");
  std::printf("{\"days\": %d, \"per_day\": %ld, \"retention_days\": %d, "
              "\"retention\": {\"final_mib\": %.1f, \"peak_mib\": %.1f, \"at_retention_mib\": %.1f, "
              "\"messages_per_s\": %.0f}, "
              "\"baseline\": {\"days\": %d, \"final_mib\": %.1f, \"messages_per_s\": %.0f}}\n",
              days, per_day, retention, kept.final_mib, kept.peak_mib, kept.at_retention_mib,
              static_cast<double>(kept.messages) / kept.seconds, std::min(days, baseline_days), all.final_mib,
              static_cast<double>(all.messages) / all.seconds);
  return 0;
}
