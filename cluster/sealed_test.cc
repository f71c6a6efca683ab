// sealed_test.cc — DKIM keys sealed for the other relays: they open with the
// same key and name only, and every damaged form is refused.
#include "sealed.h"

#include <catch2/catch.hpp>

using namespace migo;

TEST_CASE("a sealed key opens with its seal key and name only") {
  Secret key(std::string(32, 'k')), other(std::string(32, 'o'));
  Secret pem(std::string("-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n"));
  auto sealed = seal_secret(key, "example.com/m202612abc", pem);
  REQUIRE(sealed.ok());
  CHECK(sealed->find("BEGIN") == std::string::npos);
  auto opened = open_sealed(key, "example.com/m202612abc", *sealed);
  REQUIRE(opened.ok());
  CHECK(opened->reveal() == pem.reveal());
  // Two seals of the same key differ (a fresh nonce each time).
  CHECK(*seal_secret(key, "example.com/m202612abc", pem) != *sealed);
  CHECK(open_sealed(other, "example.com/m202612abc", *sealed).status().code() == Code::corrupt);
  CHECK(open_sealed(key, "evil.example/m202612abc", *sealed).status().code() == Code::corrupt);
  for (size_t i = 0; i < sealed->size(); i++) {
    std::string bad = *sealed;
    bad[i] = static_cast<char>(bad[i] ^ 1);
    INFO(i);
    CHECK(open_sealed(key, "example.com/m202612abc", bad).status().code() == Code::corrupt);
  }
  for (size_t cut = 0; cut < sealed->size(); cut++)
    CHECK_FALSE(open_sealed(key, "example.com/m202612abc", sealed->substr(0, cut)).ok());
  CHECK(seal_secret(Secret(std::string(16, 'k')), "x/y", pem).status().code() == Code::invalid);
}
