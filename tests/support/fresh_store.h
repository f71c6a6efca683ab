// fresh_store.h — a newly created, initialised store in `dir` for a test.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>

#include "migo/store.h"
#include "temp_dir.h"

namespace migo::test {

inline std::unique_ptr<Store> fresh_store(const std::string& dir, int64_t now = 1700000000, StoreOptions opt = {}) {
  opt.create = true;
  auto s = Store::open(dir, opt);
  REQUIRE(s.ok());
  REQUIRE((*s)->init_schema(now).ok());
  return std::move(*s);
}

// A fresh store holding one account (workspace 9, smtpuser_acct), for the
// tests of the counting rules.
struct OneAccountStore {
  TempDir tmp;
  std::unique_ptr<Store> store;
  Account acct;
  explicit OneAccountStore(uint64_t id) {
    store = fresh_store(tmp.path(), 0);
    acct.id = id;
    acct.workspace_id = 9;
    acct.username = "smtpuser_acct";
    REQUIRE(store->write([&](WriteTxn& t) { return t.put(acct); }).ok());
  }
};

// What fn reads in one read transaction; the test stops if it cannot.
template <typename T>
T read_ok(const Store& store, const std::function<Result<T>(const ReadTxn&)>& fn) {
  T out{};
  Status s = store.read([&](const ReadTxn& t) {
    auto r = fn(t);
    if (r.ok()) out = std::move(*r);
    return r.status();
  });
  INFO(s.message());
  REQUIRE(s.ok());
  return out;
}

// What fn returns from one write transaction, committed; the test stops if it cannot.
template <typename T>
T write_ok(Store& store, const std::function<Result<T>(WriteTxn&)>& fn) {
  T out{};
  Status s = store.write([&](WriteTxn& t) {
    auto r = fn(t);
    if (r.ok()) out = std::move(*r);
    return r.status();
  });
  INFO(s.message());
  REQUIRE(s.ok());
  return out;
}

}  // namespace migo::test
