// sasl_session.h — drive the real libsasl2 in-process, as Postfix's smtpd
// does: one sasl_server_init per process with our options, then PLAIN,
// LOGIN, SCRAM-SHA-256 (against libsasl's own client) or sasl_checkpass.
// Shared by the plugin tests, the sasl_check driver and the benchmark.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace migo::test {

struct SaslConfig {
  std::string plugin_path;  // searched before the system plugin directory
  std::map<std::string, std::string> options;  // what smtpd.conf would say
  // Receives every message libsasl and the plugins log (level, text).
  std::function<void(int, const std::string&)> log;
};

// sasl_server_init with `config`; returns libsasl's code. Once per process.
int sasl_init_server(const SaslConfig& config);
void sasl_finish();

// Each returns libsasl's final code for one complete authentication.
int sasl_check(const std::string& user, const std::string& pass, const std::string& realm = "");
int sasl_plain(const std::string& user, const std::string& pass, const std::string& realm = "");
int sasl_login(const std::string& user, const std::string& pass, const std::string& realm = "");
// A full SCRAM-SHA-256 exchange with libsasl's client. `server_proved`
// (optional) is set when the client accepted the server's signature.
int sasl_scram(const std::string& user, const std::string& pass, bool* server_proved = nullptr);

const char* sasl_code(int rc);

}  // namespace migo::test
