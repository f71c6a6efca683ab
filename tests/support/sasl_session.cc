// sasl_session.cc — see sasl_session.h.
#include "sasl_session.h"

#include <sasl/sasl.h>

#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

namespace migo::test {
namespace {

// libsasl's callback table stores every callback as int (*)(void) and casts
// it back by id. The detour through void (*)() is the cast compilers accept
// as deliberately type-erasing.
template <typename Fn>
int (*sasl_proc(Fn* fn))() {
  return reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(fn));
}

SaslConfig g_config;
std::string g_path;

int getopt_cb(void*, const char*, const char* option, const char** result, unsigned* len) {
  auto it = g_config.options.find(option);
  if (it == g_config.options.end()) return SASL_FAIL;
  *result = it->second.c_str();
  if (len) *len = static_cast<unsigned>(it->second.size());
  return SASL_OK;
}

int log_cb(void*, int level, const char* message) {
  if (g_config.log) g_config.log(level, message ? message : "");
  return SASL_OK;
}

using ServerConn = std::unique_ptr<sasl_conn_t, void (*)(sasl_conn_t*)>;
void dispose(sasl_conn_t* c) { sasl_dispose(&c); }

ServerConn new_server(const std::string& realm) {
  sasl_conn_t* conn = nullptr;
  int rc = sasl_server_new("smtp", "mx.test", realm.empty() ? nullptr : realm.c_str(), nullptr, nullptr,
                           nullptr, 0, &conn);
  if (rc != SASL_OK) conn = nullptr;
  return ServerConn(conn, dispose);
}

}  // namespace

int sasl_init_server(const SaslConfig& config) {
  g_config = config;
  g_path = config.plugin_path + ":" SYSTEM_SASL_PLUGIN_DIR;
  sasl_set_path(SASL_PATH_TYPE_PLUGIN, g_path.data());
  static sasl_callback_t callbacks[] = {
      {SASL_CB_GETOPT, sasl_proc(getopt_cb), nullptr},
      {SASL_CB_LOG, sasl_proc(log_cb), nullptr},
      {SASL_CB_LIST_END, nullptr, nullptr},
  };
  int rc = sasl_server_init(callbacks, "smtpd");
  if (rc != SASL_OK) return rc;
  return sasl_client_init(nullptr);
}

void sasl_finish() { sasl_done(); }

int sasl_check(const std::string& user, const std::string& pass, const std::string& realm) {
  ServerConn c = new_server(realm);
  if (!c) return SASL_FAIL;
  return sasl_checkpass(c.get(), user.data(), static_cast<unsigned>(user.size()), pass.data(),
                        static_cast<unsigned>(pass.size()));
}

int sasl_plain(const std::string& user, const std::string& pass, const std::string& realm) {
  ServerConn c = new_server(realm);
  if (!c) return SASL_FAIL;
  std::string msg = std::string(1, '\0') + user + std::string(1, '\0') + pass;
  const char* out = nullptr;
  unsigned outlen = 0;
  return sasl_server_start(c.get(), "PLAIN", msg.data(), static_cast<unsigned>(msg.size()), &out, &outlen);
}

int sasl_login(const std::string& user, const std::string& pass, const std::string& realm) {
  ServerConn c = new_server(realm);
  if (!c) return SASL_FAIL;
  const char* out = nullptr;
  unsigned outlen = 0;
  int rc = sasl_server_start(c.get(), "LOGIN", nullptr, 0, &out, &outlen);
  if (rc != SASL_CONTINUE) return rc;
  rc = sasl_server_step(c.get(), user.data(), static_cast<unsigned>(user.size()), &out, &outlen);
  if (rc != SASL_CONTINUE) return rc;
  return sasl_server_step(c.get(), pass.data(), static_cast<unsigned>(pass.size()), &out, &outlen);
}

namespace {
struct ClientCreds {
  std::string user;
  std::vector<unsigned char> secret;  // a sasl_secret_t
};

int client_simple(void* ctx, int id, const char** result, unsigned* len) {
  auto* creds = static_cast<ClientCreds*>(ctx);
  if (id != SASL_CB_AUTHNAME && id != SASL_CB_USER) return SASL_BADPARAM;
  *result = id == SASL_CB_USER ? "" : creds->user.c_str();
  if (len) *len = static_cast<unsigned>(std::strlen(*result));
  return SASL_OK;
}

int client_pass(sasl_conn_t*, void* ctx, int id, sasl_secret_t** secret) {
  if (id != SASL_CB_PASS) return SASL_BADPARAM;
  *secret = reinterpret_cast<sasl_secret_t*>(static_cast<ClientCreds*>(ctx)->secret.data());
  return SASL_OK;
}
}  // namespace

int sasl_scram(const std::string& user, const std::string& pass, bool* server_proved) {
  if (server_proved) *server_proved = false;
  ClientCreds creds;
  creds.user = user;
  creds.secret.resize(sizeof(sasl_secret_t) + pass.size() + 1);
  auto* s = reinterpret_cast<sasl_secret_t*>(creds.secret.data());
  s->len = pass.size();
  std::memcpy(s->data, pass.data(), pass.size());
  sasl_callback_t cbs[] = {
      {SASL_CB_AUTHNAME, sasl_proc(client_simple), &creds},
      {SASL_CB_USER, sasl_proc(client_simple), &creds},
      {SASL_CB_PASS, sasl_proc(client_pass), &creds},
      {SASL_CB_LIST_END, nullptr, nullptr},
  };
  sasl_conn_t* client = nullptr;
  if (sasl_client_new("smtp", "mx.test", nullptr, nullptr, cbs, 0, &client) != SASL_OK) return SASL_FAIL;
  ServerConn cguard(client, dispose);
  ServerConn server = new_server("");
  if (!server) return SASL_FAIL;

  const char* cout = nullptr;
  unsigned coutlen = 0;
  const char* mech = nullptr;
  int crc = sasl_client_start(client, "SCRAM-SHA-256", nullptr, &cout, &coutlen, &mech);
  if (crc != SASL_CONTINUE && crc != SASL_OK) return crc;
  const char* sout = nullptr;
  unsigned soutlen = 0;
  int src = sasl_server_start(server.get(), "SCRAM-SHA-256", cout, coutlen, &sout, &soutlen);
  while (src == SASL_CONTINUE) {
    crc = sasl_client_step(client, sout, soutlen, nullptr, &cout, &coutlen);
    if (crc != SASL_CONTINUE && crc != SASL_OK) return crc;
    src = sasl_server_step(server.get(), cout, coutlen, &sout, &soutlen);
  }
  // Without SASL_SUCCESS_DATA the server sends its signature ("v=...") as
  // a last challenge; the client's step on it returns SASL_OK only if the
  // signature verifies (its earlier steps return SASL_CONTINUE).
  if (server_proved) *server_proved = src == SASL_OK && crc == SASL_OK;
  return src;
}

const char* sasl_code(int rc) {
  switch (rc) {
    case SASL_OK: return "SASL_OK";
    case SASL_CONTINUE: return "SASL_CONTINUE";
    case SASL_FAIL: return "SASL_FAIL";
    case SASL_NOMEM: return "SASL_NOMEM";
    case SASL_BADPARAM: return "SASL_BADPARAM";
    case SASL_NOMECH: return "SASL_NOMECH";
    case SASL_BADAUTH: return "SASL_BADAUTH";
    case SASL_NOUSER: return "SASL_NOUSER";
    case SASL_UNAVAIL: return "SASL_UNAVAIL";
    case SASL_TRYAGAIN: return "SASL_TRYAGAIN";
    case SASL_NOAUTHZ: return "SASL_NOAUTHZ";
    case SASL_BADPROT: return "SASL_BADPROT";
    case SASL_TOOWEAK: return "SASL_TOOWEAK";
    case SASL_ENCRYPT: return "SASL_ENCRYPT";
    case SASL_DISABLED: return "SASL_DISABLED";
    case SASL_EXPIRED: return "SASL_EXPIRED";
    case SASL_BADVERS: return "SASL_BADVERS";
    default: return "SASL_?";
  }
}

}  // namespace migo::test
