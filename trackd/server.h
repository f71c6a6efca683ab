// server.h — migo-trackd's HTTP side, on libmicrohttpd, behind the web
// server that terminates TLS (nginx, on loopback):
//
//   GET /o/TOKEN  -> 200, a 1x1 transparent GIF, Cache-Control: no-store
//   GET /c/TOKEN  -> 302 to the exact URL inside the token
//   HEAD of either -> the same answer, and nothing counted
//   anything else  -> 404 (a token that does not verify), 405 (a method)
//
// A counted request hands its event to the recorder (recorder.h) and is
// answered at once; the event is committed a few milliseconds later with
// the others that arrived meanwhile. If the store cannot count it, the
// recipient still gets the image or the redirect — a link in someone's
// mail must keep working — and the failure is logged: what fails is a
// count, never a person's click.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "../common/daemon.h"
#include "recorder.h"
#include "token.h"

namespace migo {

struct TrackServerOptions {
  int listen_fd = -1;  // bound and listening (common/listener.h)
  unsigned connection_limit = 512;
  unsigned timeout_seconds = 30;
  unsigned threads = 0;  // libmicrohttpd's pool, each thread its own epoll (0: one per core)
  int64_t scanner_seconds = kScannerSeconds;
};

class TrackServer {
 public:
  // Takes the keys; replace_keys swaps them (SIGHUP: a rotated key file).
  static Result<std::unique_ptr<TrackServer>> start(const TrackServerOptions& options, TrackingKeys keys,
                                                    Recorder& recorder, DaemonLog& log);
  ~TrackServer();
  void replace_keys(TrackingKeys keys);

  struct Impl;

 private:
  explicit TrackServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The part of a request the server decides on, without libmicrohttpd.
struct TrackAnswer {
  int status = 404;
  std::string location;  // 302
  bool gif = false;      // 200
  bool count = false;    // an event to record
  TrackEvent event;
};
TrackAnswer answer(const TrackingKeys& keys, const std::string& method, const std::string& url,
                   const TrackRequest& request, int64_t scanner_seconds = kScannerSeconds);

}  // namespace migo
