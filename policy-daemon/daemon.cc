// daemon.cc — see daemon.h.
#include "daemon.h"

#include "../common/daemon.h"

#include <syslog.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

namespace migo {
namespace {

// Descriptors kept back from connections: the store, the log, epoll,
// signalfd, eventfd, timerfd and the listeners.
constexpr size_t kReservedDescriptors = 32;

const char* kUsage =
    "NAME\n"
    "  migo-policyd - Postfix policy server for migo-relay: account status and\n"
    "  the shared hourly, daily and monthly limits of each workspace\n\n"
    "SYNOPSIS\n"
    "  migo-policyd --listen ADDR [--listen ADDR]... [--db PATH] [--config FILE]\n"
    "               [--user USER] [--socket-group GROUP] [--foreground]\n\n"
    "DESCRIPTION\n"
    "  Answers Postfix's policy delegation requests (SMTPD_POLICY_README) on\n"
    "  persistent connections. Put it in smtpd_recipient_restrictions AND\n"
    "  smtpd_end_of_data_restrictions:\n"
    "    check_policy_service { unix:private/migo-policy, default_action=DEFER }\n"
    "  At RCPT it refuses unknown and disabled accounts (REJECT) and workspaces\n"
    "  with no room left (451 4.7.1, naming the limit and when room returns). At\n"
    "  END-OF-MESSAGE it checks recipient_count against every limit and counts\n"
    "  it, durably, in one transaction: no limit is exceeded however many smtpd\n"
    "  processes and daemons ask at once. Store trouble answers 451 4.3.0.\n\n"
    "OPTIONS\n"
    "  --listen unix:PATH     a unix socket (mode 0660); repeatable\n"
    "  --listen inet:HOST:PORT  a TCP socket, e.g. inet:127.0.0.1:10031\n"
    "  --db PATH              the store (default: $MIGO_DB, else /var/lib/migo)\n"
    "  --config FILE          configuration file; reloaded on SIGHUP\n"
    "  --user USER            when started as root: bind, open the store, then\n"
    "                         run as USER (required when started as root)\n"
    "  --socket-group GROUP   group of the unix sockets (e.g. postfix)\n"
    "  --foreground           log to standard error as well as syslog\n"
    "  --help                 this text\n\n"
    "CONFIGURATION FILE (key = value)\n"
    "  unauthenticated_action  action for mail without SASL login (DUNNO)\n"
    "  tempfail_action         action when the store cannot answer\n"
    "                          (451 4.3.0 Sending policy temporarily unavailable; ...)\n"
    "  sasl_realm              Postfix's smtpd_sasl_local_domain, if set\n"
    "  idle_timeout            seconds between requests before closing (300)\n"
    "  request_timeout         seconds for one request to arrive whole (30)\n"
    "  max_connections         concurrent connections (4096)\n\n"
    "SIGNALS\n"
    "  SIGTERM, SIGINT  stop accepting, finish requests in flight, exit\n"
    "  SIGHUP           reload the configuration file (listeners and store stay)\n\n"
    "EXIT STATUS\n"
    "  0 after a clean stop; 1 on a start-up error; 2 on a usage error.\n";

bool parse_int(const std::string& s, long min, long max, long* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= min && *out <= max;
}

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
    else if (key == "idle_timeout" && parse_int(value, 1, 86400, &v)) options->idle_timeout = static_cast<int>(v);
    else if (key == "request_timeout" && parse_int(value, 1, 3600, &v)) options->request_timeout = static_cast<int>(v);
    else if (key == "max_connections" && parse_int(value, 1, 1000000, &v)) options->max_connections = static_cast<size_t>(v);
    else if (key == "tempfail_action") return {Code::invalid, where + "tempfail_action must be a 4xx reply: failing closed is not optional"};
    else return {Code::invalid, where + "unknown key or bad value: " + key};
  }
  return {};
}

int policyd_main(int argc, char** argv) {
  ServerOptions options;
  PolicyConfig config;
  std::string db, config_path, user;
  bool foreground = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "migo-policyd: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--listen") options.listen.push_back(value());
    else if (a == "--db") db = value();
    else if (a == "--config") config_path = value();
    else if (a == "--user") user = value();
    else if (a == "--socket-group") options.socket_group = value();
    else if (a == "--foreground") foreground = true;
    else {
      std::cerr << "migo-policyd: unknown argument '" << a << "'\nTry 'migo-policyd --help'.\n";
      return 2;
    }
  }
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
  return (*server)->run();
}

}  // namespace migo
