// policy_bench — load generator for the Postfix policy protocol.
//   policy_bench --target inet:HOST:PORT --connections N --seconds S
//                --users U1,U2,... [--label NAME]
// Each connection acts like one smtpd serving one client: per message, two
// RCPT requests then one END-OF-MESSAGE with recipient_count=2 and a fresh
// queue id, all with Postfix 3.7's attribute set, user chosen round-robin.
// Prints decisions/s and the p50/p99 latency of one request/reply.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "policy_client.h"

using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::string target, label = "policy";
  int connections = 50;
  double seconds = 5;
  std::vector<std::string> users;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--target") target = v;
    else if (k == "--connections") connections = std::stoi(v);
    else if (k == "--seconds") seconds = std::stod(v);
    else if (k == "--label") label = v;
    else if (k == "--users") {
      std::stringstream ss(v);
      for (std::string u; std::getline(ss, u, ',');) users.push_back(u);
    } else {
      std::fprintf(stderr, "policy_bench: bad argument %s\n", k.c_str());
      return 2;
    }
  }
  if (users.empty()) users.push_back("smtpuser_bench");
  std::atomic<long> decisions{0}, errors{0};
  std::mutex mu;
  std::vector<double> latencies, eom_latencies;  // all requests; END-OF-MESSAGE alone
  auto deadline = clock_type::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; c++) {
    threads.emplace_back([&, c] {
      migo::test::PolicyClient client(target);
      if (!client.connected()) {
        errors++;
        return;
      }
      std::vector<double> mine, mine_eom;
      const std::string& user = users[static_cast<size_t>(c) % users.size()];
      // Rendered once: the generator must cost far less than the servers.
      using Req = std::map<std::string, std::string>;
      const std::string rcpt[2] = {
          migo::test::PolicyClient::request_text(Req{{"sasl_username", user}, {"recipient", "r0@dest.test"}}),
          migo::test::PolicyClient::request_text(Req{{"sasl_username", user}, {"recipient", "r1@dest.test"}})};
      const std::string eom = migo::test::PolicyClient::request_text(
          Req{{"sasl_username", user}, {"protocol_state", "END-OF-MESSAGE"}, {"queue_id", "@QID@"},
              {"recipient_count", "2"}, {"recipient", ""}, {"size", "1532"}});
      const size_t qid_at = eom.find("@QID@");
      for (long m = 0; clock_type::now() < deadline; m++) {
        for (int step = 0; step < 3; step++) {
          std::string text = step < 2 ? rcpt[step] : eom;
          if (step == 2) text.replace(qid_at, 5, "B" + std::to_string(c) + "Q" + std::to_string(m));
          auto t0 = clock_type::now();
          std::string action = client.send_raw(text) ? client.read_action() : "";
          mine.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
          if (step == 2) mine_eom.push_back(mine.back());
          if (action.empty()) {
            errors++;
            return;
          }
          if (action != "DUNNO" && action != "dunno") errors++;
          decisions++;
        }
      }
      std::lock_guard lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      eom_latencies.insert(eom_latencies.end(), mine_eom.begin(), mine_eom.end());
    });
  }
  auto start = clock_type::now();
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  std::sort(eom_latencies.begin(), eom_latencies.end());
  auto pct = [](const std::vector<double>& v, double p) {
    return v.empty() ? 0 : v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
  };
  std::printf("%-22s %9.0f decisions/s  p50 %7.0f us  p99 %7.0f us  END-OF-MESSAGE p50 %7.0f us p99 %7.0f us"
              "  (%ld decisions, %d connections, %ld errors)\n",
              label.c_str(), static_cast<double>(decisions) / elapsed, pct(latencies, 0.5), pct(latencies, 0.99),
              pct(eom_latencies, 0.5), pct(eom_latencies, 0.99), decisions.load(), connections, errors.load());
  return errors > 0 ? 1 : 0;
}
