// auxprop.cc — see auxprop.h.
#include "auxprop.h"

#include "migo/credentials.h"

namespace migo {

Status AuxpropPlugin::open() {
  std::lock_guard lock(open_mu_);
  if (store_) return {};
  StoreOptions options;
  options.read_only = true;
  auto s = Store::open(path_, options);
  if (!s.ok()) {
    open_error_ = s.status();
    return open_error_;
  }
  store_ = std::move(*s);
  return {};
}

AuxpropPlugin::Outcome AuxpropPlugin::find(std::string_view login, std::string_view user_realm, Verifiers* out,
                                           std::string* error) {
  auto name = account_name_of_login(login, user_realm);
  if (!name) return Outcome::malformed;
  std::shared_ptr<Store> store;
  {
    std::lock_guard lock(open_mu_);
    store = store_;
  }
  if (!store) {
    // Opening failed at init. Try again: outside a chroot it may work now
    // (the store was created after smtpd started); inside, it fails again
    // and we report why.
    if (Status s = open(); !s.ok()) {
      *error = s.message();
      return geteuid() != opened_as_ ? Outcome::stranded : Outcome::unavailable;
    }
    std::lock_guard lock(open_mu_);
    store = store_;
  }
  Outcome outcome = Outcome::unavailable;
  Status s = store->read([&](const ReadTxn& t) -> Status {
    auto a = t.account_by_username(*name);
    if (!a.ok()) {
      if (a.status().code() != Code::not_found) return a.status();
      outcome = Outcome::unknown;
      return {};
    }
    if (a->status != AccountStatus::active) {
      outcome = Outcome::disabled;
      return {};
    }
    out->plain = a->plain_verifier;
    out->scram = a->scram_verifier;
    // libsasl reads the PLAIN verifier as 33 bytes without looking: a short
    // one would be read past its end inside smtpd.
    if (!verifiers_well_formed(*out)) {
      out->plain.clear();
      out->scram.clear();
      return {Code::corrupt, "account " + *name + " has damaged verifiers"};
    }
    outcome = Outcome::found;
    return {};
  });
  if (!s.ok()) {
    *error = s.message();
    return Outcome::unavailable;
  }
  return outcome;
}

}  // namespace migo
