#include "migo/domain.h"

#include <catch2/catch.hpp>

using namespace migo;

TEST_CASE("domains are normalised") {
  CHECK(*normalize_domain("Example.COM") == "example.com");
  CHECK(*normalize_domain("example.com.") == "example.com");
  CHECK(*normalize_domain("mail.example.co.uk") == "mail.example.co.uk");
  CHECK(*normalize_domain("bücher.example") == "xn--bcher-kva.example");
  CHECK(*normalize_domain("BÜCHER.example") == "xn--bcher-kva.example");
  CHECK(*normalize_domain("xn--bcher-kva.example") == "xn--bcher-kva.example");
}

TEST_CASE("malformed domains are refused") {
  for (const char* bad : {"", ".", "com", "example..com", ".example.com", "-a.example.com",
                          "a-.example.com", "exa mple.com", "exa_mple.com", "1.2.3.4",
                          "example.com..", "a@example.com", "example.com\n", "[127.0.0.1]"}) {
    INFO(bad);
    CHECK(normalize_domain(bad).status().code() == Code::invalid);
  }
  CHECK(normalize_domain(std::string(64, 'a') + ".com").status().code() == Code::invalid);
  std::string long_name;
  for (int i = 0; i < 50; i++) long_name += "abcd.";
  CHECK(normalize_domain(long_name + "com").ok());  // 253 characters: the maximum
  CHECK(normalize_domain(long_name + "comm").status().code() == Code::invalid);
}

TEST_CASE("domain_covers: exact, subdomains when included, never unverified") {
  Domain d{1, "example.com", false, true, 0, 0};
  CHECK(domain_covers(d, "example.com"));
  CHECK_FALSE(domain_covers(d, "mail.example.com"));
  d.include_subdomains = true;
  CHECK(domain_covers(d, "mail.example.com"));
  CHECK(domain_covers(d, "a.b.example.com"));
  CHECK_FALSE(domain_covers(d, "badexample.com"));
  CHECK_FALSE(domain_covers(d, "example.com.evil.org"));
  d.verified = false;
  CHECK_FALSE(domain_covers(d, "example.com"));
}
