// verification_test.cc — judging DNS answers for a domain's token: only
// this workspace's exact token counts; everything else says what to fix.
#include <catch2/catch.hpp>

#include "verification.h"

using namespace migo;

namespace {
Domain domain(const std::string& token) {
  return Domain{.workspace_id = 7, .name = "example.com", .added = 1700000000, .token = token};
}
TxtAnswer records(std::vector<std::string> r) { return {TxtAnswer::Kind::records, std::move(r)}; }
}  // namespace

TEST_CASE("tokens are 32 random lowercase letters and digits") {
  auto a = new_verification_token(), b = new_verification_token();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->size() == 32);
  CHECK(*a != *b);
  CHECK(a->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") == std::string::npos);
}

TEST_CASE("only the exact token proves ownership") {
  Domain d = domain("tok123");
  CHECK(judge_verification(d, records({"v=spf1 -all", "migo-verify=tok123"})).ok);
  CHECK_FALSE(judge_verification(d, {TxtAnswer::Kind::no_such_name, {}}).ok);
  CHECK_THAT(judge_verification(d, {TxtAnswer::Kind::no_such_name, {}}).detail,
             Catch::Contains("no DNS name _migo-verify.example.com"));
  CHECK_FALSE(judge_verification(d, {TxtAnswer::Kind::no_records, {}}).ok);
  auto other = judge_verification(d, records({"migo-verify=someoneelse"}));
  CHECK_FALSE(other.ok);
  CHECK_THAT(other.detail, Catch::Contains("not this workspace's"));
  for (const char* near : {"migo-verify=tok1234", "migo-verify=TOK123", " migo-verify=tok123", "migo-verify=tok123 ",
                           "migo-verify = tok123", "tok123", "migo-verify=tok12"}) {
    INFO(near);
    CHECK_FALSE(judge_verification(d, records({near})).ok);
  }
  CHECK_FALSE(judge_verification(d, records({std::string("migo-verify=tok123\0", 19)})).ok);
  // A domain from before DNS proof has no token: nothing proves it.
  CHECK_FALSE(judge_verification(domain(""), records({"migo-verify="})).ok);
}

TEST_CASE("records to publish") {
  auto r = records_to_publish(domain("tok123"), {"relay.example.net", "a:relay.example.net"});
  REQUIRE(r.size() >= 2);
  CHECK(r[0].type == "TXT");
  CHECK(r[0].name == "_migo-verify.example.com");
  CHECK(r[0].value == "migo-verify=tok123");
  CHECK(r[0].purpose == "verification");
  CHECK(r[0].required);
  CHECK(r.back().purpose == "dmarc");
  bool mx = false, spf = false;
  for (const DnsRecord& x : r) {
    if (x.type == "MX" && x.name == "bounce.example.com" && x.value == "10 relay.example.net.") mx = true;
    if (x.purpose == "spf" && x.name == "bounce.example.com" && x.value == "v=spf1 a:relay.example.net -all") spf = true;
  }
  CHECK(mx);
  CHECK(spf);
  CHECK_FALSE(r.back().required);
}

TEST_CASE("a DKIM key is published only with its own p= and k=") {
  DkimKey rsa{"s1", "UlNB", DkimKeyState::active, 1, 1};
  DkimKey ed{"s2", "RUQ=", DkimKeyState::active, 1, 1, DkimAlgorithm::ed25519_sha256};
  auto published = [](std::vector<std::string> records, const DkimKey& k) {
    TxtAnswer a;
    a.records = std::move(records);
    return dkim_published(a, k);
  };
  CHECK(published({"v=DKIM1; k=rsa; p=UlNB"}, rsa));
  CHECK(published({"v=DKIM1; p=UlNB"}, rsa));  // k= defaults to rsa
  CHECK(published({"other", "v=DKIM1; k=ed25519; p=RUQ="}, ed));
  CHECK_FALSE(published({"v=DKIM1; p=RUQ="}, ed));  // read as RSA by verifiers
  CHECK_FALSE(published({"v=DKIM1; k=rsa; p=RUQ="}, ed));
  CHECK_FALSE(published({"v=DKIM1; k=ed25519; p=UlNB"}, rsa));
  CHECK_FALSE(published({"v=DKIM1; k=rsa; p="}, rsa));
  CHECK_FALSE(published({}, rsa));
  // Records to publish carry each key's own k=.
  Domain d = domain("tok");
  d.dkim = {rsa, ed};
  int dkim = 0;
  for (const DnsRecord& x : records_to_publish(d, {"relay.example.net", "a:relay.example.net"}))
    if (x.purpose == "dkim") {
      dkim++;
      CHECK(x.value == (x.name == "s1._domainkey.example.com" ? "v=DKIM1; k=rsa; p=UlNB" : "v=DKIM1; k=ed25519; p=RUQ="));
    }
  CHECK(dkim == 2);
}

TEST_CASE("SPF: the record among TXT records, and a mechanism as a term of its own") {
  TxtAnswer a{TxtAnswer::Kind::records, {"google-site-verification=x", "v=spf1 include:_spf.relay.test -all"}};
  CHECK(spf_record(a) == "v=spf1 include:_spf.relay.test -all");
  CHECK(spf_record({TxtAnswer::Kind::records, {"v=DMARC1; p=none"}}).empty());
  CHECK(spf_names(spf_record(a), "include:_spf.relay.test"));
  CHECK_FALSE(spf_names(spf_record(a), "include:_spf.relay"));       // a prefix is not the term
  CHECK_FALSE(spf_names(spf_record(a), "include:_spf.relay.test.x"));
  CHECK_FALSE(spf_names("", "a:relay.test"));
}
