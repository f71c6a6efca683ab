// auxprop.h — the migo auxprop plugin's logic, apart from libsasl's C entry
// point (plugin.cc) so it can be tested on its own.
//
// libsasl asks an auxprop plugin for the properties of a user. For an
// smtpuser_ account we answer two: *cmusaslsecretPLAIN (libsasl checks PLAIN
// and LOGIN against it) and *authPassword (the SCRAM-SHA-256 verifier). We
// never answer *userPassword: there is no plaintext to give. Unknown and
// disabled accounts are SASL_NOUSER (Postfix: 535); a store that cannot answer
// is SASL_UNAVAIL (Postfix: 454), never a success.
//
// Thread-safety: one AuxpropPlugin serves every connection of the process;
// lookup() may run on several threads at once (the Store is thread-safe).
#pragma once

#include <unistd.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "migo/credentials.h"
#include "migo/store.h"

namespace migo {

inline constexpr const char* kPluginName = "migo";
inline constexpr const char* kDefaultStore = "/var/lib/migo";
// The options plugin.cc reads from Postfix's sasl/smtpd.conf; migo-sasl(5)
// (man.cc) documents them under the same names.
inline constexpr const char* kOptionStore = "migo_db";
inline constexpr const char* kOptionAuxprop = "auxprop_plugin";

class AuxpropPlugin {
 public:
  explicit AuxpropPlugin(std::string store_path) : path_(std::move(store_path)) {}

  // Opens the store now, before smtpd's chroot; see SCHEMA.md.
  Status open();
  const std::string& path() const { return path_; }

  // unavailable: the store cannot answer now (454). stranded: it could not
  // be opened when this process started, and the process has since given
  // up the privileges (and left the directory, by chroot) that opening it
  // takes: it can never answer, however long it waits.
  enum class Outcome { found, unknown, disabled, malformed, unavailable, stranded };
  // Looks the login up; `error` gets the reason for unavailable/stranded.
  Outcome find(std::string_view login, std::string_view user_realm, Verifiers* out, std::string* error);

 private:
  std::string path_;
  uid_t opened_as_ = geteuid();  // who made the plugin: smtpd's pre-jail init, as root
  std::mutex open_mu_;
  std::shared_ptr<Store> store_;
  Status open_error_;
};

}  // namespace migo
