// dunno_server — the ceiling for bench/run.sh policy: an epoll policy
// server that answers every request "action=DUNNO" and does nothing else.
//   dunno_server PORT
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "serve.h"

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
  serve(lfd, [](std::string& in, std::string& out) {
    for (size_t end; (end = in.find("\n\n")) != std::string::npos;) {
      in.erase(0, end + 2);
      out += "action=DUNNO\n\n";
    }
    return true;
  });
}
