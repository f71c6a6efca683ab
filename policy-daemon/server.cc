// server.cc — see server.h.
#include "server.h"

#include "../common/prometheus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "../common/daemon.h"
#include "../common/listener.h"
#include "migo/accounting.h"
#include "migo/credentials.h"
#include "request.h"

namespace migo {
namespace {

int64_t unix_now() { return static_cast<int64_t>(time(nullptr)); }

Status sys_error(const std::string& what) { return {Code::unavailable, what + ": " + strerror(errno)}; }

std::string peer_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "local";
}

// The SMTP client a request is about, as Postfix's own smtpd names it in its
// log lines (name[address]), so one grep finds both programs' lines. The
// policy connection's peer stands in when Postfix sent no address.
std::string smtp_client(const PolicyQuery& q, const std::string& policy_peer) {
  if (q.client_address.empty()) return policy_peer;
  return (q.client_name.empty() ? "unknown" : q.client_name) + "[" + q.client_address + "]";
}

struct Connection {
  Fd fd;
  uint64_t id = 0;
  std::string peer;
  RequestParser parser;
  std::string in;   // bytes read but not yet parsed (while waiting for a commit)
  std::string out;  // reply bytes not yet written
  bool waiting = false;  // an END-OF-MESSAGE is with the committer
  uint32_t events = 0;   // what epoll watches for now
  std::string pending_queue_id;
  std::string pending_client_address, pending_client_name;  // for its log line
  int64_t last_activity = 0;
  int64_t request_started = 0;  // 0 when no request is partly read
  std::string rcpt_instance;     // the message whose RCPTs are being checked
  uint64_t rcpt_accepted = 0;    // its recipients accepted so far
};

// Work for the committer thread.
struct Job {
  uint64_t conn = 0;  // 0 for a refund
  PolicyQuery query;
};
// A refund: the client never heard our DUNNO for this queue id.
Job refund_job(const std::string& queue_id) {
  Job j;
  j.query.queue_id = queue_id;
  return j;
}
struct Done {
  uint64_t conn = 0;
  std::string queue_id;
  Verdict verdict;
};

}  // namespace

struct PolicyServer::Impl {
  Store& store;
  ServerOptions options;
  LogFn log;
  ReloadFn reload;
  std::mutex config_mu;
  PolicyConfig config;

  std::vector<Listener> listeners;
  Fd epoll, signals, wake, timer;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns;
  std::unordered_map<int, uint64_t> by_fd;
  uint64_t next_id = 1;
  bool stopping = false;
  bool accept_paused = false;  // out of descriptors: listeners unwatched until the next tick
  static constexpr int64_t kOverloadLogInterval = 60;
  int64_t overload_logged_at = 0;
  uint64_t overload_unlogged = 0;

  // Shared counters (Redis): one connection for the loop's RCPT checks, one
  // for the committer; null without.
  std::optional<RedisCounters> loop_redis, committer_redis;
  SharedWindows loop_shared, committer_shared;
  SharedWindows* rcpt_shared() { return loop_redis ? &loop_shared : nullptr; }
  SharedWindows* eom_shared() { return committer_redis ? &committer_shared : nullptr; }
  bool drain_failing = false;

  // Committer queue and results.
  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<Job> jobs;
  std::deque<Done> done;
  bool committer_exit = false;
  std::thread committer;

  Impl(Store& s, PolicyConfig c, ServerOptions o, LogFn l, ReloadFn r)
      : store(s), options(std::move(o)), log(std::move(l)), reload(std::move(r)), config(std::move(c)) {}

  PolicyConfig current_config() {
    std::lock_guard lock(config_mu);
    return config;
  }

  // ------------------------------------------------------------- committer
  // The store's shared refunds to Redis; a failure is logged when it starts
  // and when it ends, not at every attempt.
  std::chrono::steady_clock::time_point drained_at{};
  void drain_refunds() {
    if (!eom_shared()) return;
    drained_at = std::chrono::steady_clock::now();
    auto n = drain_shared_refunds(store, committer_shared);
    if (!n.ok()) {
      if (!drain_failing) log(LOG_WARNING, "shared refunds wait: " + n.status().message());
      drain_failing = true;
      return;
    }
    if (drain_failing) log(LOG_INFO, "shared refunds carried to the counters again");
    drain_failing = false;
    if (*n) log(LOG_INFO, std::to_string(*n) + " refunds carried to the shared counters");
  }

  void committer_loop() {
    for (;;) {
      std::vector<Job> batch;
      {
        std::unique_lock lock(q_mu);
        // Woken by work, or once a second for the shared refunds (which
        // are carried at least once a second however busy the relay is).
        bool work = q_cv.wait_for(lock, std::chrono::seconds(1), [&] { return committer_exit || !jobs.empty(); });
        if (!work || std::chrono::steady_clock::now() - drained_at >= std::chrono::seconds(1)) {
          lock.unlock();
          drain_refunds();
          if (!work) continue;
          lock.lock();
        }
        if (jobs.empty() && committer_exit) return;
        while (!jobs.empty() && batch.size() < options.max_batch) {
          batch.push_back(std::move(jobs.front()));
          jobs.pop_front();
        }
      }
      std::vector<PolicyQuery> queries;
      std::vector<std::string> refunds;
      std::vector<Done> results;
      for (Job& j : batch) {
        if (j.conn == 0) {
          // The client vanished before hearing DUNNO: Postfix cannot have
          // accepted the message on our word, so take the count back — in
          // the same transaction as the batch's commits: one fsync, and no
          // queue of single-refund transactions behind live traffic.
          refunds.push_back(j.query.queue_id);
          continue;
        }
        queries.push_back(j.query);
        results.push_back({j.conn, j.query.queue_id, {}});
      }
      Status written;
      std::vector<Verdict> verdicts =
          commit_end_of_message(store, queries, unix_now(), current_config(), refunds, &written, eom_shared());
      for (const std::string& qid : refunds)
        log(written.ok() ? LOG_INFO : LOG_ERR, qid + ": reply undeliverable, count refunded" +
                                                   (written.ok() ? "" : std::string(" FAILED: ") + written.message()));
      if (!refunds.empty()) drain_refunds();
      if (queries.empty()) continue;
      for (size_t i = 0; i < results.size(); i++) results[i].verdict = std::move(verdicts[i]);
      {
        std::lock_guard lock(q_mu);
        for (Done& d : results) done.push_back(std::move(d));
      }
      uint64_t one = 1;
      if (write(wake.get(), &one, sizeof one) < 0) { /* the loop polls done on its timer too */ }
    }
  }

  void submit(Job job) {
    {
      std::lock_guard lock(q_mu);
      jobs.push_back(std::move(job));
    }
    q_cv.notify_one();
  }

  // ------------------------------------------------------------ the loop
  void close_conn(Connection& c, const std::string& why, int priority = LOG_INFO) {
    if (!why.empty()) log(priority, c.peer + ": " + why + "; connection closed");
    uint64_t id = c.id;
    by_fd.erase(c.fd.get());
    epoll_ctl(epoll.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
    conns.erase(id);  // c is gone after this
  }

  // Only a change costs a system call: most requests leave the interest
  // set as it was (reading, nothing left to write).
  void want(Connection& c, bool in, bool out) {
    uint32_t events = (in ? EPOLLIN : 0u) | (out ? EPOLLOUT : 0u) | EPOLLRDHUP;
    if (events == c.events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.id;
    epoll_ctl(epoll.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.events = events;
  }

  // What epoll watches follows the connection's state. Reading stays on
  // while a commit is pending: the reply then costs no epoll_ctl calls, and
  // a hang-up is seen at once. Requests read meanwhile wait in c.in; a
  // client that sends more than a request's worth is not read further
  // until its reply.
  void rewatch(Connection& c) { want(c, !c.waiting || c.in.size() <= kMaxRequestBytes, !c.out.empty()); }

  // Writes what can be written; false if the connection died.
  bool flush(Connection& c) {
    while (!c.out.empty()) {
      ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return false;
    }
    return true;
  }

  // Decisions by stage (RCPT, END-OF-MESSAGE, other) and Verdict::Kind, and
  // limit refusals by window: counted here, where every decision passes.
  std::atomic<uint64_t> decided[3][4] = {};
  std::atomic<uint64_t> refused_by_window[3] = {};

  void log_verdict(const PolicyQuery& q, const Verdict& v, const std::string& policy_peer) {
    const int stage = q.stage == PolicyQuery::Stage::rcpt ? 0 : q.stage == PolicyQuery::Stage::end_of_message ? 1 : 2;
    decided[stage][static_cast<int>(v.kind)].fetch_add(1, std::memory_order_relaxed);
    if (v.window) {
      const std::string_view w = v.window;
      refused_by_window[w == "hourly" ? 0 : w == "daily" ? 1 : 2].fetch_add(1, std::memory_order_relaxed);
    }
    if (v.kind == Verdict::Kind::dunno && q.stage != PolicyQuery::Stage::end_of_message) return;
    std::string client = smtp_client(q, policy_peer);
    std::string id = q.queue_id.empty() ? "NOQUEUE" : q.queue_id;
    int prio = v.kind == Verdict::Kind::tempfail ? LOG_WARNING : LOG_INFO;
    const char* what = v.kind == Verdict::Kind::dunno    ? "accept"
                       : v.kind == Verdict::Kind::reject ? "reject"
                       : v.kind == Verdict::Kind::defer  ? "defer"
                                                          : "tempfail";
    log(prio, id + ": " + what + ": " + q.protocol_state + " from " + client + ": " + v.reason +
                  "; action=" + v.action);
  }

  // Parses and answers whatever whole requests `c` has; stops while a
  // commit is pending. Returns false if the connection was closed.
  bool process(Connection& c) {
    while (!c.waiting) {
      std::string_view in = c.in;
      RequestParser::State s = c.parser.feed(in);
      c.in.erase(0, c.in.size() - in.size());
      if (s == RequestParser::State::error) {
        close_conn(c, "malformed request: " + c.parser.error(), LOG_WARNING);
        return false;
      }
      if (s == RequestParser::State::need_more) {
        if (c.parser.mid_request() && c.request_started == 0) c.request_started = unix_now();
        break;
      }
      c.request_started = 0;
      PolicyRequest r = c.parser.take();
      std::string why;
      auto q = interpret(r, &why);
      if (!q) {
        close_conn(c, "unusable request: " + why, LOG_WARNING);
        return false;
      }
      if (q->stage == PolicyQuery::Stage::end_of_message && !q->sasl_username.empty()) {
        c.waiting = true;
        c.pending_queue_id = q->queue_id;
        c.pending_client_address = q->client_address;
        c.pending_client_name = q->client_name;
        submit(Job{c.id, std::move(*q)});
        break;
      }
      // Recipients accepted at RCPT for the message in hand (issue 13: a
      // message that no longer fits is refused at RCPT, not after its body).
      if (q->instance != c.rcpt_instance) {
        c.rcpt_instance = q->instance;
        c.rcpt_accepted = 0;
      }
      bool counts = q->stage == PolicyQuery::Stage::rcpt && !q->instance.empty();
      Verdict v = decide(store, *q, unix_now(), current_config(), counts ? c.rcpt_accepted : 0, rcpt_shared());
      if (counts && v.kind == Verdict::Kind::dunno) c.rcpt_accepted++;
      log_verdict(*q, v, c.peer);
      c.out += "action=" + v.action + "\n\n";
    }
    if (!flush(c)) {
      close_conn(c, "write failed");
      return false;
    }
    rewatch(c);
    return true;
  }

  void on_readable(Connection& c) {
    char buf[16384];
    for (;;) {
      ssize_t n = recv(c.fd.get(), buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        c.last_activity = unix_now();
        // A short read emptied the socket: skip the read that would only
        // say EAGAIN (epoll is level-triggered and calls again for more).
        if (static_cast<size_t>(n) < sizeof buf) break;
        if (c.in.size() > kMaxRequestBytes + sizeof buf) break;  // parse before reading more
        continue;
      }
      if (n == 0) {
        bool cut = c.parser.mid_request() || !c.in.empty();
        if (!process(c)) return;
        close_conn(c, cut ? "client closed the connection in the middle of a request" : "");
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_conn(c, std::string("read failed: ") + strerror(errno));
      return;
    }
    process(c);
  }

  void on_done() {
    uint64_t count;
    if (read(wake.get(), &count, sizeof count) < 0) { /* drained below regardless */ }
    std::deque<Done> ready;
    {
      std::lock_guard lock(q_mu);
      ready.swap(done);
    }
    for (Done& d : ready) {
      auto it = conns.find(d.conn);
      if (it == conns.end()) {
        if (d.verdict.kind == Verdict::Kind::dunno) submit(refund_job(d.queue_id));
        continue;
      }
      Connection& c = *it->second;
      PolicyQuery logged;
      logged.stage = PolicyQuery::Stage::end_of_message;
      logged.protocol_state = "END-OF-MESSAGE";
      logged.queue_id = d.queue_id;
      logged.client_address = std::move(c.pending_client_address);
      logged.client_name = std::move(c.pending_client_name);
      log_verdict(logged, d.verdict, c.peer);
      c.out += "action=" + d.verdict.action + "\n\n";
      c.waiting = false;
      c.pending_queue_id.clear();
      c.pending_client_address.clear();
      c.pending_client_name.clear();
      if (!flush(c)) {
        if (d.verdict.kind == Verdict::Kind::dunno) submit(refund_job(d.queue_id));
        close_conn(c, "write failed");
        continue;
      }
      process(c);
    }
  }

  // Out of descriptors, accept() fails while the listener stays readable:
  // retrying at once would spin at full CPU and log without end. So the
  // listeners are left alone for a second (on_tick resumes them) and the
  // trouble is logged once a minute with a count of what was not logged.
  void pause_accepting(const char* why) {
    if (!accept_paused) {
      accept_paused = true;
      for (size_t i = 0; i < listeners.size(); i++) watch_listener(i, false);
    }
    overload_note(std::string("accept: ") + why + " (" + std::to_string(conns.size()) +
                  " connections open); not accepting for 1s");
  }
  void resume_accepting() {
    if (!accept_paused || stopping) return;
    accept_paused = false;
    for (size_t i = 0; i < listeners.size(); i++) watch_listener(i, true);
  }
  void watch_listener(size_t i, bool on) {
    epoll_event ev{};
    ev.events = on ? static_cast<uint32_t>(EPOLLIN) : 0u;
    ev.data.u64 = kListenerTag + i;
    epoll_ctl(epoll.get(), EPOLL_CTL_MOD, listeners[i].fd.get(), &ev);
  }
  void overload_note(const std::string& line) {
    int64_t now = unix_now();
    if (overload_logged_at != 0 && now - overload_logged_at < kOverloadLogInterval) {
      overload_unlogged++;
      return;
    }
    log(LOG_WARNING, line + (overload_unlogged ? " (" + std::to_string(overload_unlogged) +
                                                     " more such events since the last line)"
                                               : ""));
    overload_logged_at = now;
    overload_unlogged = 0;
  }

  void accept_all(int lfd) {
    for (;;) {
      int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting(strerror(errno));
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
          log(LOG_WARNING, std::string("accept: ") + strerror(errno));
        return;
      }
      if (stopping || conns.size() >= options.max_connections) {
        overload_note(peer_name(fd) + ": too many connections (" + std::to_string(conns.size()) +
                      "); connection refused");
        close(fd);
        continue;
      }
      auto c = std::make_unique<Connection>();
      c->fd = Fd(fd);
      c->id = next_id++;
      c->peer = peer_name(fd);
      c->last_activity = unix_now();
      epoll_event ev{};
      ev.events = c->events = EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = c->id;
      epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev);
      by_fd[fd] = c->id;
      conns.emplace(c->id, std::move(c));
    }
  }

  void on_tick() {
    uint64_t expirations;
    if (read(timer.get(), &expirations, sizeof expirations) < 0) { /* a missed tick is harmless */ }
    resume_accepting();
    int64_t now = unix_now();
    std::vector<uint64_t> idle, slow;
    for (auto& [id, c] : conns) {
      if (c->waiting) continue;
      if (c->request_started && now - c->request_started > options.request_timeout) slow.push_back(id);
      else if (!c->request_started && now - c->last_activity > options.idle_timeout) idle.push_back(id);
    }
    for (uint64_t id : slow) close_conn(*conns.at(id), "request not complete after " + std::to_string(options.request_timeout) + "s", LOG_WARNING);
    for (uint64_t id : idle) close_conn(*conns.at(id), "");  // Postfix reconnects when it needs us
  }

  void on_signal() {
    signalfd_siginfo si;
    while (read(signals.get(), &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP) {
        auto c = reload ? reload() : Result<PolicyConfig>(current_config());
        if (c.ok()) {
          std::lock_guard lock(config_mu);
          config = std::move(*c);
          log(LOG_INFO, "configuration reloaded");
        } else {
          log(LOG_ERR, "reload failed, keeping the old configuration: " + c.status().message());
        }
      } else if (!stopping) {
        stopping = true;
        log(LOG_INFO, "stopping: finishing " + std::to_string(conns.size()) + " connections' requests in flight");
        for (Listener& l : listeners) {
          epoll_ctl(epoll.get(), EPOLL_CTL_DEL, l.fd.get(), nullptr);
          l.fd.reset();
        }
      }
    }
  }

  bool drained() {
    for (auto& [id, c] : conns)
      if (c->waiting || !c->out.empty()) return false;
    std::lock_guard lock(q_mu);
    return jobs.empty() && done.empty();
  }

  int run() {
    if (loop_redis) {
      // Said once at start: whether Redis answers now (it is asked again at
      // every request, so a Redis that comes up later is used then).
      auto probe = loop_redis->usage(0, unix_now());
      log(probe.ok() ? LOG_INFO : LOG_WARNING,
          std::string("counters: shared, on ") + (loop_redis->cluster() ? "a Redis Cluster" : "Redis") + " as relay " +
              loop_shared.relay + (probe.ok() ? "" : " (not answering yet: " + probe.status().message() + ")"));
    }
    committer = std::thread([this] { committer_loop(); });
    log(LOG_INFO, "ready: listening on " + [&] {
      std::string s;
      for (auto& l : listeners) s += (s.empty() ? "" : ", ") + l.name;
      return s;
    }());
    epoll_event events[256];
    int64_t stop_deadline = 0;
    for (;;) {
      if (stopping) {
        if (stop_deadline == 0) stop_deadline = unix_now() + 30;
        if (drained() || unix_now() > stop_deadline) break;
      }
      int n = epoll_wait(epoll.get(), events, 256, 1000);
      if (n < 0 && errno != EINTR) {
        log(LOG_ERR, std::string("epoll_wait: ") + strerror(errno));
        break;
      }
      for (int i = 0; i < n; i++) {
        uint64_t tag = events[i].data.u64;
        if (tag == kSignalTag) on_signal();
        else if (tag == kWakeTag) on_done();
        else if (tag == kTimerTag) on_tick();
        else if (tag >= kListenerTag && tag < kListenerTag + listeners.size()) accept_all(listeners[tag - kListenerTag].fd.get());
        else {
          auto it = conns.find(tag);
          if (it == conns.end()) continue;
          Connection& c = *it->second;
          if (events[i].events & EPOLLOUT) {
            if (!flush(c)) {
              close_conn(c, "write failed");
              continue;
            }
            rewatch(c);
          }
          if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
        }
      }
    }
    {
      std::lock_guard lock(q_mu);
      committer_exit = true;
    }
    q_cv.notify_all();
    committer.join();
    on_done();  // replies decided while stopping
    for (Listener& l : listeners)
      if (!l.unix_path.empty()) unlink(l.unix_path.c_str());
    log(LOG_INFO, "stopped");
    return 0;
  }

  // epoll tags: connection ids start at 1 and stay far below these.
  static constexpr uint64_t kSignalTag = ~0ull;
  static constexpr uint64_t kWakeTag = ~0ull - 1;
  static constexpr uint64_t kTimerTag = ~0ull - 2;
  static constexpr uint64_t kListenerTag = ~0ull - 1024;
};

PolicyServer::PolicyServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PolicyServer::~PolicyServer() = default;

Result<std::unique_ptr<PolicyServer>> PolicyServer::create(Store& store, PolicyConfig config, ServerOptions options,
                                                           LogFn log, ReloadFn reload) {
  if (options.listen.empty()) return Status(Code::invalid, "nothing to listen on (--listen)");
  auto impl = std::make_unique<Impl>(store, std::move(config), std::move(options), std::move(log), std::move(reload));
  if (!impl->options.counters.empty()) {
    std::vector<RedisEndpoint> seeds;
    for (const std::string& url : impl->options.counters) {
      auto e = parse_redis_url(url);
      if (!e.ok()) return e.status();
      seeds.push_back(std::move(*e));
    }
    RedisOptions ro{impl->options.counters_timeout_ms, 1000};
    for (auto* r : {&impl->loop_redis, &impl->committer_redis}) {
      auto c = RedisClient::lazy(seeds, ro);
      if (!c.ok()) return c.status();
      r->emplace(std::move(*c));
    }
    const std::string relay = impl->options.relay_name.empty() ? host_name() : impl->options.relay_name;
    impl->loop_shared = {&*impl->loop_redis, relay};
    impl->loop_shared.rcpt_cache_ms = 50;
    impl->committer_shared = {&*impl->committer_redis, relay};
  }
  for (const std::string& spec : impl->options.listen) {
    auto l = bind_listener(spec, impl->options.socket_group);
    if (!l.ok()) return l.status();
    impl->listeners.push_back(std::move(*l));
  }
  impl->epoll = Fd(epoll_create1(EPOLL_CLOEXEC));
  if (impl->epoll.get() < 0) return sys_error("epoll_create1");
  // Signals arrive through a descriptor; block them in every thread (the
  // committer inherits this mask).
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  sigdelset(&mask, SIGPIPE);
  impl->signals = Fd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  impl->wake = Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  impl->timer = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (impl->signals.get() < 0 || impl->wake.get() < 0 || impl->timer.get() < 0) return sys_error("event descriptors");
  itimerspec tick{{1, 0}, {1, 0}};
  timerfd_settime(impl->timer.get(), 0, &tick, nullptr);
  auto add = [&](int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    return epoll_ctl(impl->epoll.get(), EPOLL_CTL_ADD, fd, &ev);
  };
  if (add(impl->signals.get(), Impl::kSignalTag) || add(impl->wake.get(), Impl::kWakeTag) ||
      add(impl->timer.get(), Impl::kTimerTag))
    return sys_error("epoll_ctl");
  for (size_t i = 0; i < impl->listeners.size(); i++)
    if (add(impl->listeners[i].fd.get(), Impl::kListenerTag + i)) return sys_error("epoll_ctl");
  return std::unique_ptr<PolicyServer>(new PolicyServer(std::move(impl)));
}

int PolicyServer::run() { return impl_->run(); }

std::string PolicyServer::metrics() const {
  static const char* kStages[] = {"rcpt", "end-of-message", "other"};
  static const char* kActions[] = {"accept", "reject", "defer", "tempfail"};
  static const char* kWindows[] = {"hourly", "daily", "monthly"};
  std::vector<MetricSample> decisions, refusals;
  for (int s = 0; s < 3; s++)
    for (int a = 0; a < 4; a++)
      decisions.push_back({std::string("{stage=\"") + kStages[s] + "\",action=\"" + kActions[a] + "\"}",
                           impl_->decided[s][a].load(std::memory_order_relaxed)});
  for (int w = 0; w < 3; w++)
    refusals.push_back({std::string("{window=\"") + kWindows[w] + "\"}",
                        impl_->refused_by_window[w].load(std::memory_order_relaxed)});
  return prometheus_family("migo_policyd_decisions_total",
                           "Policy decisions by stage and action (accept is DUNNO; tempfail: the store did not answer).",
                           "counter", decisions) +
         prometheus_family("migo_policyd_limit_refusals_total", "Refusals by a workspace limit, by window.", "counter",
                           refusals);
}

}  // namespace migo
