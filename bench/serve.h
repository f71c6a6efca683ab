// serve.h — the event loop of the benchmarks' stand-in servers
// (dunno_server, epoll_milter): one thread, epoll, non-blocking sockets.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <unordered_map>

// Accepts on `listen_fd` (non-blocking, listening) forever. For each
// connection, `answer` gets the bytes read and not yet consumed (it erases
// what it used) and appends its reply to `out`; false closes the
// connection. Replies are small and written at once.
inline void serve(int listen_fd, const std::function<bool(std::string& in, std::string& out)>& answer) {
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
  std::unordered_map<int, std::string> pending;
  epoll_event evs[256];
  char buf[65536];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == listen_fd) {
        for (int c; (c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      std::string& in = pending[fd];
      std::string out;
      ssize_t r;
      while ((r = read(fd, buf, sizeof buf)) > 0) in.append(buf, static_cast<size_t>(r));
      bool open = r != 0 && answer(in, out);
      if (!out.empty() && write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) open = false;
      if (!open) {
        pending.erase(fd);
        close(fd);
      }
    }
  }
}
