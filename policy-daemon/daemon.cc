// daemon.cc — see daemon.h.
#include "daemon.h"

#include "../common/daemon.h"
#include "../common/options.h"
#include "../common/prometheus.h"

#include <syslog.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>

namespace migo {
namespace {

// Descriptors kept back from connections: the store, the log, epoll,
// signalfd, eventfd, timerfd and the listeners.
constexpr size_t kReservedDescriptors = 32;

const ProgramDoc kDoc = {
    "migo-policyd",
    "Postfix policy server for migo-relay: account status and the shared hourly, daily and monthly limits of "
    "each workspace",
    "--listen ADDR [--listen ADDR]... [--db PATH] [--config FILE] [--user USER] [--socket-group GROUP] "
    "[--foreground]",
    "Answers Postfix's policy delegation requests (SMTPD_POLICY_README) on\n"
    "persistent connections. Put it in smtpd_recipient_restrictions AND\n"
    "smtpd_end_of_data_restrictions:\n"
    "  check_policy_service { unix:private/migo-policy, default_action=DEFER }\n"
    "\n"
    "At RCPT it refuses unknown and disabled accounts (REJECT) and workspaces\n"
    "with no room left (451 4.7.1, naming the limit and when room returns),\n"
    "counting the recipients the message already has. At END-OF-MESSAGE it\n"
    "checks recipient_count against every limit and counts it, durably, in\n"
    "one transaction: no limit is exceeded however many smtpd processes and\n"
    "daemons ask at once. Store trouble answers 451 4.3.0: it fails closed.\n",
    {{"CONFIGURATION FILE",
      "Lines key = value; # starts a comment.\n"
      "  unauthenticated_action  action for mail without SASL login (DUNNO)\n"
      "  tempfail_action         action when the store cannot answer; a 4xx reply\n"
      "                          (451 4.3.0 Sending policy temporarily unavailable; ...)\n"
      "  sasl_realm              Postfix's smtpd_sasl_local_domain, if set\n"
      "  idle_timeout            seconds between requests before closing (300)\n"
      "  request_timeout         seconds for one request to arrive whole (30)\n"
      "  max_connections         concurrent connections (4096; lowered to what the\n"
      "                          descriptor limit allows, with a warning)\n"},
     {"SIGNALS",
      "  SIGTERM, SIGINT  stop accepting, finish requests in flight, exit\n"
      "  SIGHUP           reload the configuration file (listeners and store stay)\n"},
     {"EXIT STATUS", "0 after a clean stop; 1 on a start-up error; 2 on a usage error.\n"}},
    "migoctl(8), migo-milter(8), migo-statd(8), postconf(5)",
};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

Status read_policy_config(const std::string& path, PolicyConfig* config, ServerOptions* options) {
  std::ifstream f(path);
  if (!f) return {Code::unavailable, "cannot read " + path + ": " + strerror(errno)};
  std::string line;
  for (int n = 1; std::getline(f, line); n++) {
    std::string where = path + ":" + std::to_string(n) + ": ";
    if (size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = trim(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) return {Code::invalid, where + "expected key = value"};
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    long v = 0;
    if (key == "unauthenticated_action" && !value.empty()) config->unauthenticated_action = value;
    else if (key == "tempfail_action" && value.size() > 3 && value[0] == '4') config->tempfail_action = value;
    else if (key == "sasl_realm") config->sasl_realm = value;
    else if (key == "idle_timeout" && whole_number(value, 1, 86400, &v)) options->idle_timeout = static_cast<int>(v);
    else if (key == "request_timeout" && whole_number(value, 1, 3600, &v)) options->request_timeout = static_cast<int>(v);
    else if (key == "max_connections" && whole_number(value, 1, 1000000, &v)) options->max_connections = static_cast<size_t>(v);
    else if (key == "tempfail_action") return {Code::invalid, where + "tempfail_action must be a 4xx reply: failing closed is not optional"};
    else return {Code::invalid, where + "unknown key or bad value: " + key};
  }
  return {};
}

int policyd_main(int argc, char** argv) {
  ServerOptions options;
  PolicyConfig config;
  std::string db, config_path, user, metrics_path;
  bool foreground = false;
  const std::vector<ProgramOption> opts = {
      {"listen", "ADDR", "unix:PATH (a unix socket, mode 0660) or inet:HOST:PORT\n(e.g. inet:127.0.0.1:10031); repeatable",
       [&](const std::string& v) -> Status {
         options.listen.push_back(v);
         return {};
       }},
      {"db", "PATH", "the store (default: $MIGO_DB, else /var/lib/migo)", store_value(&db)},
      {"config", "FILE", "the configuration file; reloaded on SIGHUP", store_value(&config_path)},
      {"user", "USER", "when started as root: bind, open the store, then run as\nUSER (required when started as root)",
       store_value(&user)},
      {"socket-group", "GROUP", "group of the unix sockets (e.g. postfix)", store_value(&options.socket_group)},
      {"metrics-file", "FILE",
       "keep the decisions' counters in FILE (Prometheus' text format,\nreplaced every 10 s; migoctl metrics --include-dir reads it)",
       store_value(&metrics_path)},
      {"foreground", "", "log to standard error as well as syslog",
       set_flag(&foreground)},
  };
  if (int rc = parse_command_line(argc, argv, kDoc, opts); rc >= 0) return rc;
  db = store_path(db);
  DaemonLog log("migo-policyd", foreground);
  auto fatal = [&](const std::string& msg) {
    log(LOG_ERR, msg);
    if (!foreground) std::cerr << "migo-policyd: " << msg << "\n";
    return 1;
  };
  if (!config_path.empty())
    if (Status s = read_policy_config(config_path, &config, &options); !s.ok()) return fatal(s.message());
  if (geteuid() == 0 && user.empty()) return fatal("refusing to run as root: give --user (e.g. --user migo-policyd)");

  // Each connection is a descriptor; keep some for the store, the log and
  // the event descriptors, and never promise more connections than fit.
  size_t descriptors = raise_descriptor_limit();
  size_t room = descriptors > 2 * kReservedDescriptors ? descriptors - kReservedDescriptors : descriptors / 2;
  if (options.max_connections > room) {
    log(LOG_WARNING, "max_connections " + std::to_string(options.max_connections) + " lowered to " +
                         std::to_string(room) + ": the descriptor limit is " + std::to_string(descriptors) +
                         " (raise LimitNOFILE)");
    options.max_connections = room;
  }

  auto store = Store::open(db, {});
  if (!store.ok()) return fatal("cannot open store: " + store.status().message());
  ReloadFn reload = [config_path, options]() -> Result<PolicyConfig> {
    PolicyConfig c;
    ServerOptions ignored = options;
    if (config_path.empty()) return c;
    if (Status s = read_policy_config(config_path, &c, &ignored); !s.ok()) return s;
    return c;
  };
  auto server = PolicyServer::create(**store, config, options, log, reload);
  if (!server.ok()) return fatal(server.status().message());
  if (geteuid() == 0)
    if (Status s = drop_privileges(user); !s.ok()) return fatal(s.message());
  std::optional<MetricsFile> metrics;
  if (!metrics_path.empty())
    metrics.emplace(metrics_path, 10, [&] { return (*server)->metrics(); },
                    [&](const std::string& why) { log(LOG_WARNING, why); });
  return (*server)->run();
}

}  // namespace migo
