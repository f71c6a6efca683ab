// epoll_milter — a measurement, not a product: the milter protocol spoken
// directly by one epoll thread, without libmilter. It negotiates exactly
// what migo-milter and bench/null_milter negotiate (milter/negotiation.h)
// and at END-OF-MESSAGE inserts one fixed header. Against null_milter it tells
// how much of a milter's cost on Postfix is libmilter's threads and how
// much is Postfix's own side of the protocol.
//   epoll_milter UNIX_SOCKET_PATH
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "negotiation.h"
#include "serve.h"

namespace {

void put32(std::string& s, uint32_t v) {
  v = htonl(v);
  s.append(reinterpret_cast<const char*>(&v), 4);
}

void frame(std::string& out, char cmd, const std::string& data) {
  put32(out, static_cast<uint32_t>(data.size() + 1));
  out += cmd;
  out += data;
}

uint32_t get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}

// Answers every whole command in `in`; false: close the connection.
bool answer(std::string& in, std::string& out) {
  while (in.size() >= 5) {
    uint32_t len = get32(in.data());
    if (len == 0 || len > (1u << 20)) return false;
    if (in.size() < 4 + len) break;
    char cmd = in[4];
    std::string data = in.substr(5, len - 1);
    in.erase(0, 4 + len);
    switch (cmd) {
      case SMFIC_OPTNEG: {
        if (data.size() < 12) return false;
        uint32_t actions = get32(data.data() + 4), steps = get32(data.data() + 8);
        // The MTA always takes our macro list (Postfix does).
        std::string r;
        put32(r, 6);
        put32(r, static_cast<uint32_t>((migo::kMilterActions | SMFIF_SETSYMLIST) & actions));
        put32(r, static_cast<uint32_t>(migo::milter_skipped_steps(true) & steps));
        put32(r, SMFIM_EOM);
        r += std::string(migo::kMilterEomMacros) + '\0';
        put32(r, SMFIM_EOH);
        r += std::string(migo::kMilterEohMacros) + '\0';
        frame(out, SMFIC_OPTNEG, r);
        break;
      }
      case SMFIC_BODYEOB: {
        std::string h;
        put32(h, 0);
        h += std::string("X-Epoll-Milter") + '\0' + "seen" + '\0';
        frame(out, SMFIR_INSHEADER, h);
        frame(out, SMFIR_CONTINUE, "");
        break;
      }
      case SMFIC_QUIT:
        return false;
      case SMFIC_MACRO:
      case SMFIC_HEADER:
      case SMFIC_EOH:
      case SMFIC_BODY:
      case SMFIC_ABORT:
      case SMFIC_QUIT_NC:
        break;  // no reply
      default:
        frame(out, SMFIR_CONTINUE, "");  // an event Postfix would not skip
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: epoll_milter UNIX_SOCKET_PATH\n");
    return 2;
  }
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
  unlink(argv[1]);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) || listen(lfd, 1024)) return 1;
  serve(lfd, answer);
}
