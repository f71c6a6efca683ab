// plugin.cc — libsasl2's entry point for the migo auxprop plugin (libmigo.so).
//
// libsasl dlopens every *.so in its plugin directory for every SASL server
// program on the host, so this plugin does nothing — and says nothing — unless
// it is configured: `auxprop_plugin: migo` or a `migo_db` option. Postfix's
// smtpd calls the init below as root, before its chroot; the store is opened
// then and keeps working in the jail. Nothing here throws into libsasl: every
// callback is noexcept and turns a failure into a SASL code.
#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <strings.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "auxprop.h"
#include "migo/loggable.h"

namespace {

using migo::AuxpropPlugin;

// What one init hands libsasl: the plug struct it keeps a pointer to, and our
// plugin (null when not configured). glob_context points back here, and
// auxprop_free (at sasl_done) deletes it.
struct Instance {
  sasl_auxprop_plug_t plug;
  std::unique_ptr<AuxpropPlugin> plugin;
};

// Options come from smtpd.conf (or a SASL_CB_GETOPT callback).
std::string option(const sasl_utils_t* utils, const char* key) {
  const char* val = nullptr;
  unsigned len = 0;
  if (utils->getopt && utils->getopt(utils->getopt_context, migo::kPluginName, key, &val, &len) == SASL_OK && val)
    return std::string(val, len ? len : std::strlen(val));
  return {};
}

bool names_us(const std::string& plugin_list) {
  // auxprop_plugin takes a space- or comma-separated list.
  size_t start = 0;
  while (start < plugin_list.size()) {
    size_t end = plugin_list.find_first_of(" ,\t", start);
    if (end == std::string::npos) end = plugin_list.size();
    if (plugin_list.compare(start, end - start, migo::kPluginName) == 0) return true;
    start = end + 1;
  }
  return false;
}

void plugin_free(void* glob_context, const sasl_utils_t*) noexcept {
  delete static_cast<Instance*>(glob_context);
}

// Sets property `name` to `value`, replacing what is there (prop_set appends).
void set_prop(sasl_server_params_t* sp, const char* name, bool had_value, const std::string& value) {
  if (had_value) sp->utils->prop_erase(sp->propctx, name);
  sp->utils->prop_set(sp->propctx, name, value.data(), static_cast<int>(value.size()));
}

int plugin_lookup(void* glob_context, sasl_server_params_t* sp, unsigned flags, const char* user,
                  unsigned ulen) noexcept {
  if (!sp || !user) return SASL_BADPARAM;
  auto* instance = static_cast<Instance*>(glob_context);
  if (!instance || !instance->plugin) return SASL_OK;  // not configured: inert
  AuxpropPlugin* plugin = instance->plugin.get();
  // We hold no properties of an authorization identity.
  if (flags & SASL_AUXPROP_AUTHZID) return SASL_OK;
  try {
    const propval* props = sp->utils->prop_get(sp->propctx);
    if (!props) return SASL_NOMEM;
    const propval* plain = nullptr;
    const propval* scram = nullptr;
    bool requested = false;
    for (const propval* p = props; p->name; p++) {
      if (p->name[0] != '*') continue;  // authzid properties: not ours
      // A property that already has a value is left alone unless asked to override.
      if (p->values && !(flags & SASL_AUXPROP_OVERRIDE)) continue;
      requested = true;
      if (strcasecmp(p->name + 1, "cmusaslsecretPLAIN") == 0) plain = p;
      if (strcasecmp(p->name + 1, "authPassword") == 0) scram = p;
    }
    // libsasl calls us several times per AUTH, the first times asking for
    // nothing; an error then would abort the AUTH.
    if (!requested) return SASL_OK;

    std::string_view login(user, ulen);
    std::string_view realm = sp->user_realm ? sp->user_realm : "";
    migo::Verifiers v;
    std::string error;
    // Refusals are logged at SASL_LOG_FAIL, which Postfix writes as
    // "warning: SASL authentication failure: ..." (it drops NOTE unless
    // verbose); store trouble at SASL_LOG_ERR.
    switch (plugin->find(login, realm, &v, &error)) {
      case AuxpropPlugin::Outcome::found:
        if (plain) set_prop(sp, plain->name, plain->values != nullptr, v.plain);
        if (scram) set_prop(sp, scram->name, scram->values != nullptr, v.scram);
        return SASL_OK;
      case AuxpropPlugin::Outcome::unknown:
        sp->utils->log(sp->utils->conn, SASL_LOG_FAIL, "migo: unknown SMTP account %s",
                       migo::loggable_login(login).c_str());
        return SASL_NOUSER;
      case AuxpropPlugin::Outcome::disabled:
        sp->utils->log(sp->utils->conn, SASL_LOG_FAIL, "migo: SMTP account %s is disabled",
                       migo::loggable_login(login).c_str());
        return SASL_NOUSER;
      case AuxpropPlugin::Outcome::malformed:
        sp->utils->log(sp->utils->conn, SASL_LOG_FAIL, "migo: login %s is not an SMTP account name",
                       migo::loggable_login(login).c_str());
        return SASL_NOUSER;
      case AuxpropPlugin::Outcome::unavailable:
        sp->utils->log(sp->utils->conn, SASL_LOG_ERR, "migo: store %s unavailable for %s: %s",
                       plugin->path().c_str(), migo::loggable_login(login).c_str(), error.c_str());
        return SASL_UNAVAIL;
      case AuxpropPlugin::Outcome::stranded:
        // This smtpd started while the store was missing (a restore, a late
        // mount) and, unprivileged and chrooted now, can never open it: a
        // 454 would follow for its whole life (100 sessions or more). Ending
        // the process lets Postfix's master start a fresh smtpd, which opens
        // the store as root once it is back. The client sees the connection
        // close during AUTH, which every SMTP client treats as a temporary
        // failure — fail closed, as a 454 is — and its retry is served.
        sp->utils->log(sp->utils->conn, SASL_LOG_ERR,
                       "migo: store %s was not there when this process started and cannot be opened "
                       "without privileges (%s); ending the process so that a new one opens it",
                       plugin->path().c_str(), error.c_str());
        std::exit(0);
    }
    return SASL_FAIL;
  } catch (...) {
    return SASL_FAIL;
  }
}

sasl_auxprop_plug_t plugin_template = {
    0,              // features
    0,              // spare_int1
    nullptr,        // glob_context (set per init)
    plugin_free,    // auxprop_free
    plugin_lookup,  // auxprop_lookup
    const_cast<char*>(migo::kPluginName),
    nullptr,  // auxprop_store: accounts change only through migoctl
};

// canon_user: libsasl's INTERNAL canonicalizer trims blanks and cuts a
// LOGIN name at its first NUL (the LOGIN mechanism copies it with strncpy),
// so "smtpuser_x\0junk" would authenticate as smtpuser_x, and an empty or
// blank name fails as SASL_FAIL, which Postfix answers 454 (clients retry
// a permanent error). With `canon_user_plugin: migo` libsasl hands us the
// name as the client sent it, length and all: a name no account can have
// (empty, control bytes, blanks, NUL) is NOUSER (535) here; any other is
// passed on unchanged, with the realm appended as INTERNAL would.
int canon_server(void*, sasl_server_params_t* sp, const char* in, unsigned inlen, unsigned, char* out,
                 unsigned out_max, unsigned* out_len) noexcept {
  if (!sp || !in || !out || !out_len) return SASL_BADPARAM;
  std::string_view name(in, inlen);
  if (!migo::is_acceptable_login_bytes(name)) {
    sp->utils->seterror(sp->utils->conn, 0, "login is not an SMTP account name");
    sp->utils->log(sp->utils->conn, SASL_LOG_FAIL, "migo: login %s is not an SMTP account name",
                   migo::loggable_login(name).c_str());
    return SASL_NOUSER;
  }
  std::string_view realm = sp->user_realm ? sp->user_realm : "";
  bool add_realm = !realm.empty() && name.find('@') == std::string_view::npos;
  size_t need = name.size() + (add_realm ? 1 + realm.size() : 0);
  if (need >= out_max) return SASL_BUFOVER;
  std::memmove(out, name.data(), name.size());  // out may be in
  if (add_realm) {
    out[name.size()] = '@';
    std::memcpy(out + name.size() + 1, realm.data(), realm.size());
  }
  out[need] = '\0';
  *out_len = static_cast<unsigned>(need);
  return SASL_OK;
}

int canon_client(void*, sasl_client_params_t*, const char*, unsigned, unsigned, char*, unsigned,
                 unsigned*) noexcept {
  return SASL_BADPARAM;  // we serve; we are never a client
}

sasl_canonuser_plug_t canon_template = {
    0,        // features
    0,        // spare_int1
    nullptr,  // glob_context
    const_cast<char*>(migo::kPluginName),
    nullptr,  // canon_user_free
    canon_server,
    canon_client,
    nullptr, nullptr, nullptr,  // spare
};

}  // namespace

// libsasl asks every plugin file for this too; the plugin is used only where
// smtpd.conf says `canon_user_plugin: migo`, and is inert everywhere else.
extern "C" __attribute__((visibility("default"))) int sasl_canonuser_init(const sasl_utils_t*, int max_version,
                                                                         int* out_version,
                                                                         sasl_canonuser_plug_t** plug,
                                                                         const char*) noexcept {
  if (!out_version || !plug) return SASL_BADPARAM;
  if (max_version < SASL_CANONUSER_PLUG_VERSION) return SASL_BADVERS;
  *out_version = SASL_CANONUSER_PLUG_VERSION;
  *plug = &canon_template;
  return SASL_OK;
}

extern "C" __attribute__((visibility("default"))) int sasl_auxprop_plug_init(const sasl_utils_t* utils,
                                                                            int max_version, int* out_version,
                                                                            sasl_auxprop_plug_t** plug,
                                                                            const char* /*plugname*/) noexcept {
  if (!out_version || !plug) return SASL_BADPARAM;
  if (max_version < SASL_AUXPROP_PLUG_VERSION) return SASL_BADVERS;
  try {
    // One instance per init: libsasl may initialise us more than once
    // (sasl_server_init after sasl_done), each with its own context.
    auto instance = std::make_unique<Instance>();
    instance->plug = plugin_template;
    instance->plug.glob_context = instance.get();
    std::string db = option(utils, migo::kOptionStore);
    bool configured = !db.empty() || names_us(option(utils, migo::kOptionAuxprop));
    if (configured) {
      if (db.empty()) db = migo::kDefaultStore;
      instance->plugin = std::make_unique<AuxpropPlugin>(db);
    }
    AuxpropPlugin* plugin = instance->plugin.get();
    *out_version = SASL_AUXPROP_PLUG_VERSION;
    *plug = &instance.release()->plug;
    if (!plugin) return SASL_OK;  // inert
    if (migo::Status s = plugin->open(); !s.ok()) {
      // Stay loaded: every AUTH then fails temporarily (454) and says why,
      // instead of libsasl silently having no auxprop plugin at all.
      utils->log(nullptr, SASL_LOG_ERR, "migo: cannot open store %s: %s; AUTH will fail temporarily",
                 db.c_str(), s.message().c_str());
    }
    return SASL_OK;
  } catch (...) {
    return SASL_FAIL;
  }
}
