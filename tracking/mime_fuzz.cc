// mime_fuzz.cc — libFuzzer target: any bytes as a message (the first blank
// line splits headers from body) must be tracked or left alone without a
// crash, a leak or undefined behaviour, and what comes out must be a body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t blank = in.find("\r\n\r\n");
  std::string headers = blank == std::string::npos ? in : in.substr(0, blank + 2);
  std::string body = blank == std::string::npos ? "" : in.substr(blank + 4);
  migo::MessageTracking t;
  t.html.click = [](const std::string& url, uint16_t i) -> std::optional<std::string> {
    if (url.empty()) __builtin_trap();
    return "https://t.example/c/T" + std::to_string(i);
  };
  t.html.pixel_url = "https://t.example/o/P";
  t.html.tracking_host = "t.example";
  t.plain_clicks = size % 2 == 0;
  auto r = migo::rewrite_message(headers, body, t);
  if (r.ok() && !r->changed && !r->body.empty()) __builtin_trap();
  return 0;
}
