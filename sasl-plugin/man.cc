// man.cc — writes migo-sasl(5), the page of the SASL plugin's options in
// Postfix's sasl/smtpd.conf. The plugin is a library libsasl loads, with no
// --man of its own; this build-time program renders its page with the
// daemons' renderer (common/options.h), under the option names plugin.cc
// reads (auxprop.h). Not installed.
#include <iostream>
#include <string>

#include "../common/options.h"
#include "auxprop.h"

int main() {
  using migo::ConfigKey;
  const std::string store = migo::kOptionStore, auxprop = migo::kOptionAuxprop;
  const migo::ConfigFileDoc doc = {
      "migo-sasl",
      "/etc/postfix/sasl/smtpd.conf",
      "the migo SASL plugin's options in Postfix's smtpd.conf",
      "libmigo.so is a Cyrus SASL auxprop plugin in libsasl2's plugin\n"
      "directory (/usr/lib/<multiarch>/sasl2). It answers smtpd's AUTH\n"
      "questions from the migo store: the verifiers of smtpuser_ accounts,\n"
      "never a password (there is none to give). Unknown and disabled\n"
      "accounts and wrong passwords are 535 5.7.8; a store that cannot answer\n"
      "is 454 4.7.0, never a success. Disable, enable and password reset take\n"
      "effect on the next AUTH, with no reload.\n"
      "\n"
      "libsasl loads every plugin in its directory into every SASL server on\n"
      "the host, so the plugin does nothing unless a program's configuration\n"
      "names it (" + auxprop + ": migo) or gives " + store + ".\n"
      "\n"
      "Postfix's smtpd reads smtpd.conf from cyrus_sasl_config_path (the role\n"
      "sets it) with smtpd_sasl_path = smtpd. Lines are key: value. smtpd\n"
      "initialises SASL as root, before its chroot: the plugin opens the\n"
      "store read-only then, and keeps using it chrooted as postfix.\n",
      {
          {"pwcheck_method", "auxprop", "", "libsasl's: check passwords against auxprop plugins' properties.", nullptr},
          {auxprop, "migo", "", "libsasl's: the auxprop plugins to ask; naming migo turns the plugin on.", nullptr},
          {"canon_user_plugin", "migo", "",
           "libsasl's: the plugin that canonicalises login names. migo keeps a\n"
           "name exactly as the client sent it, where libsasl's own would cut\n"
           "\"name\\0junk\" at the NUL.",
           nullptr},
          {"mech_list", "MECHANISMS", "",
           "libsasl's: the mechanisms offered. PLAIN and LOGIN are what most\n"
           "libraries speak; SCRAM-SHA-256 never sends the password.",
           nullptr},
          {store, "PATH", migo::kDefaultStore, "The migo store (the directory of data.mdb).", nullptr},
      },
      "migoctl(8), migo-policyd(8), SASL_README (Postfix), /usr/share/doc/migo-relay/",
      ": ",
      "pwcheck_method: auxprop\n"
      "auxprop_plugin: migo\n"
      "canon_user_plugin: migo\n"
      "mech_list: PLAIN LOGIN SCRAM-SHA-256\n"
      "migo_db: /var/lib/migo\n",
  };
  std::cout << migo::config_man_page(doc);
  return 0;
}
