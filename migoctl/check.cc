// check.cc — see check.h.
#include "check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmilter/mfdef.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "follower.h"  // kStatdFailingSince
#include "listener.h"  // Fd

namespace migo {

uint64_t bytes_behind(const std::string& path, const FollowPosition& p) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  const auto size = static_cast<uint64_t>(st.st_size);
  if (static_cast<uint64_t>(st.st_ino) != p.inode) return size;
  return size > p.offset ? size - p.offset : 0;
}

FollowHealth follow_health(const std::vector<std::pair<std::string, FollowPosition>>& logs,
                           const std::vector<std::pair<std::string, uint64_t>>& counters, int64_t now,
                           int64_t max_lag) {
  FollowHealth h;
  for (const auto& [name, value] : counters)
    if (name == kStatdFailingSince && value != 0)
      h.add(2, "migo-statd cannot read its log since " + rfc3339_utc(static_cast<int64_t>(value)) +
                   " (its log says why)");
  if (logs.empty()) h.add(1, "migo-statd has not followed any log yet");
  for (const auto& [path, p] : logs) {
    uint64_t behind = bytes_behind(path, p);
    int64_t age = now - p.updated;
    if (behind > 0 && age > max_lag)
      h.add(2, path + ": " + std::to_string(behind) + " bytes not counted, position last moved " +
                   std::to_string(age) + "s ago");
  }
  return h;
}

namespace {

// A connection to unix:PATH, inet:HOST:PORT or inet:PORT@HOST (libmilter's
// spelling), made within the deadline; -1 and `why` otherwise.
int connect_to(const std::string& spec, int timeout_ms, std::string* why) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (spec.rfind("unix:", 0) == 0) {
    auto* un = reinterpret_cast<sockaddr_un*>(&ss);
    std::string path = spec.substr(5);
    if (path.empty() || path.size() >= sizeof un->sun_path) {
      *why = "bad socket path";
      return -1;
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
    len = sizeof(sockaddr_un);
  } else if (spec.rfind("inet:", 0) == 0) {
    std::string rest = spec.substr(5), host, port;
    if (size_t at = rest.find('@'); at != std::string::npos) port = rest.substr(0, at), host = rest.substr(at + 1);
    else if (size_t colon = rest.rfind(':'); colon != std::string::npos) host = rest.substr(0, colon), port = rest.substr(colon + 1);
    addrinfo hints{}, *res = nullptr;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    if (host.empty() || port.empty() || getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
      *why = "not a numeric HOST and PORT";
      return -1;
    }
    std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    freeaddrinfo(res);
  } else {
    *why = "expected unix:PATH or inet:HOST:PORT";
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *why = std::strerror(errno);
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) {
      *why = std::strerror(errno);
      close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t el = sizeof err;
    if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
      *why = err ? std::strerror(err) : "no answer in time";
      close(fd);
      return -1;
    }
  }
  return fd;
}

bool send_all(int fd, const std::string& data, int timeout_ms) {
  for (size_t at = 0; at < data.size();) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) != 1) return false;
    ssize_t n = send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

// Reads until `done(buffer)` or the deadline; false on timeout or close.
template <typename Done>
bool read_until(int fd, std::string* buf, int timeout_ms, Done done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char chunk[512];
  while (!done(*buf)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf->append(chunk, static_cast<size_t>(n));
    if (buf->size() > 65536) return false;
  }
  return true;
}

std::string ms_since(std::chrono::steady_clock::time_point t0) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  return std::to_string(us / 1000) + "." + std::to_string(us / 100 % 10) + "ms";
}

std::string mib(uint64_t bytes) {
  if (bytes < (1u << 20)) return std::to_string((bytes + 512) >> 10) + " KiB";
  return std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
}

}  // namespace

HealthItem probe_policy(const std::string& spec, int timeout_ms) {
  HealthItem h{"policyd", 2, "", ""};
  auto t0 = std::chrono::steady_clock::now();
  std::string why;
  Fd c(connect_to(spec, timeout_ms, &why));
  if (c.get() < 0) {
    h.text = "no answer at " + spec + ": " + why;
    return h;
  }
  // An unauthenticated RCPT: the daemon answers it without the store
  // (unauthenticated_action), so no limit or statistic moves (the daemon's
  // own decision counters do count it).
  const std::string request =
      "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=127.0.0.1\n"
      "client_name=localhost\nhelo_name=migoctl-check\nsender=\nrecipient=postmaster\ninstance=migoctl.check\n\n";
  std::string reply;
  if (!send_all(c.get(), request, timeout_ms) ||
      !read_until(c.get(), &reply, timeout_ms, [](const std::string& b) { return b.find("\n\n") != std::string::npos; })) {
    h.text = "no reply from " + spec + " within " + std::to_string(timeout_ms) + " ms";
    return h;
  }
  if (reply.rfind("action=", 0) != 0) {
    h.text = "a reply that is not a policy answer from " + spec;
    return h;
  }
  std::string took = ms_since(t0);
  h.level = 0;
  h.text = "migo-policyd answered in " + took;
  h.perf = "policyd_time=" + took;
  return h;
}

HealthItem probe_milter(const std::string& spec, int timeout_ms) {
  HealthItem h{"milter", 2, "", ""};
  auto t0 = std::chrono::steady_clock::now();
  std::string why;
  Fd c(connect_to(spec, timeout_ms, &why));
  if (c.get() < 0) {
    h.text = "no answer at " + spec + ": " + why;
    return h;
  }
  // The milter protocol's first exchange (SMFIC_OPTNEG): what an MTA does on
  // connecting, offering every action and protocol step; then SMFIC_QUIT.
  auto packet = [](char cmd, const std::string& data) {
    uint32_t n = htonl(static_cast<uint32_t>(data.size() + 1));
    return std::string(reinterpret_cast<const char*>(&n), 4) + cmd + data;
  };
  auto u32 = [](uint32_t v) {
    uint32_t n = htonl(v);
    return std::string(reinterpret_cast<const char*>(&n), 4);
  };
  const std::string optneg = packet(SMFIC_OPTNEG, u32(6) + u32(SMFI_CURR_ACTS) + u32(SMFI_CURR_PROT));
  std::string reply;
  bool ok = send_all(c.get(), optneg, timeout_ms) && read_until(c.get(), &reply, timeout_ms, [](const std::string& b) {
              if (b.size() < 4) return false;
              uint32_t n;
              std::memcpy(&n, b.data(), 4);
              return b.size() >= 4 + static_cast<size_t>(ntohl(n));
            });
  if (!ok || reply.size() < 5 || reply[4] != SMFIC_OPTNEG) {
    h.text = "no option negotiation from " + spec + " within " + std::to_string(timeout_ms) + " ms";
    return h;
  }
  send_all(c.get(), packet(SMFIC_QUIT, ""), timeout_ms);
  std::string took = ms_since(t0);
  h.level = 0;
  h.text = "migo-milter negotiated in " + took;
  h.perf = "milter_time=" + took;
  return h;
}

std::vector<HealthItem> store_health(const Store& store, const HealthOptions& o, int64_t now) {
  std::vector<HealthItem> out;
  HealthItem s{"store", 0, "", ""};
  auto u = store.usage();
  std::vector<std::pair<std::string, FollowPosition>> logs;
  std::vector<std::pair<std::string, uint64_t>> counters;
  Status read = store.read([&](const ReadTxn& t) -> Status {
    auto ps = t.follow_positions();
    if (!ps.ok()) return ps.status();
    logs = std::move(*ps);
    auto cs = t.counters();
    if (!cs.ok()) return cs.status();
    counters = std::move(*cs);
    return {};
  });
  if (!read.ok() || !u.ok()) {
    s.level = 2;
    s.text = "cannot be read: " + (read.ok() ? u.status().message() : read.message());
    out.push_back(s);
    return out;
  }
  const unsigned used_pct = u->max_map_bytes ? static_cast<unsigned>(u->used_bytes * 100 / u->max_map_bytes) : 0;
  const unsigned readers_pct = u->max_readers ? u->readers_used * 100 / u->max_readers : 0;
  s.level = std::max(used_pct >= o.store_crit_percent ? 2 : used_pct >= o.store_warn_percent ? 1 : 0,
                     readers_pct >= o.store_crit_percent ? 2 : readers_pct >= o.store_warn_percent ? 1 : 0);
  s.text = mib(u->used_bytes) + " of its " + mib(u->max_map_bytes) + " limit (" + std::to_string(used_pct) + "%), " +
           std::to_string(u->readers_used) + " of " + std::to_string(u->max_readers) + " reader slots";
  auto pct = [&](unsigned p) { return std::to_string(p * u->max_map_bytes / 100); };
  s.perf = "store_used=" + std::to_string(u->used_bytes) + "B;" + pct(o.store_warn_percent) + ";" +
           pct(o.store_crit_percent) + ";0;" + std::to_string(u->max_map_bytes) +
           " store_readers=" + std::to_string(u->readers_used) + ";;;0;" + std::to_string(u->max_readers);
  out.push_back(s);
  FollowHealth f = follow_health(logs, counters, now, o.max_lag_seconds);
  HealthItem st{"statd", f.level, "", ""};
  for (const auto& p : f.problems) st.text += (st.text.empty() ? "" : "; ") + p;
  if (st.text.empty()) st.text = "migo-statd keeps up with its log";
  out.push_back(st);
  return out;
}

int health_level(const std::vector<HealthItem>& items) {
  int level = 0;
  for (const auto& i : items) level = std::max(level, i.level);
  return level;
}

std::string health_line(const std::vector<HealthItem>& items) {
  static const char* kWords[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
  std::string text, perf;
  // The worst first: a pager shows the start of the line.
  for (int level = 2; level >= 0; level--)
    for (const auto& i : items)
      if (i.level == level) text += (text.empty() ? "" : "; ") + i.name + ": " + i.text;
  for (const auto& i : items)
    if (!i.perf.empty()) perf += (perf.empty() ? "" : " ") + i.perf;
  return std::string("MIGO ") + kWords[health_level(items)] + " - " + text + (perf.empty() ? "" : " | " + perf);
}

}  // namespace migo
