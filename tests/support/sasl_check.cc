// sasl_check — one process, one sasl_server_init, one authentication: for
// the plugin's init-time behaviour (which needs a fresh process) and for
// trying a configuration by hand.
//   sasl_check --plugin-dir DIR [--option KEY=VALUE]... --mech PLAIN|LOGIN|SCRAM|checkpass
//              --user USER --password PASS
// Prints "result=SASL_…" on stdout and every SASL log message on stderr.
#include <sasl/sasl.h>

#include <cstring>
#include <iostream>
#include <string>

#include "sasl_session.h"

int main(int argc, char** argv) {
  migo::test::SaslConfig config;
  std::string mech = "PLAIN", user, pass;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--plugin-dir") config.plugin_path = v;
    else if (k == "--mech") mech = v;
    else if (k == "--user") user = v;
    else if (k == "--password") pass = v;
    else if (k == "--option" && v.find('=') != std::string::npos) config.options[v.substr(0, v.find('='))] = v.substr(v.find('=') + 1);
    else {
      std::cerr << "sasl_check: bad argument " << k << "\n";
      return 2;
    }
  }
  config.log = [](int level, const std::string& m) { std::cerr << "log[" << level << "]: " << m << "\n"; };
  int rc = migo::test::sasl_init_server(config);
  if (rc != SASL_OK) {
    std::cout << "init=" << migo::test::sasl_code(rc) << "\n";
    return 1;
  }
  if (mech == "PLAIN") rc = migo::test::sasl_plain(user, pass);
  else if (mech == "LOGIN") rc = migo::test::sasl_login(user, pass);
  else if (mech == "SCRAM") rc = migo::test::sasl_scram(user, pass);
  else rc = migo::test::sasl_check(user, pass);
  std::cout << "result=" << migo::test::sasl_code(rc) << "\n";
  migo::test::sasl_finish();
  return 0;
}
