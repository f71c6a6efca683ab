#include "auxprop.h"

#include <catch2/catch.hpp>

using namespace migo;

TEST_CASE("logins map to account names deliberately") {
  CHECK(*account_name_of_login("smtpuser_abc123", "") == "smtpuser_abc123");
  CHECK(*account_name_of_login("smtpuser_abc123@relay.example", "relay.example") == "smtpuser_abc123");
  CHECK_FALSE(account_name_of_login("smtpuser_abc123@other.example", "relay.example"));
  CHECK_FALSE(account_name_of_login("smtpuser_abc123@example.com", ""));
  CHECK_FALSE(account_name_of_login("SMTPUSER_ABC", ""));
  CHECK_FALSE(account_name_of_login("root", ""));
  CHECK_FALSE(account_name_of_login("", ""));
  CHECK_FALSE(account_name_of_login(std::string_view("smtpuser_a\0b", 12), ""));
}

TEST_CASE("hostile logins never reach a log line") {
  CHECK(loggable_login("smtpuser_abc") == "smtpuser_abc");
  CHECK(loggable_login("smtpuser_abc@x.org") == "smtpuser_abc@(5 bytes)");
  CHECK(loggable_login("evil\nFake log line") == "(malformed login, 18 bytes)");
}

TEST_CASE("a store that cannot be opened is unavailable, not unknown") {
  AuxpropPlugin p("/nonexistent/migo");
  CHECK_FALSE(p.open().ok());
  AuxpropPlugin::Verifiers v;
  std::string error;
  CHECK(p.find("smtpuser_abc", "", &v, &error) == AuxpropPlugin::Outcome::unavailable);
  CHECK_THAT(error, Catch::Contains("no migo store"));
  CHECK(p.find("not-an-account", "", &v, &error) == AuxpropPlugin::Outcome::malformed);
}
