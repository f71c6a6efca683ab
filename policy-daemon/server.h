// server.h — migo-policyd's network side: persistent policy connections on
// unix and TCP sockets, one epoll loop, one committer thread.
//
// The loop reads requests, answers RCPT (and any other stage) itself — one
// short read transaction — and hands END-OF-MESSAGE requests to the
// committer. The committer takes every request waiting at that moment and
// decides them in ONE write transaction, so one fsync serves many messages
// (group commit) while each still sees the ones before it. Postfix sends one
// request at a time per connection, so a connection waits for its reply
// before its next request is read.
//
// Bad input never reaches the decisions: a malformed, oversized or binary
// request, a client idle too long or too slow to finish a request gets a log
// line and its connection closed; other connections are not affected.
// SIGTERM stops accepting, finishes the requests in flight and exits; SIGHUP
// reloads the configuration file.
//
// With shared counters (ServerOptions::counters) the loop and the
// committer each have their own Redis connection, and the committer also
// carries the store's shared refunds to Redis after every batch and once a
// second.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "migo/store.h"
#include "policy.h"

namespace migo {

struct ServerOptions {
  std::vector<std::string> listen;  // "unix:/path" or "inet:host:port"
  std::string socket_group;         // group of unix sockets (mode 0660); empty: ours
  int idle_timeout = 300;           // seconds a connection may sit between requests
  int request_timeout = 30;         // seconds a request may take to arrive whole
  size_t max_connections = 4096;
  size_t max_batch = 1024;  // END-OF-MESSAGE requests per write transaction
  // The workspaces' windows: empty for the store (one relay), else Redis
  // seeds (redis://… or unix:…; several for a Cluster), shared by relays.
  std::vector<std::string> counters;
  int counters_timeout_ms = 1000;
  std::string relay_name;  // this relay in Redis's keys; empty: the host name
};

// Where log lines go: syslog in production, stderr in the foreground.
// priority is a syslog priority (LOG_INFO, LOG_WARNING, LOG_ERR).
using LogFn = std::function<void(int priority, const std::string& line)>;

// Returns the configuration to use after SIGHUP, or an error (the old one
// stays in force).
using ReloadFn = std::function<Result<PolicyConfig>()>;

class PolicyServer {
 public:
  // Binds every listener now (before privileges are dropped).
  static Result<std::unique_ptr<PolicyServer>> create(Store& store, PolicyConfig config, ServerOptions options,
                                                      LogFn log, ReloadFn reload);
  ~PolicyServer();
  PolicyServer(const PolicyServer&) = delete;
  PolicyServer& operator=(const PolicyServer&) = delete;

  // Serves until SIGTERM or SIGINT (blocked in every thread by create()).
  // Returns 0 after a clean shutdown.
  int run();

  // Its decisions so far, in Prometheus' text format (common/prometheus.h):
  // by stage and action, and limit refusals by window. Thread-safe.
  std::string metrics() const;

 private:
  struct Impl;
  explicit PolicyServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace migo
