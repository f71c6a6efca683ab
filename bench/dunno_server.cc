// dunno_server — the ceiling for bench/run.sh policy: an epoll policy
// server that answers every request "action=DUNNO" and does nothing else.
//   dunno_server PORT
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) || listen(lfd, 1024)) return 1;
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::unordered_map<int, std::string> bufs;
  epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (int c; (c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      char buf[16384];
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        close(fd);
        bufs.erase(fd);
        continue;
      }
      std::string& b = bufs[fd];
      b.append(buf, static_cast<size_t>(r));
      std::string out;
      for (size_t end; (end = b.find("\n\n")) != std::string::npos;) {
        b.erase(0, end + 2);
        out += "action=DUNNO\n\n";
      }
      if (!out.empty() && write(fd, out.data(), out.size()) < 0) {
        close(fd);
        bufs.erase(fd);
      }
    }
  }
}
