// fresh_store.h — a newly created, initialised store in `dir` for a test.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "migo/store.h"

namespace migo::test {

inline std::unique_ptr<Store> fresh_store(const std::string& dir, int64_t now = 1700000000, StoreOptions opt = {}) {
  opt.create = true;
  auto s = Store::open(dir, opt);
  REQUIRE(s.ok());
  REQUIRE((*s)->init_schema(now).ok());
  return std::move(*s);
}

}  // namespace migo::test
