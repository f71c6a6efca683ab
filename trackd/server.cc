// server.cc — see server.h.
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace migo {

namespace {

// The smallest transparent 1x1 GIF (GIF89a, one transparent pixel).
const unsigned char kGif[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00,
                              0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00,
                              0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02,
                              0x44, 0x01, 0x00, 0x3b};
const char kNotFound[] = "not found\n";
const char kNotAllowed[] = "method not allowed\n";

struct ResponseFree {
  void operator()(MHD_Response* r) const {
    if (r) MHD_destroy_response(r);
  }
};
using Response = std::unique_ptr<MHD_Response, ResponseFree>;

bool loopback(const sockaddr* sa) {
  if (!sa) return false;
  if (sa->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
  if (sa->sa_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  return sa->sa_family == AF_UNIX;
}

std::string address_text(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (sa && sa->sa_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  if (sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

}  // namespace

TrackAnswer answer(const TrackingKeys& keys, const std::string& method, const std::string& url,
                   const TrackRequest& request, int64_t scanner_seconds) {
  TrackAnswer a;
  if (method != "GET" && method != "HEAD") {
    a.status = 405;
    return a;
  }
  if (url.size() < 4 || url[0] != '/' || (url[1] != 'o' && url[1] != 'c') || url[2] != '/') return a;
  auto token = verify_track_token(keys, std::string_view(url).substr(3));
  if (!token || (token->kind == TrackToken::Kind::open) != (url[1] == 'o')) return a;
  if (token->kind == TrackToken::Kind::open) {
    a.status = 200;
    a.gif = true;
  } else {
    a.status = 302;
    a.location = token->url;
  }
  a.count = method == "GET";
  if (a.count) a.event = classify(*token, request, scanner_seconds);
  return a;
}

struct TrackServer::Impl {
  MHD_Daemon* daemon = nullptr;
  Recorder* recorder = nullptr;
  DaemonLog* log = nullptr;
  int64_t scanner_seconds = kScannerSeconds;
  std::mutex keys_mu;
  std::shared_ptr<const TrackingKeys> keys;
  std::atomic<int64_t> last_drop_log{0};
  Response gif, not_found, not_allowed;
  ~Impl() {
    if (daemon) MHD_stop_daemon(daemon);
  }

  static MHD_Result handle(void* cls, MHD_Connection* conn, const char* url, const char* method, const char*,
                           const char*, size_t* upload_size, void** state) noexcept {
    auto* self = static_cast<Impl*>(cls);
    try {
      // libmicrohttpd calls first with the headers only, then with any body
      // (ignored: none is expected), then once more with nothing left. The
      // answer is queued on that last call: one queued earlier makes
      // libmicrohttpd discard the rest of the request and close the
      // connection, so every request would pay a new connection (with
      // nginx's keep-alive upstream, and wrk's, it measured 4x slower).
      if (*state == nullptr) {
        *state = self;
        return MHD_YES;
      }
      if (*upload_size != 0) {
        *upload_size = 0;
        return MHD_YES;
      }
      return self->respond(conn, url, method);
    } catch (...) {
      return MHD_NO;  // closes the connection
    }
  }

  MHD_Result respond(MHD_Connection* conn, const char* url, const char* method) {
    TrackRequest req;
    req.now = static_cast<int64_t>(time(nullptr));
    if (const char* ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent"))
      req.user_agent.assign(ua, strnlen(ua, 512));
    const MHD_ConnectionInfo* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const sockaddr* peer = info ? info->client_addr : nullptr;
    // The address nginx saw, from X-Real-IP, only when nginx (loopback)
    // is who asks: anyone else could write any address there.
    const char* real_ip = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Real-IP");
    req.client_ip = loopback(peer) && real_ip ? std::string(real_ip, strnlen(real_ip, 64)) : address_text(peer);
    std::shared_ptr<const TrackingKeys> k;
    {
      std::lock_guard lock(keys_mu);
      k = keys;
    }
    TrackAnswer a = answer(*k, method, url, req, scanner_seconds);
    if (a.count && !recorder->submit(std::move(a.event))) {
      // The store has stopped committing and the queue is full: say so
      // once a minute, not once a request.
      int64_t last = last_drop_log.load();
      if (req.now - last >= 60 && last_drop_log.compare_exchange_strong(last, req.now))
        (*log)(LOG_WARNING, "events not counted: the commit queue is full (" +
                                std::to_string(recorder->dropped()) + " dropped so far)");
    }
    if (a.status == 200) return MHD_queue_response(conn, MHD_HTTP_OK, gif.get());
    if (a.status == 405) return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed.get());
    if (a.status == 404) return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, not_found.get());
    Response r(MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT));
    if (!r || MHD_add_response_header(r.get(), "Location", a.location.c_str()) != MHD_YES) return MHD_NO;
    MHD_add_response_header(r.get(), "Cache-Control", "no-store");
    // The destination learns nothing of the token from the Referer.
    MHD_add_response_header(r.get(), "Referrer-Policy", "no-referrer");
    return MHD_queue_response(conn, MHD_HTTP_FOUND, r.get());
  }
};

TrackServer::TrackServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrackServer::~TrackServer() = default;

void TrackServer::replace_keys(TrackingKeys keys) {
  auto k = std::make_shared<const TrackingKeys>(std::move(keys));
  std::lock_guard lock(impl_->keys_mu);
  impl_->keys = std::move(k);
}

Result<std::unique_ptr<TrackServer>> TrackServer::start(const TrackServerOptions& options, TrackingKeys keys,
                                                        Recorder& recorder, DaemonLog& log) {
  auto impl = std::make_unique<Impl>();
  impl->recorder = &recorder;
  impl->log = &log;
  impl->scanner_seconds = options.scanner_seconds;
  impl->keys = std::make_shared<const TrackingKeys>(std::move(keys));
  impl->gif.reset(MHD_create_response_from_buffer(sizeof kGif, const_cast<unsigned char*>(kGif),
                                                  MHD_RESPMEM_PERSISTENT));
  impl->not_found.reset(MHD_create_response_from_buffer(sizeof kNotFound - 1, const_cast<char*>(kNotFound),
                                                        MHD_RESPMEM_PERSISTENT));
  impl->not_allowed.reset(MHD_create_response_from_buffer(sizeof kNotAllowed - 1, const_cast<char*>(kNotAllowed),
                                                          MHD_RESPMEM_PERSISTENT));
  if (!impl->gif || !impl->not_found || !impl->not_allowed)
    return Status(Code::unavailable, "cannot make the HTTP responses");
  MHD_add_response_header(impl->gif.get(), "Content-Type", "image/gif");
  MHD_add_response_header(impl->gif.get(), "Cache-Control", "no-store, max-age=0");
  MHD_add_response_header(impl->not_found.get(), "Content-Type", "text/plain");
  MHD_add_response_header(impl->not_allowed.get(), "Allow", "GET, HEAD");
  // A pool of event loops: no handler blocks (the recorder queues), so a
  // thread per connection would only add context switches.
  unsigned threads = options.threads;
  if (threads == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cores < 1 ? 1u : cores > 16 ? 16u : static_cast<unsigned>(cores);
  }
  impl->daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &Impl::handle,
      impl.get(), MHD_OPTION_LISTEN_SOCKET, options.listen_fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
      MHD_OPTION_CONNECTION_LIMIT, options.connection_limit, MHD_OPTION_CONNECTION_TIMEOUT, options.timeout_seconds,
      MHD_OPTION_END);
  if (!impl->daemon) return Status(Code::unavailable, "libmicrohttpd did not start");
  return std::unique_ptr<TrackServer>(new TrackServer(std::move(impl)));
}

}  // namespace migo
