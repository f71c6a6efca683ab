// auth_bench — password verifications per second through the real libsasl2
// (sasl_checkpass, as smtpd's PLAIN/LOGIN do), with whatever auxprop plugin
// the options name. bench/run.sh runs it for libmigo.so and for libsasl's
// own sasldb in the same run.
//   auth_bench --plugin-dir DIR --option K=V... --user U --password P
//              [--seconds S] [--label NAME]
// Prints one line: "<label> <verifications/s> verifications/s (<n> in <s> s)".
#include <sasl/sasl.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "sasl_session.h"

int main(int argc, char** argv) {
  migo::test::SaslConfig config;
  std::string user, pass, label = "auth";
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--plugin-dir") config.plugin_path = v;
    else if (k == "--user") user = v;
    else if (k == "--password") pass = v;
    else if (k == "--seconds") seconds = std::stod(v);
    else if (k == "--label") label = v;
    else if (k == "--option" && v.find('=') != std::string::npos)
      config.options[v.substr(0, v.find('='))] = v.substr(v.find('=') + 1);
    else {
      std::cerr << "auth_bench: bad argument " << k << "\n";
      return 2;
    }
  }
  if (migo::test::sasl_init_server(config) != SASL_OK) {
    std::cerr << "auth_bench: sasl_server_init failed\n";
    return 1;
  }
  // Correctness first: a benchmark of failures measures nothing.
  int rc = migo::test::sasl_check(user, pass);
  if (rc != SASL_OK) {
    std::cerr << "auth_bench: " << label << ": good password gives " << migo::test::sasl_code(rc) << "\n";
    return 1;
  }
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  long n = 0;
  while (clock::now() < deadline) {
    for (int i = 0; i < 100; i++) {
      if (migo::test::sasl_check(user, pass) != SASL_OK) {
        std::cerr << "auth_bench: verification failed mid-run\n";
        return 1;
      }
    }
    n += 100;
  }
  double elapsed = std::chrono::duration<double>(clock::now() - start).count();
  std::printf("%-8s %9.0f verifications/s (%ld in %.1f s)\n", label.c_str(), static_cast<double>(n) / elapsed, n,
              elapsed);
  migo::test::sasl_finish();
  return 0;
}
