// domain_dns_test.cc — the real migoctl against a real DNS server on
// loopback (dnsmasq, started per scenario with the zone's records): a domain
// is verified only by its own workspace's token; a missing token lapses it
// after the grace and its return verifies it again; a DNS server that does
// not answer changes nothing; hostile answers move nothing.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "dns.h"
#include "ports.h"
#include "run.h"
#include "temp_dir.h"

using migo::test::RunResult;
using migo::test::TempDir;

namespace {

int free_udp_port() { return migo::test::free_port(SOCK_DGRAM); }

// dnsmasq answering for example.com (and other.example) from its command
// line only: no upstream, no /etc/hosts, nothing else.
struct Dns {
  pid_t pid = -1;
  std::string addr;
  explicit Dns(const std::vector<std::string>& txt) {
    int port = free_udp_port();
    addr = "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args = {"/usr/sbin/dnsmasq", "--keep-in-foreground", "--port=" + std::to_string(port),
                                     "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                                     "--conf-file=/dev/null", "--pid-file=", "--log-facility=/dev/null",
                                     "--local=/example.com/", "--local=/other.example/"};
    if (geteuid() == 0) args.insert(args.end(), {"--user=nobody", "--group=nogroup"});
    // "NAME,TEXT..." is a TXT record; an argument starting "--" is passed
    // as it is (e.g. --mx-host=NAME,HOST,PREF).
    for (const std::string& t : txt) args.push_back(t.rfind("--", 0) == 0 ? t : "--txt-record=" + t);
    pid = migo::test::spawn(args);
    REQUIRE(pid > 0);
    // Ready once it answers (NXDOMAIN for a name it has no records for).
    auto r = migo::Resolver::create(addr, 300);
    REQUIRE(r.ok());
    for (int i = 0; i < 50; i++)
      if ((*r)->txt("ready.example.com").ok()) return;
    FAIL("dnsmasq did not answer on " << addr);
  }
  ~Dns() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

struct Cli {
  TempDir tmp;
  std::string db = tmp / "db";
  std::string keys = tmp / "dkim";
  RunResult operator()(std::vector<std::string> args, const std::string& resolver = "") const {
    std::filesystem::create_directories(keys);
    args.insert(args.begin(), {MIGOCTL, "--db", db, "--dkim-keys", keys});
    if (!resolver.empty()) args.insert(args.begin() + 5, {"--resolver", resolver});
    return migo::test::run(args);
  }
  // The DKIM record `migoctl domain records` asks for, as dnsmasq's
  // --txt-record argument (character-strings of at most 250 bytes).
  // `selector`: that key's record; "" the first DKIM record.
  std::string dkim_txt(const std::string& ws, const std::string& domain, const std::string& selector = "") const {
    RunResult r = (*this)({"--json", "domain", "records", ws, domain});
    REQUIRE(r.rc == 0);
    RunResult py = migo::test::run(
        {"/usr/bin/python3", "-c",
         "import json,sys\n"
         "r=[r for r in json.load(sys.stdin)['records'] if r['purpose']=='dkim'\n"
         "   and r['name'].startswith(sys.argv[1])][0]\n"
         "v=r['value']\n"
         "print(r['name']+','+','.join(v[i:i+250] for i in range(0,len(v),250)))\n",
         selector.empty() ? "" : selector + "."},
        {}, r.out);
    REQUIRE(py.rc == 0);
    return py.out.substr(0, py.out.size() - 1);
  }
  void ok(std::vector<std::string> args) const {
    RunResult r = (*this)(args);
    INFO(r.err);
    REQUIRE(r.rc == 0);
  }
  std::string token(const std::string& ws, const std::string& domain) const {
    RunResult r = (*this)({"--json", "domain", "records", ws, domain});
    REQUIRE(r.rc == 0);
    std::string marker = "\"value\": \"migo-verify=";
    size_t at = r.out.find(marker);
    REQUIRE(at != std::string::npos);
    at += marker.size();
    return r.out.substr(at, r.out.find('"', at) - at);
  }
  std::string state(const std::string& ws) const { return (*this)({"domain", "list", ws}).out; }
  // A fresh store with workspace acme and example.com added. Returns the
  // token and the first DKIM key's record (dkim_txt).
  std::pair<std::string, std::string> acme_example() const {
    ok({"init"});
    ok({"workspace", "create", "acme", "--plan", "10k"});
    ok({"domain", "add", "acme", "example.com"});
    return {token("acme", "example.com"), dkim_txt("acme", "example.com")};
  }
  // The state of the DKIM key `selector` of the workspace's first domain.
  std::string key_state(const std::string& ws, const std::string& selector) const {
    RunResult r = (*this)({"--json", "domain", "list", ws});
    RunResult py = migo::test::run({"/usr/bin/python3", "-c",
                                    "import json,sys\n"
                                    "d=json.load(sys.stdin)['domains'][0]\n"
                                    "print([k['state'] for k in d['dkim'] if k['selector']==sys.argv[1]][0])\n",
                                    selector},
                                   {}, r.out);
    return py.out;
  }
};

// A loopback port where no DNS server listens.
std::string dead_resolver() { return "127.0.0.1:" + std::to_string(free_udp_port()); }

std::string txt(const std::string& token) { return "_migo-verify.example.com,migo-verify=" + token; }

}  // namespace

TEST_CASE("a domain is verified in DNS by its own workspace's token only") {
  Cli cli;
  cli.ok({"init"});
  cli.ok({"workspace", "create", "acme", "--plan", "10k"});
  cli.ok({"workspace", "create", "rival", "--plan", "10k"});
  RunResult added = cli({"domain", "add", "acme", "example.com"});
  REQUIRE(added.rc == 0);
  CHECK_THAT(added.out, Catch::Contains("TXT _migo-verify.example.com"));
  cli.ok({"domain", "add", "rival", "example.com"});
  const std::string mine = cli.token("acme", "example.com"), theirs = cli.token("rival", "example.com");
  REQUIRE(mine != theirs);

  {  // No DNS server at all: a temporary failure, nothing changes.
    RunResult r = cli({"domain", "verify", "acme", "example.com"}, dead_resolver());
    CHECK(r.rc == 75);
    CHECK_THAT(r.err, Catch::Contains("no DNS answer"));
  }
  {  // Nothing published.
    Dns dns({"_migo-verify.example.com,v=spf1 -all"});
    RunResult r = cli({"domain", "verify", "acme", "example.com"}, dns.addr);
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::Contains("no TXT record \"migo-verify=" + mine + "\" at _migo-verify.example.com"));
  }
  {  // The rival's token proves nothing for acme, and acme's nothing for the rival.
    Dns dns({txt(theirs)});
    RunResult r = cli({"domain", "verify", "acme", "example.com"}, dns.addr);
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::Contains("not this workspace's"));
    CHECK_THAT(cli.state("acme"), Catch::Contains("pending"));
  }
  {  // Hostile answers: near misses, a huge record, a hundred records.
    std::vector<std::string> records = {txt(mine + "x"), txt(" " + mine), "_migo-verify.example.com," + std::string(2000, 'A')};
    for (int i = 0; i < 100; i++) records.push_back(txt("junk" + std::to_string(i)));
    Dns dns(records);
    CHECK(cli({"domain", "verify", "acme", "example.com"}, dns.addr).rc == 1);
    CHECK_THAT(cli.state("acme"), Catch::Contains("pending"));
  }
  const std::string my_dkim = cli.dkim_txt("acme", "example.com"), their_dkim = cli.dkim_txt("rival", "example.com");
  {  // The token without the DKIM record: not yet, and it says what to publish.
    Dns dns({txt(mine)});
    RunResult r = cli({"domain", "verify", "acme", "example.com"}, dns.addr);
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::Contains("not published: TXT m"));
    CHECK_THAT(r.err, Catch::Contains("._domainkey.example.com must be \"v=DKIM1; k=rsa; p="));
    CHECK_THAT(cli.state("acme"), Catch::Contains("pending"));
  }
  {  // The rival's DKIM key under acme's selector name does not count.
    std::string forged = my_dkim.substr(0, my_dkim.find(',')) + their_dkim.substr(their_dkim.find(','));
    Dns dns({txt(mine), forged});
    CHECK(cli({"domain", "verify", "acme", "example.com"}, dns.addr).rc == 1);
  }
  {  // Published among other records: verified, its DKIM key active.
    Dns dns({"_migo-verify.example.com,v=spf1 -all", txt(mine), txt(theirs), my_dkim, their_dkim});
    RunResult r = cli({"--json", "domain", "verify", "acme", "example.com"}, dns.addr);
    INFO(r.err);
    CHECK(r.rc == 0);
    CHECK_THAT(r.out, Catch::Contains("\"verified_by\": \"dns\""));
    CHECK_THAT(cli.state("acme"), Catch::Contains("verified (dns)"));
    CHECK_THAT(cli.state("rival"), Catch::Contains("pending"));  // its own check not run yet
    // The recheck verifies the rival too (its token is published as well).
    RunResult rc = cli({"domain", "recheck"}, dns.addr);
    CHECK(rc.rc == 0);
    CHECK_THAT(cli.state("rival"), Catch::Contains("verified (dns)"));
  }
  {  // The token is removed: within the grace still verified; after it, lapsed.
    Dns dns({txt(theirs), my_dkim, their_dkim});
    CHECK(cli({"domain", "recheck"}, dns.addr).rc == 0);
    CHECK_THAT(cli.state("acme"), Catch::Contains("verified (dns)"));
    RunResult r = cli({"--json", "domain", "recheck", "--grace", "0"}, dns.addr);
    CHECK(r.rc == 0);
    CHECK_THAT(r.out, Catch::Contains("\"state\": \"lapsed\""));
    CHECK_THAT(cli.state("acme"), Catch::Contains("lapsed"));
    CHECK_THAT(cli.state("rival"), Catch::Contains("verified (dns)"));
    CHECK_THAT(cli({"audit", "acme"}).out, Catch::Contains("domain.lapse"));
  }
  {  // A DNS outage during the recheck lapses nothing and restores nothing.
    RunResult r = cli({"domain", "recheck", "--grace", "0"}, dead_resolver());
    CHECK(r.rc == 75);
    CHECK_THAT(cli.state("rival"), Catch::Contains("verified (dns)"));
    CHECK_THAT(cli.state("acme"), Catch::Contains("lapsed"));
  }
  {  // The token is back: verified again.
    Dns dns({txt(mine), txt(theirs), my_dkim, their_dkim});
    CHECK(cli({"domain", "recheck", "--grace", "0"}, dns.addr).rc == 0);
    CHECK_THAT(cli.state("acme"), Catch::Contains("verified (dns)"));
    CHECK_THAT(cli({"audit", "acme"}).out, Catch::Contains("(was lapsed)"));
  }
}

TEST_CASE("domain records: human, zone file and JSON") {
  Cli cli;
  cli.ok({"init"});
  cli.ok({"workspace", "create", "acme", "--plan", "10k"});
  cli.ok({"domain", "add", "acme", "Example.COM"});
  std::string tok = cli.token("acme", "example.com");
  RunResult zone = cli({"domain", "records", "acme", "example.com", "--zone"});
  CHECK(zone.rc == 0);
  CHECK_THAT(zone.out, Catch::Contains("_migo-verify.example.com. 3600 IN TXT \"migo-verify=" + tok + "\"\n"));
  CHECK_THAT(zone.out, Catch::Contains("; advice: _dmarc.example.com. 3600 IN TXT \"v=DMARC1;"));
  RunResult zone2 = cli({"--relay-host", "relay.example.net", "domain", "records", "acme", "example.com", "--zone"});
  CHECK_THAT(zone2.out, Catch::Contains("bounce.example.com. 3600 IN MX 10 relay.example.net.\n"));
  CHECK_THAT(zone2.out, Catch::Contains("bounce.example.com. 3600 IN TXT \"v=spf1 a:relay.example.net -all\"\n"));
  RunResult j = cli({"--json", "domain", "records", "acme", "example.com"});
  CHECK(j.rc == 0);
  RunResult shape = migo::test::run(
      {"/usr/bin/python3", "-c",
       "import json,sys\n"
       "d=json.load(sys.stdin)\n"
       "assert set(r['purpose'] for r in d['records']) <= {'verification','dkim','return-path','spf','dmarc'}\n"
       "assert all(set(r) >= {'type','name','value','purpose'} for r in d['records'])\n"},
      {}, j.out);
  INFO(shape.err);
  CHECK(shape.rc == 0);
  CHECK(cli({"domain", "records", "acme", "nothere.example"}).rc == 1);

  // The private key is a 0640 file in the key directory (read by the
  // directory's group: root on one relay, the milter's on several), and
  // nowhere in the store.
  std::string dkim = cli.dkim_txt("acme", "example.com");
  std::string selector = dkim.substr(0, dkim.find('.'));
  std::string key_file = cli.keys + "/example.com/" + selector + ".pem";
  REQUIRE(std::filesystem::exists(key_file));
  CHECK((std::filesystem::status(key_file).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write | std::filesystem::perms::group_read));
  RunResult grep = migo::test::run({"/usr/bin/grep", "-c", "PRIVATE KEY", cli.db + "/data.mdb"});
  CHECK(grep.out == "0\n");
  // Without a key directory, adding a domain fails and leaves nothing behind.
  RunResult no_dir = migo::test::run({MIGOCTL, "--db", cli.db, "--dkim-keys", cli.tmp / "missing", "domain", "add",
                                      "acme", "other.example"});
  CHECK(no_dir.rc == 75);
  CHECK_THAT(no_dir.err, Catch::Contains("DKIM key directory"));
  CHECK(cli({"domain", "records", "acme", "other.example"}).rc == 1);
  // --waiting: every domain still waiting for DNS, in every workspace.
  cli.ok({"workspace", "create", "beta", "--plan", "10k"});
  cli.ok({"domain", "add", "beta", "done.example"});
  cli.ok({"domain", "verify", "--manual", "beta", "done.example"});
  RunResult waiting = cli({"--json", "domain", "records", "--waiting"});
  CHECK(waiting.rc == 0);
  CHECK_THAT(waiting.out, Catch::Contains("\"domain\": \"example.com\""));
  CHECK_THAT(waiting.out, !Catch::Contains("done.example"));
  CHECK(cli({"domain", "records", "--waiting", "acme", "example.com"}).rc != 0);
  CHECK(cli({"domain", "records", "acme"}).rc != 0);
  // Removing the domain removes its keys.
  cli.ok({"domain", "remove", "acme", "example.com"});
  CHECK_FALSE(std::filesystem::exists(key_file));
  CHECK_THAT(cli({"domain", "records", "--waiting", "--zone"}).out, Catch::Contains("; no domain waits for DNS"));
}

TEST_CASE("DKIM rotation through DNS: the new key signs once published, the old one retires and its file goes") {
  Cli cli;
  const auto [tok, first] = cli.acme_example();
  const std::string first_sel = first.substr(0, first.find('.'));
  {
    Dns dns({txt(tok), first});
    REQUIRE(cli({"domain", "verify", "acme", "example.com"}, dns.addr).rc == 0);
  }
  RunResult rot = cli({"--json", "domain", "rotate-dkim", "acme", "example.com"});
  REQUIRE(rot.rc == 0);
  std::string marker = "\"selector\": \"";
  size_t at = rot.out.rfind(marker);
  REQUIRE(at != std::string::npos);
  at += marker.size();
  const std::string second_sel = rot.out.substr(at, rot.out.find('"', at) - at);
  REQUIRE(second_sel != first_sel);
  CHECK(cli({"domain", "rotate-dkim", "acme", "example.com"}).rc == 1);  // one new key at a time
  // The records now ask for both.
  RunResult recs = cli({"--json", "domain", "records", "acme", "example.com"});
  CHECK_THAT(recs.out, Catch::Contains(first_sel + "._domainkey.example.com"));
  CHECK_THAT(recs.out, Catch::Contains(second_sel + "._domainkey.example.com"));
  const std::string second = cli.dkim_txt("acme", "example.com", second_sel);
  {  // Not yet published: the old key alone is active.
    Dns dns({txt(tok), first});
    CHECK(cli({"domain", "recheck"}, dns.addr).rc == 0);
    CHECK(cli.key_state("acme", second_sel) == "pending\n");
    CHECK(cli.key_state("acme", first_sel) == "active\n");
  }
  {  // Published: active; with --retire-after 0 the old key retires at once.
    Dns dns({txt(tok), first, second});
    CHECK(cli({"domain", "recheck", "--retire-after", "0"}, dns.addr).rc == 0);
    CHECK(cli.key_state("acme", second_sel) == "active\n");
    CHECK(cli.key_state("acme", first_sel) == "retired\n");
    CHECK_FALSE(std::filesystem::exists(cli.keys + "/example.com/" + first_sel + ".pem"));
    CHECK(std::filesystem::exists(cli.keys + "/example.com/" + second_sel + ".pem"));
    CHECK_THAT(cli({"domain", "records", "acme", "example.com"}).out, !Catch::Contains(first_sel));
    CHECK_THAT(cli({"audit", "acme"}).out, Catch::Contains("domain.rotate-dkim"));
  }
}

TEST_CASE("Ed25519: a second key, started on a verified domain, active only when DNS shows it as k=ed25519") {
  Cli cli;
  const auto [tok, rsa] = cli.acme_example();
  {
    Dns dns({txt(tok), rsa});
    REQUIRE(cli({"domain", "verify", "acme", "example.com"}, dns.addr).rc == 0);
  }
  RunResult started = cli({"domain", "rotate-dkim", "--ed25519", "acme", "example.com"});
  INFO(started.err);
  REQUIRE(started.rc == 0);
  CHECK_THAT(started.out, Catch::Contains("k=ed25519; p="));
  CHECK_THAT(started.out, Catch::Contains("a second signature"));
  // The RSA key may rotate meanwhile: one new key per algorithm.
  CHECK(cli({"domain", "rotate-dkim", "--ed25519", "acme", "example.com"}).rc == 1);
  RunResult list = cli({"--json", "domain", "list", "acme"});
  std::string marker = "\"algorithm\": \"ed25519-sha256\"";
  REQUIRE(list.out.find(marker) != std::string::npos);
  // The Ed25519 key's selector: the one record that is not the RSA key's.
  RunResult recs = cli({"--json", "domain", "records", "acme", "example.com"});
  size_t at = recs.out.find("k=ed25519");
  REQUIRE(at != std::string::npos);
  size_t name_at = recs.out.rfind("._domainkey.example.com", at);
  size_t name_start = recs.out.rfind('"', name_at) + 1;
  const std::string ed_sel = recs.out.substr(name_start, name_at - name_start);
  const std::string ed_txt = cli.dkim_txt("acme", "example.com", ed_sel);
  {  // Published with the wrong k=: a verifier would read it as RSA, so not seen.
    std::string wrong = ed_txt;
    wrong.replace(wrong.find("k=ed25519"), 9, "k=rsa");
    Dns dns({txt(tok), rsa, wrong});
    CHECK(cli({"domain", "recheck"}, dns.addr).rc == 0);
    CHECK(cli.key_state("acme", ed_sel) == "pending\n");
  }
  {  // Right: active beside the RSA key, and both sign (domain show says so).
    Dns dns({txt(tok), rsa, ed_txt});
    CHECK(cli({"domain", "recheck", "--retire-after", "0"}, dns.addr).rc == 0);
    CHECK(cli.key_state("acme", ed_sel) == "active\n");
    CHECK(cli.key_state("acme", rsa.substr(0, rsa.find('.'))) == "active\n");  // not retired by it
    RunResult show = cli({"domain", "show", "acme", "example.com"}, dns.addr);
    CHECK_THAT(show.out, Catch::Contains(ed_sel + "  ed25519, active, signs, record published"));
    CHECK_THAT(show.out, Catch::Contains("  rsa, active, signs, record published"));
  }
}

TEST_CASE("domain show: what DNS says, and what to fix") {
  Cli cli;
  const auto [tok, dkim] = cli.acme_example();
  {
    Dns dns({txt(tok), dkim, "example.com,v=spf1 include:_spf.relay.test ~all",
             "bounce.example.com,v=spf1 include:_spf.relay.test -all",
             "_dmarc.example.com,v=DMARC1; p=quarantine; rua=mailto:d@example.com",
             "--mx-host=bounce.example.com,Relay.TEST,10"});
    REQUIRE(cli({"domain", "verify", "acme", "example.com"}, dns.addr).rc == 0);
    RunResult r = cli({"--relay-host", "relay.test", "domain", "show", "acme", "example.com", "--relay-spf",
                       "include:_spf.relay.test"},
                      dns.addr);
    INFO(r.out << r.err);
    CHECK(r.rc == 0);
    CHECK_THAT(r.out, Catch::Contains("active, signs, record published"));
    CHECK_THAT(r.out, Catch::Contains("  MX:        10 relay.test\n"));
    CHECK_THAT(r.out, Catch::Contains("names the relay (include:_spf.relay.test): yes"));
    CHECK_THAT(r.out, Catch::Contains("DMARC:       policy \"quarantine\""));
    CHECK_THAT(r.out, Catch::Contains("Nothing to fix."));
  }
  {  // Nothing but the token: the DKIM record, SPF and DMARC are listed to fix.
    Dns dns({txt(tok)});
    RunResult r = cli({"--json", "domain", "show", "acme", "example.com", "--relay-spf", "include:_spf.relay.test"},
                      dns.addr);
    CHECK(r.rc == 0);
    CHECK_THAT(r.out, Catch::Contains("\"spf_names_relay\": false"));
    CHECK_THAT(r.out, Catch::Contains("\"dmarc_policy\": null"));
    CHECK_THAT(r.out, Catch::Contains("._domainkey.example.com"));
    CHECK_THAT(r.out, Catch::Contains("publish a DMARC record"));
    CHECK_THAT(r.out, Catch::Contains("\"return_path_spf_names_relay\": false"));
    CHECK_THAT(r.out, Catch::Contains("publish MX bounce.example.com 10 "));
    CHECK_THAT(r.out, Catch::Contains("\"return_path_mx\": []"));
    CHECK_THAT(r.out, Catch::Contains("\"return_path_mx_names_relay\": false"));
  }
  {  // An MX elsewhere: bounces would not come home.
    Dns dns({txt(tok), "--mx-host=bounce.example.com,mx.elsewhere.example,5"});
    RunResult r = cli({"--relay-host", "relay.test", "domain", "show", "acme", "example.com"}, dns.addr);
    CHECK_THAT(r.out, Catch::Contains("  MX:        5 mx.elsewhere.example (bounces do not reach relay.test)"));
    CHECK_THAT(r.out, Catch::Contains("  - publish MX bounce.example.com 10 relay.test."));
  }
  CHECK(cli({"domain", "show", "acme", "example.com"}, dead_resolver()).rc == 75);
}

TEST_CASE("an own tracking domain is verified by its token and a CNAME to the relay's tracking host") {
  Cli cli;
  cli.ok({"init"});
  cli.ok({"workspace", "create", "acme", "--plan", "10k"});
  RunResult set = cli({"tracking", "set", "acme", "--opens", "on", "--domain", "track.example.com"});
  REQUIRE(set.rc == 0);
  const std::string marker = "migo-verify=";
  size_t at = set.out.find(marker);
  REQUIRE(at != std::string::npos);
  at += marker.size();
  const std::string token = set.out.substr(at, set.out.find('\n', at) - at);
  const std::string txt_arg = "_migo-verify.track.example.com,migo-verify=" + token;
  // dnsmasq serves a CNAME only to a name it knows itself.
  const std::string relay = "--host-record=track.relay.test,127.0.0.1", other = "--host-record=elsewhere.test,127.0.0.2";
  auto verify = [&](const std::string& resolver) {
    return cli({"--tracking-host", "Track.Relay.Test", "tracking", "verify", "acme"}, resolver);
  };
  auto verified = [&] {
    return cli({"--json", "tracking", "show", "acme"}).out.find("\"domain_verified\": true") != std::string::npos;
  };
  CHECK(cli({"tracking", "verify", "acme"}).rc == 2);  // --tracking-host is required
  {
    Dns dns({txt_arg, relay});  // the token, no CNAME
    RunResult r = verify(dns.addr);
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::Contains("CNAME track.example.com must name track.relay.test (there is none)"));
    CHECK_FALSE(verified());
  }
  {
    Dns dns({txt_arg, other, "--cname=track.example.com,elsewhere.test"});  // a CNAME elsewhere
    RunResult r = verify(dns.addr);
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::Contains("(it names elsewhere.test)"));
    CHECK_FALSE(verified());
  }
  {
    Dns dns({relay, "--cname=track.example.com,track.relay.test"});  // the CNAME, no token
    RunResult r = verify(dns.addr);
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Catch::Contains("TXT _migo-verify.track.example.com must be"));
    CHECK_THAT(r.err, !Catch::Contains("CNAME"));
    CHECK_FALSE(verified());
  }
  CHECK(verify(dead_resolver()).rc == 75);
  CHECK_FALSE(verified());
  {
    Dns dns({txt_arg, relay, "--cname=track.example.com,track.relay.test"});
    RunResult r = verify(dns.addr);
    INFO(r.err);
    CHECK(r.rc == 0);
    CHECK(verified());
  }
}
