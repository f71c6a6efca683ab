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
#include <type_traits>

namespace migo {

// The keys of policyd.conf, once: the file is read with them and both
// pages are written from them. The defaults shown are those of a
// default-made PolicyConfig and ServerOptions, so they cannot drift.
std::vector<ConfigKey> policy_config_keys(PolicyConfig* config, ServerOptions* options) {
  const PolicyConfig dc;
  const ServerOptions dopt;
  // A key whose value is a whole number from lo to hi (of `unit`).
  auto whole = [](auto* to, long lo, long hi, const std::string& unit) {
    return [to, lo, hi, unit](const std::string& v) -> Status {
      long n = 0;
      if (!whole_number(v, lo, hi, &n))
        return {Code::invalid, "a whole number" + unit + " from " + std::to_string(lo) + " to " + std::to_string(hi)};
      *to = static_cast<std::remove_pointer_t<decltype(to)>>(n);
      return {};
    };
  };
  auto seconds = [&](int* to, long hi) { return whole(to, 1, hi, " of seconds"); };
  return {
      {"unauthenticated_action", "ACTION", dc.unauthenticated_action,
       "What to answer for mail without a SASL login: an access(5) action\n"
       "(DUNNO lets the other restrictions decide; REJECT refuses).",
       [config](const std::string& v) -> Status {
         if (v.empty()) return {Code::invalid, "an action is needed (e.g. DUNNO or REJECT)"};
         config->unauthenticated_action = v;
         return {};
       }},
      {"tempfail_action", "4XX-REPLY", dc.tempfail_action,
       "What to answer when the store cannot: a 4xx reply, so Postfix keeps the\n"
       "mail and the client tries again. Failing closed is not optional.",
       [config](const std::string& v) -> Status {
         if (v.size() <= 3 || v[0] != '4') return {Code::invalid, "must be a 4xx reply: failing closed is not optional"};
         config->tempfail_action = v;
         return {};
       }},
      {"sasl_realm", "REALM", "",
       "Postfix's smtpd_sasl_local_domain, if it is set: sasl_username then\n"
       "ends in @REALM, which is not part of the account's name.",
       store_value(&config->sasl_realm)},
      {"idle_timeout", "SECONDS", std::to_string(dopt.idle_timeout),
       "How long a connection may sit between requests before it is closed.", seconds(&options->idle_timeout, 86400)},
      {"request_timeout", "SECONDS", std::to_string(dopt.request_timeout),
       "How long one request may take to arrive whole.", seconds(&options->request_timeout, 3600)},
      {"counters", "lmdb|URL", "lmdb",
       "Where the workspaces' hourly, daily and monthly windows are counted:\n"
       "lmdb, this relay's store (one relay); or redis://[USER:PASSWORD@]HOST:PORT\n"
       "(or unix:PATH), a Redis that several relays share, checked and counted\n"
       "in one script per message so no limit is exceeded across them. Repeat\n"
       "the key for a Redis Cluster's seed nodes. Redis unreachable answers\n"
       "tempfail_action. Read at start only (a reload keeps the old value).",
       [options](const std::string& v) -> Status {
         if (v == "lmdb") {
           options->counters.clear();
           return {};
         }
         auto e = parse_redis_url(v);
         if (!e.ok()) return e.status();
         options->counters.push_back(v);
         return {};
       }},
      {"counters_timeout", "MILLISECONDS", std::to_string(dopt.counters_timeout_ms),
       "How long to wait for Redis to connect or answer before the temporary\n"
       "failure; after a failure Redis is not asked again for a second.",
       whole(&options->counters_timeout_ms, 10, 60000, " of milliseconds")},
      {"relay_name", "NAME", "",
       "This relay's name in the shared counters' keys (default: the host\n"
       "name): each relay's Postfix numbers its queue on its own, so two\n"
       "relays need two names. Read at start only.",
       [options](const std::string& v) -> Status {
         if (v.empty() || v.size() > 64 || v.find_first_of("/{} \t") != std::string::npos)
           return {Code::invalid, "1 to 64 characters, none of / { } or blanks"};
         options->relay_name = v;
         return {};
       }},
      {"max_connections", "N", std::to_string(dopt.max_connections),
       "Concurrent connections. Lowered, with a warning, to what the descriptor\n"
       "limit allows (raise LimitNOFILE).",
       whole(&options->max_connections, 1, 1000000, "")},
  };
}

const ConfigFileDoc& policy_config_doc() {
  static PolicyConfig config;
  static ServerOptions options;
  static const ConfigFileDoc doc = {
      "migo-policyd.conf",
      "/etc/migo/policyd.conf",
      "the configuration file of migo-policyd",
      "migo-policyd reads it at start (--config FILE) and again on SIGHUP\n"
      "(systemctl reload migo-policyd). A reload that finds an error keeps the\n"
      "configuration in force and logs the error; a start refuses to run.\n"
      "\n"
      "Lines are key = value; # starts a comment; blank lines are skipped. An\n"
      "unknown key, a line without = and a bad value are errors that name the\n"
      "file and the line. Keys not in the file keep their defaults.\n"
      "\n"
      "The Debian package installs a commented file as a conffile; the ansible\n"
      "role writes its own.\n",
      policy_config_keys(&config, &options),
      "migo-policyd(8), access(5), SMTPD_POLICY_README",
      " = ",
      "# /etc/migo/policyd.conf\n"
      "unauthenticated_action = REJECT Authentication required\n"
      "idle_timeout = 600\n"
      "# several relays, one Redis Cluster for the limits:\n"
      "# counters = redis://migo-relay:PASSWORD@10.0.0.11:6379\n"
      "# counters = redis://migo-relay:PASSWORD@10.0.0.12:6379\n",
  };
  return doc;
}

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
    "  check_policy_service { unix:migo-policyd/policy, default_action=DEFER }\n"
    "\n"
    "At RCPT it refuses unknown and disabled accounts (REJECT) and workspaces\n"
    "with no room left (451 4.7.1, naming the limit and when room returns),\n"
    "counting the recipients the message already has. At END-OF-MESSAGE it\n"
    "checks recipient_count against every limit and counts it, durably, in\n"
    "one transaction: no limit is exceeded however many smtpd processes and\n"
    "daemons ask at once. Store trouble answers 451 4.3.0: it fails closed.\n",
    {{"SIGNALS",
      "  SIGTERM, SIGINT  stop accepting, finish requests in flight, exit\n"
      "  SIGHUP           reload the configuration file (listeners and store stay)\n"},
     {"EXIT STATUS", "0 after a clean stop; 1 on a start-up error; 2 on a usage error.\n"}},
    "migo-policyd.conf(5), migoctl(8), migo-milter(8), migo-statd(8), postconf(5)",
    &policy_config_doc(),
};

}  // namespace

Status read_policy_config(const std::string& path, PolicyConfig* config, ServerOptions* options) {
  return read_config_file(path, policy_config_keys(config, options));
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
  ReloadFn reload = [config_path, options, log]() -> Result<PolicyConfig> {
    PolicyConfig c;
    ServerOptions ignored = options;
    if (config_path.empty()) return c;
    if (Status s = read_policy_config(config_path, &c, &ignored); !s.ok()) return s;
    // What a reload cannot change is said, not silently kept.
    if (ignored.counters != options.counters || ignored.relay_name != options.relay_name ||
        ignored.counters_timeout_ms != options.counters_timeout_ms)
      log(LOG_WARNING, config_path + ": counters, counters_timeout and relay_name take effect at the next start, "
                                     "not on reload (systemctl restart migo-policyd)");
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
