#include "auxprop.h"

#include <catch2/catch.hpp>

using namespace migo;

TEST_CASE("a store that cannot be opened is unavailable, not unknown") {
  AuxpropPlugin p("/nonexistent/migo");
  CHECK_FALSE(p.open().ok());
  migo::Verifiers v;
  std::string error;
  CHECK(p.find("smtpuser_abc", "", &v, &error) == AuxpropPlugin::Outcome::unavailable);
  CHECK_THAT(error, Catch::Contains("no migo store"));
  CHECK(p.find("not-an-account", "", &v, &error) == AuxpropPlugin::Outcome::malformed);
}
