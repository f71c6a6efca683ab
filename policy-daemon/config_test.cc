// config_test.cc — policyd.conf: its keys, the defaults its page states,
// and the refusal to fail open.
#include <catch2/catch.hpp>
#include <fstream>

#include "daemon.h"
#include "temp_dir.h"

using namespace migo;

TEST_CASE("policyd.conf: every key is read, and the page states the code's defaults") {
  test::TempDir dir;
  std::ofstream(dir / "policyd.conf") << "unauthenticated_action = REJECT no\ntempfail_action = 450 4.3.0 later\n"
                                         "sasl_realm = example.com\nidle_timeout = 7\nrequest_timeout = 3\n"
                                         "max_connections = 9\ncounters = redis://u:pw@10.0.0.1:6379\n"
                                         "counters = redis://u:pw@10.0.0.2:6379\ncounters_timeout = 250\n"
                                         "relay_name = relay-1\n";
  PolicyConfig c;
  ServerOptions o;
  REQUIRE(read_policy_config(dir / "policyd.conf", &c, &o).ok());
  CHECK(c.unauthenticated_action == "REJECT no");
  CHECK(c.tempfail_action == "450 4.3.0 later");
  CHECK(c.sasl_realm == "example.com");
  CHECK(o.idle_timeout == 7);
  CHECK(o.request_timeout == 3);
  CHECK(o.max_connections == 9);
  // counters repeats for a Cluster's seeds; lmdb (the default) clears them.
  CHECK(o.counters == std::vector<std::string>{"redis://u:pw@10.0.0.1:6379", "redis://u:pw@10.0.0.2:6379"});
  CHECK(o.counters_timeout_ms == 250);
  CHECK(o.relay_name == "relay-1");
  std::ofstream(dir / "lmdb.conf") << "counters = redis://h:1\ncounters = lmdb\n";
  REQUIRE(read_policy_config(dir / "lmdb.conf", &c, &o).ok());
  CHECK(o.counters.empty());

  const ConfigFileDoc& doc = policy_config_doc();
  REQUIRE(doc.keys.size() == 9);
  for (const ConfigKey& k : doc.keys) {
    if (k.name == "unauthenticated_action") CHECK(k.fallback == PolicyConfig{}.unauthenticated_action);
    if (k.name == "idle_timeout") CHECK(k.fallback == std::to_string(ServerOptions{}.idle_timeout));
    if (k.name == "max_connections") CHECK(k.fallback == std::to_string(ServerOptions{}.max_connections));
    if (k.name == "counters_timeout") CHECK(k.fallback == std::to_string(ServerOptions{}.counters_timeout_ms));
  }
}

TEST_CASE("policyd.conf: failing open and nonsense values are refused") {
  test::TempDir dir;
  PolicyConfig c;
  ServerOptions o;
  for (const char* line : {"tempfail_action = DUNNO", "tempfail_action = 250 ok", "idle_timeout = 0",
                           "request_timeout = -1", "max_connections = many", "unauthenticated_action =",
                           "counters = redis", "counters = http://h:1", "counters = redis://u:@h:1",
                           "counters_timeout = 0", "relay_name = a/b", "relay_name = {w1}"}) {
    std::ofstream(dir / "p.conf") << line << "\n";
    INFO(line);
    CHECK(read_policy_config(dir / "p.conf", &c, &o).code() == Code::invalid);
  }
  CHECK(c.tempfail_action == PolicyConfig{}.tempfail_action);
  // A refused URL is not repeated: it may hold a password.
  std::ofstream(dir / "p.conf") << "counters = redis://u:secret@h\n";
  Status s = read_policy_config(dir / "p.conf", &c, &o);
  CHECK(s.code() == Code::invalid);
  CHECK(s.message().find("secret") == std::string::npos);
}
