// cli.cc — migoctl's command table, argument parser and output.
//
// Every command is one row of kCommands: its words, arguments, options,
// help text and handler. The parser is strict: an unknown option, a missing
// or surplus argument or a malformed number is a usage error (exit 2)
// before the store is touched. Handlers build one Json value and print it
// either as JSON (--json) or as text, so the two outputs never disagree.
#include "cli.h"

#include <grp.h>
#include <sys/stat.h>
#include <cerrno>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cinttypes>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../common/daemon.h"
#include "admin.h"
#include "check.h"
#include "metrics.h"
#include "prometheus.h"
#include "options.h"
#include "json.h"
#include "follower.h"
#include "ingest.h"
#include "migo/domain.h"
#include "migo/loggable.h"
#include "migo/outcomes.h"
#include "migo/tag.h"
#include "migo/store.h"
#include "dkim.h"
#include "sealed.h"
#include "shared_state.h"
#include "sync.h"
#include "migo/shared.h"
#include "verification.h"

namespace migo::cli {
namespace {

// ------------------------------------------------------------- arguments

struct Args {
  std::vector<std::string> pos;
  std::map<std::string, std::string> opt;  // options with values
  std::set<std::string> flags;             // options without
  bool has(const std::string& f) const { return flags.count(f) > 0; }
  const std::string* get(const std::string& o) const {
    auto it = opt.find(o);
    return it == opt.end() ? nullptr : &it->second;
  }
};

struct Context;
using Handler = int (*)(Context&, const Args&);

struct OptionSpec {
  const char* name;  // without the leading --
  const char* value;  // metavariable, or nullptr for a flag
  const char* help;
};

struct Command {
  const char* path;      // "account create"
  const char* synopsis;  // arguments after the path
  size_t min_pos, max_pos;
  std::vector<OptionSpec> options;
  const char* summary;
  const char* description;
  Handler handler;
};

struct UsageError {
  std::string message;
};

// ---------------------------------------------------------------- output

Json time_json(int64_t t) { return t == 0 ? Json() : Json(rfc3339_utc(t)); }
std::string time_text(int64_t t) { return t == 0 ? "never" : rfc3339_utc(t); }

std::string hex_id(uint64_t id) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string percent_text(std::optional<double> r) {
  if (!r) return "n/a";
  char buf[16];
  snprintf(buf, sizeof buf, "%.1f%%", *r * 100);
  return buf;
}

// Display width of UTF-8 text: one column per code point (labels are text).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> w(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); i++) w[i] = std::max(w[i], width(r[i]));
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); i++) {
      line += r[i];
      if (i + 1 < r.size()) line.append(w[i] - width(r[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

Json stats_json(const AccountStats& s, uint32_t month_now) {
  auto rate = delivery_rate(s);
  return Json::object()
      .set("total_sent", s.total_sent)
      .set("sent_this_month", s.sent_in(month_now))
      .set("delivered", s.delivered)
      .set("bounced", s.bounced)
      .set("deferred", s.deferred)
      .set("complaints", s.complaints)
      .set("delivery_rate", rate ? Json(*rate) : Json())
      .set("opens", s.opens)
      .set("unique_opens", s.unique_opens)
      .set("machine_opens", s.machine_opens)
      .set("clicks", s.clicks)
      .set("unique_clicks", s.unique_clicks)
      .set("machine_clicks", s.machine_clicks)
      .set("open_rate", open_rate(s) ? Json(*open_rate(s)) : Json())
      .set("click_rate", click_rate(s) ? Json(*click_rate(s)) : Json());
}

Json account_json(const Account& a, const std::string& ws, const AccountStats& s, uint32_t month_now) {
  return Json::object()
      .set("username", a.username)
      .set("label", a.label)
      .set("workspace", ws)
      .set("id", hex_id(a.id))
      .set("status", status_name(a.status))
      .set("created", time_json(a.created))
      .set("password_set", time_json(a.password_set))
      .set("last_used", time_json(s.last_used))
      .set("statistics", stats_json(s, month_now));
}

Json plan_json(const Plan& p) {
  return Json::object()
      .set("name", p.name)
      .set("max_accounts", p.max_accounts)
      .set("monthly", p.monthly)
      .set("daily", p.daily)
      .set("hourly", p.hourly);
}

// "verified", "pending" or "lapsed"; and how it was verified.
const char* domain_state(const Domain& d) { return d.verified ? "verified" : d.lapsed ? "lapsed" : "pending"; }

Json domain_json(const Domain& d, const std::string& ws) {
  Json keys = Json::array();
  for (const DkimKey& k : d.dkim)
    keys.push(Json::object()
                  .set("selector", k.selector)
                  .set("algorithm", dkim_algorithm_name(k.algorithm))
                  .set("state", dkim_state_name(k.state))
                  .set("created", time_json(k.created))
                  .set("since", time_json(k.state_since)));
  return Json::object()
      .set("workspace", ws)
      .set("domain", d.name)
      .set("include_subdomains", d.include_subdomains)
      .set("state", domain_state(d))
      .set("verified", d.verified)
      .set("verified_by", d.verified ? Json(d.manual ? "manual" : "dns") : Json())
      .set("added", time_json(d.added))
      .set("verified_at", time_json(d.verified_at))
      .set("checked_at", time_json(d.checked_at))
      .set("token_missing_since", time_json(d.missing_since))
      .set("dkim", keys);
}

// What every failure prints on stdout under --json.
Json error_json(const std::string& code, const std::string& message) {
  return Json::object().set("error", Json::object().set("code", code).set("message", message));
}

// ----------------------------------------------------------------- views
//
// One view per noun: its text is rendered from its JSON, the very value
// --json prints, so the two cannot disagree and a field lives in one place
// (the *_json builders above). A view reads fields by JSON pointer.

std::string time_view(const Json& t) { return t.is_null() ? "never" : t.text(); }
std::string rate_view(const Json& r) { return r.is_null() ? "n/a" : percent_text(r.number()); }

// "Name:" padded to `width`, then the value.
std::string view_line(const std::string& name, const std::string& value, size_t width) {
  return name + std::string(width > name.size() ? width - name.size() : 1, ' ') + value + "\n";
}

// A statistics object's delivery and tracking lines (account and workspace
// show), names padded to `width`.
std::string outcomes_view(const Json& s, size_t width) {
  auto f = [&](const char* field) { return s.at(std::string("/") + field).text(); };
  return view_line("Delivered:", f("delivered"), width) + view_line("Bounced:", f("bounced"), width) +
         view_line("Deferred:", f("deferred"), width) + view_line("Complaints:", f("complaints"), width) +
         view_line("Delivery rate:", rate_view(s.at("/delivery_rate")), width) +
         view_line("Opens:", f("unique_opens") + " unique, " + f("opens") + " in all; " + f("machine_opens") +
                                 " by machines (image proxies), counted apart", width) +
         view_line("Clicks:", f("unique_clicks") + " unique, " + f("clicks") + " in all; " + f("machine_clicks") +
                                  " by machines (link scanners), counted apart", width) +
         view_line("Open rate:", rate_view(s.at("/open_rate")), width) +
         view_line("Click rate:", rate_view(s.at("/click_rate")), width);
}

// account_json's
std::string account_view(const Json& a) {
  const size_t w = 17;
  return view_line("Label:", a.at("/label").text(), w) + view_line("Username:", a.at("/username").text(), w) +
         view_line("Workspace:", a.at("/workspace").text(), w) + view_line("Status:", a.at("/status").text(), w) +
         view_line("Created:", time_view(a.at("/created")), w) +
         view_line("Password set:", time_view(a.at("/password_set")), w) +
         view_line("Last used:", time_view(a.at("/last_used")), w) +
         view_line("Total sent:", a.at("/statistics/total_sent").text(), w) +
         view_line("Sent this month:", a.at("/statistics/sent_this_month").text(), w) +
         outcomes_view(a.at("/statistics"), w) + view_line("Id:", a.at("/id").text(), w);
}

std::vector<std::string> account_row(const Json& a, bool with_workspace) {
  std::vector<std::string> row{a.at("/label").text(), a.at("/username").text(), a.at("/status").text(),
                               a.at("/statistics/total_sent").text(), time_view(a.at("/created")),
                               time_view(a.at("/last_used"))};
  if (with_workspace) row.insert(row.begin(), a.at("/workspace").text());
  return row;
}

// plan_json's
std::vector<std::string> plan_row(const Json& p) {
  return {p.at("/name").text(), p.at("/max_accounts").text(), p.at("/monthly").text(), p.at("/daily").text(),
          p.at("/hourly").text()};
}
std::string plan_view(const Json& p) {
  return "plan " + p.at("/name").text() + ": " + p.at("/max_accounts").text() + " accounts, " +
         p.at("/monthly").text() + "/month, " + p.at("/daily").text() + "/day, " + p.at("/hourly").text() +
         "/hour\n";
}

// domain_json's: "verified by DNS …", "LAPSED: …" or "NOT VERIFIED".
std::string domain_state_view(const Json& d) {
  const std::string state = d.at("/state").text();
  if (state == "verified")
    return std::string("verified ") + (d.at("/verified_by").text() == "manual" ? "manually " : "by DNS ") +
           time_view(d.at("/verified_at"));
  if (state == "lapsed") return "LAPSED: token gone from DNS since " + time_view(d.at("/token_missing_since"));
  return "NOT VERIFIED";
}
std::string domain_name_view(const Json& d) {
  return d.at("/domain").text() + (d.at("/include_subdomains").is_true() ? " (and subdomains)" : "");
}
std::vector<std::string> domain_row(const Json& d) {
  const bool verified = d.at("/verified").is_true();
  return {d.at("/domain").text(), d.at("/include_subdomains").text(),
          d.at("/state").text() + (verified ? " (" + d.at("/verified_by").text() + ")" : ""),
          verified ? time_view(d.at("/verified_at")) : "no", time_view(d.at("/added"))};
}

// workspace list's rows
std::vector<std::string> workspace_row(const Json& w) {
  const Json max = w.at("/max_accounts");
  return {w.at("/name").text(), w.at("/plan").text(),
          w.at("/accounts").text() + "/" + (max.is_null() ? "?" : max.text()), w.at("/domains").text(),
          time_view(w.at("/created"))};
}

// workspace show's
std::string workspace_view(const Json& w) {
  const size_t n = 16;
  auto of = [&](const char* window) {
    return w.at(std::string("/usage/") + window + "/used").text() + " of " +
           w.at(std::string("/usage/") + window + "/limit").text();
  };
  std::string text = view_line("Workspace:", w.at("/name").text(), n) + view_line("Plan:", w.at("/plan/name").text(), n) +
                     view_line("Created:", time_view(w.at("/created")), n) +
                     view_line("SMTP accounts:", w.at("/accounts/count").text() + " of " + w.at("/accounts/max").text(), n) +
                     view_line("Sent this hour:", of("hour") + " (rolling 60 minutes)", n) +
                     view_line("Sent today:", of("day") + " (rolling 24 hours)", n) +
                     view_line("Sent in month:", of("month") + " (calendar month, UTC)", n) +
                     view_line("Total sent:", w.at("/statistics/total_sent").text(), n) +
                     outcomes_view(w.at("/statistics"), n) + view_line("Last used:", time_view(w.at("/last_used")), n);
  const std::vector<Json> domains = w.at("/domains").items();
  text += domains.empty() ? view_line("Domains:", "none", n) : "Domains:\n";
  for (const Json& d : domains) text += "  " + domain_name_view(d) + " " + domain_state_view(d) + "\n";
  return text;
}

// The relay as the records name it: --relay-host (default this host's
// name) and --relay-spf (default a:HOST).
RelayIdentity relay_identity(const Args& a) {
  RelayIdentity r;
  r.host = a.get("relay-host") ? *a.get("relay-host") : host_name();
  r.spf = a.get("relay-spf") ? *a.get("relay-spf") : "a:" + r.host;
  return r;
}

Json records_json(const Domain& d, const RelayIdentity& relay) {
  Json j = Json::array();
  for (const DnsRecord& r : records_to_publish(d, relay))
    j.push(Json::object()
               .set("type", r.type)
               .set("name", r.name)
               .set("value", r.value)
               .set("purpose", r.purpose)
               .set("required", r.required));
  return j;
}

// A TXT value in zone-file form: quoted, with " and \ escaped, split into
// character-strings of at most 255 bytes (RFC 1035 5.1).
std::string zone_txt(const std::string& v) {
  std::string out;
  for (size_t at = 0; at < v.size() || at == 0; at += 255) {
    std::string part = v.substr(at, 255), q;
    for (char ch : part) {
      if (ch == '"' || ch == '\\') q += '\\';
      q += ch;
    }
    out += (out.empty() ? "\"" : " \"") + q + "\"";
    if (v.empty()) break;
  }
  return out;
}

std::string records_text(const Domain& d, const RelayIdentity& relay, bool zone) {
  std::string text;
  for (const DnsRecord& r : records_to_publish(d, relay)) {
    if (zone) {
      text += (r.required ? "" : "; advice: ") + r.name + ". 3600 IN " + r.type + " " +
              (r.type == "TXT" ? zone_txt(r.value) : r.value) + "\n";
    } else {
      text += "  " + r.purpose + (r.required ? "" : " (advice)") + ":\n    " + r.type + " " + r.name + "\n    " +
              r.value + "\n";
    }
  }
  return text;
}

// --------------------------------------------------------------- context

struct Context {
  std::ostream& out;
  std::ostream& err;
  std::string db;
  bool json = false;
  int64_t now = 0;
  std::unique_ptr<Store> store;
  std::string resolver{};  // --resolver, "" = the system's
  std::string dkim_keys{};  // --dkim-keys
  // --redis / --redis-file: the shared state of several relays, through
  // which every change goes; "" relay: this host's name.
  std::optional<SharedState> shared{};
  std::string relay{};
  std::string seal_key{};  // --seal-key: DKIM keys' seal (cluster/sealed.h)

  int fail(const Status& s) {
    int code = kExitRefused;
    if (s.temporary()) code = kExitTempfail;
    if (json) {
      out << error_json(code_name(s.code()), s.message()).dump() << "\n";
    }
    err << "migoctl: " << s.message() << "\n";
    return code;
  }

  // Opens the store for a command; on failure prints and returns false.
  bool open(int* exit_code) {
    auto s = Store::open(db, {});
    if (!s.ok()) {
      *exit_code = fail(s.status());
      return false;
    }
    store = std::move(*s);
    return true;
  }

  Admin admin() {
    if (!shared) return Admin(*store, current_actor(), now);
    return Admin(*store, current_actor(), now, [this](Store& st, const std::function<Status(WriteTxn&)>& fn) {
      return shared_write(st, *shared, relay, now, fn);
    });
  }

  // An account's statistics: this relay's, and with --redis every other
  // relay's too (what migo-syncd reported), summed: each relay counts only
  // what happened on it, so the sum counts every outcome once.
  Result<AccountStats> stats_of(const ReadTxn& t, uint64_t account_id) {
    auto local = t.stats(account_id);
    if (!local.ok() || !shared) return local;
    auto others = shared->stats(account_id);
    if (!others.ok()) return others.status();
    AccountStats sum;
    sum.month = month_of(now);
    sum.add(*local);
    for (const auto& [relay_name, st] : *others)
      if (relay_name != relay) sum.add(st);
    return sum;
  }

  int emit(const Json& j, const std::string& text) {
    if (json) {
      out << j.dump() << "\n";
    } else {
      out << text;
    }
    return kExitOk;
  }
};

uint64_t parse_count(const Args& a, const std::string& name, uint64_t max) {
  const std::string* v = a.get(name);
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || p != v->data() + v->size() || n > max)
    throw UsageError{"--" + name + " needs a whole number from 0 to " + std::to_string(max) + ", not '" +
                     *v + "'"};
  return n;
}

std::optional<uint64_t> count_opt(const Args& a, const std::string& name, uint64_t max) {
  if (!a.get(name)) return std::nullopt;
  return parse_count(a, name, max);
}

// ------------------------------------------------------------- commands

// Where the role keeps the shared state's URL on a relay of several.
constexpr const char* kDefaultRedisStateFile = "/etc/migo/redis-state.url";

int cmd_init(Context& c, const Args& a) {
  StoreOptions opt;
  opt.create = true;
  auto s = Store::open(c.db, opt);
  if (!s.ok()) return c.fail(s.status());
  auto before = (*s)->init_schema(c.now);
  if (!before.ok()) return c.fail(before.status());

  // Modes: the data and lock files are read and written by every module.
  // Group members (the daemons' users) get read-write; others nothing.
  std::string group;
  gid_t gid = static_cast<gid_t>(-1);
  if (const std::string* g = a.get("group")) {
    struct group* gr = getgrnam(g->c_str());
    if (!gr) return c.fail({Code::invalid, "no group named '" + *g + "'"});
    group = *g;
    gid = gr->gr_gid;
  } else if (struct group* gr = getgrnam("migo")) {
    group = "migo";
    gid = gr->gr_gid;
  }
  for (const auto& [path, mode] : {std::pair{c.db, 0750}, std::pair{c.db + "/data.mdb", 0660},
                                   std::pair{c.db + "/lock.mdb", 0660}}) {
    if (gid != static_cast<gid_t>(-1) && chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)
      return c.fail({Code::unavailable, "cannot give " + path + " to group " + group + ": " + strerror(errno)});
    if (chmod(path.c_str(), static_cast<mode_t>(mode)) != 0)
      return c.fail({Code::unavailable, "cannot chmod " + path + ": " + strerror(errno)});
  }
  std::string what = *before == 0                 ? "created"
                     : *before == kSchemaVersion ? "already up to date"
                                                 : "upgraded from schema " + std::to_string(*before);
  Json j = Json::object()
               .set("path", c.db)
               .set("schema_version", kSchemaVersion)
               .set("previous_version", *before)
               .set("group", group.empty() ? Json() : Json(group));
  std::string text = "store " + c.db + ": " + what + " (schema " + std::to_string(kSchemaVersion) + ")" +
                     (group.empty() ? "" : ", group " + group) + "\n";
  return c.emit(j, text);
}

int cmd_plan_list(Context& c, const Args&) {
  int rc;
  if (!c.open(&rc)) return rc;
  std::vector<Plan> plans;
  Status s = c.store->read([&](const ReadTxn& t) {
    auto p = t.plans();
    if (!p.ok()) return p.status();
    plans = std::move(*p);
    return Status::Ok();
  });
  if (!s.ok()) return c.fail(s);
  Json j = Json::array();
  std::vector<std::vector<std::string>> rows{{"PLAN", "ACCOUNTS", "MONTHLY", "DAILY", "HOURLY"}};
  for (const Plan& p : plans) {
    Json pj = plan_json(p);
    rows.push_back(plan_row(pj));
    j.push(std::move(pj));
  }
  if (c.json) return c.emit(Json::object().set("plans", j), "");
  print_table(c.out, rows);
  return kExitOk;
}

int cmd_plan_set(Context& c, const Args& a) {
  PlanChange change;
  if (auto v = count_opt(a, "max-accounts", 100000)) change.max_accounts = static_cast<uint32_t>(*v);
  change.monthly = count_opt(a, "monthly", UINT32_MAX);
  change.daily = count_opt(a, "daily", UINT32_MAX);
  change.hourly = count_opt(a, "hourly", UINT32_MAX);
  int rc;
  if (!c.open(&rc)) return rc;
  auto p = c.admin().set_plan(a.pos[0], change);
  if (!p.ok()) return c.fail(p.status());
  const Json j = plan_json(*p);
  return c.emit(j, plan_view(j));
}

int cmd_workspace_create(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto w = c.admin().create_workspace(a.pos[0], *a.get("plan"));
  if (!w.ok()) return c.fail(w.status());
  return c.emit(Json::object().set("name", w->name).set("plan", w->plan).set("created", time_json(w->created)),
                "workspace " + w->name + " created on plan " + w->plan + "\n");
}

int cmd_workspace_list(Context& c, const Args&) {
  int rc;
  if (!c.open(&rc)) return rc;
  Json j = Json::array();
  std::vector<std::vector<std::string>> rows{{"WORKSPACE", "PLAN", "ACCOUNTS", "DOMAINS", "CREATED"}};
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto ws = t.workspaces();
    if (!ws.ok()) return ws.status();
    for (const Workspace& w : *ws) {
      auto n = t.account_count(w.id);
      if (!n.ok()) return n.status();
      auto d = t.domains(w.id);
      if (!d.ok()) return d.status();
      auto p = t.plan(w.plan);
      Json wj = Json::object()
                    .set("name", w.name)
                    .set("plan", w.plan)
                    .set("accounts", *n)
                    .set("max_accounts", p.ok() ? Json(p->max_accounts) : Json())
                    .set("domains", static_cast<uint64_t>(d->size()))
                    .set("created", time_json(w.created));
      rows.push_back(workspace_row(wj));
      j.push(std::move(wj));
    }
    return {};
  });
  if (!s.ok()) return c.fail(s);
  if (c.json) return c.emit(Json::object().set("workspaces", j), "");
  print_table(c.out, rows);
  return kExitOk;
}

int cmd_workspace_show(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  Json j;
  std::string text;
  const uint32_t month = month_of(c.now);
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto w = find_workspace(t, a.pos[0]);
    if (!w.ok()) return w.status();
    auto p = t.plan(w->plan);
    if (!p.ok()) return p.status();
    auto u = t.usage(w->id, c.now);
    if (!u.ok()) return u.status();
    auto accounts = t.accounts(w->id);
    if (!accounts.ok()) return accounts.status();
    auto domains = t.domains(w->id);
    if (!domains.ok()) return domains.status();
    AccountStats sum;
    sum.month = month;
    for (const Account& acct : *accounts) {
      auto st = c.stats_of(t, acct.id);
      if (!st.ok()) return st.status();
      sum.add(*st);
    }
    auto limit = [](uint64_t used, uint64_t max) {
      return Json::object().set("used", used).set("limit", max).set("remaining", max > used ? max - used : 0);
    };
    Json dj = Json::array();
    for (const Domain& d : *domains) dj.push(domain_json(d, w->name));
    j = Json::object()
            .set("name", w->name)
            .set("plan", plan_json(*p))
            .set("created", time_json(w->created))
            .set("accounts", Json::object()
                                 .set("count", static_cast<uint64_t>(accounts->size()))
                                 .set("max", p->max_accounts))
            .set("usage", Json::object()
                              .set("hour", limit(u->hour, p->hourly))
                              .set("day", limit(u->day, p->daily))
                              .set("month", limit(u->month, p->monthly)))
            .set("statistics", stats_json(sum, month))
            .set("last_used", time_json(sum.last_used))
            .set("domains", dj);
    text = workspace_view(j);
    return {};
  });
  if (!s.ok()) return c.fail(s);
  return c.emit(j, text);
}

int cmd_workspace_set_plan(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto w = c.admin().set_workspace_plan(a.pos[0], a.pos[1]);
  if (!w.ok()) return c.fail(w.status());
  return c.emit(Json::object().set("name", w->name).set("plan", w->plan),
                "workspace " + w->name + " is now on plan " + w->plan + "\n");
}

// A new DKIM key of `algorithm` for `domain`: its private half written to
// the key directory (never the store), its public half returned for the
// store, pending until DNS shows it.
Result<DkimKey> new_dkim_key(Context& c, const std::string& domain, DkimAlgorithm algorithm) {
  auto key = generate_dkim_key(algorithm);
  if (!key.ok()) return key.status();
  auto selector = new_dkim_selector(c.now);
  if (!selector.ok()) return selector.status();
  if (c.shared) {
    // Several relays: every relay's milter signs, so the key travels to
    // them, sealed (cluster/sealed.h), before the domain's row that names it.
    auto seal = read_tag_key(c.seal_key);
    if (!seal.ok())
      return Status(Code::unavailable, "several relays: DKIM keys travel sealed with the seal key, and " +
                                           seal.status().message() + " (--seal-key FILE)");
    auto sealed = seal_secret(*seal, domain + "/" + *selector, key->private_pem);
    if (!sealed.ok()) return sealed.status();
    MIGO_TRY(c.shared->put_sealed_key(domain + "/" + *selector, *sealed));
  }
  MIGO_TRY(write_dkim_key(c.dkim_keys, domain, *selector, key->private_pem));
  return DkimKey{*selector, key->public_b64, DkimKeyState::pending, c.now, c.now, algorithm};
}
// Undoes new_dkim_key when the store refused the key.
void drop_dkim_key_files(Context& c, const std::string& domain, const std::vector<DkimKey>& keys) {
  for (const DkimKey& k : keys)
    if (auto path = dkim_key_path(c.dkim_keys, domain, k.selector); path.ok()) unlink(path->c_str());
}

int cmd_domain_add(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto name = normalize_domain(a.pos[1]);
  if (!name.ok()) return c.fail(name.status());
  // The key pairs first: their private halves go to the key directory,
  // never the store; the store then records selectors and public halves.
  std::vector<DkimKey> keys;
  for (DkimAlgorithm alg : {DkimAlgorithm::rsa_sha256, DkimAlgorithm::ed25519_sha256}) {
    if (alg == DkimAlgorithm::ed25519_sha256 && !a.has("ed25519")) continue;
    auto k = new_dkim_key(c, *name, alg);
    if (!k.ok()) {
      drop_dkim_key_files(c, *name, keys);
      return c.fail(k.status());
    }
    keys.push_back(std::move(*k));
  }
  auto d = c.admin().add_domain(a.pos[0], a.pos[1], a.has("include-subdomains"), keys);
  if (!d.ok()) {
    drop_dkim_key_files(c, *name, keys);
    return c.fail(d.status());
  }
  return c.emit(domain_json(*d, a.pos[0]).set("records", records_json(*d, relay_identity(a))),
                "domain " + d->name + (d->include_subdomains ? " (and subdomains)" : "") + " added to workspace " +
                    a.pos[0] + "; not verified yet. Publish in DNS:\n" + records_text(*d, relay_identity(a), false) +
                    "then run: migoctl domain verify " + a.pos[0] + " " + d->name + "\n");
}

// The workspace's domain `name` as the store holds it now.
Result<Domain> read_domain(Context& c, const std::string& ws, const std::string& name) {
  auto n = normalize_domain(name);
  if (!n.ok()) return n.status();
  Workspace w;
  Domain out;
  Status s = c.store->read([&](const ReadTxn& t) { return find_domain(t, ws, *n, &w, &out); });
  if (!s.ok()) return s;
  return out;
}

// Whether a domain still waits for DNS: not verified (and not on the
// admin's word), or a DKIM key not yet seen.
bool waits_for_dns(const Domain& d) {
  if (!d.verified && !d.manual) return true;
  return std::any_of(d.dkim.begin(), d.dkim.end(), [](const DkimKey& k) { return k.state == DkimKeyState::pending; });
}

// Every workspace's domains that `keep` chooses, with the workspace's name.
struct WorkspaceDomain {
  std::string ws;
  Domain d;
};
Status domains_where(Context& c, const std::function<bool(const Domain&)>& keep, std::vector<WorkspaceDomain>* out) {
  return c.store->read([&](const ReadTxn& t) -> Status {
    auto ws = t.workspaces();
    if (!ws.ok()) return ws.status();
    for (const Workspace& w : *ws) {
      auto ds = t.domains(w.id);
      if (!ds.ok()) return ds.status();
      for (const Domain& d : *ds)
        if (keep(d)) out->push_back({w.name, d});
    }
    return {};
  });
}

// domain records --waiting: every workspace's domains that wait for DNS,
// with their records (what the role prints at the end of a play).
int domain_records_waiting(Context& c, const Args& a) {
  std::vector<WorkspaceDomain> items;
  if (Status s = domains_where(c, waits_for_dns, &items); !s.ok()) return c.fail(s);
  const RelayIdentity relay = relay_identity(a);
  Json list = Json::array();
  std::string text;
  for (const WorkspaceDomain& it : items) {
    list.push(Json::object()
                  .set("workspace", it.ws)
                  .set("domain", it.d.name)
                  .set("state", domain_state(it.d))
                  .set("records", records_json(it.d, relay)));
    text += (a.has("zone") ? "; " : "") + it.d.name + " (workspace " + it.ws + ", " + domain_state(it.d) +
            "):\n" + records_text(it.d, relay, a.has("zone"));
  }
  if (items.empty()) text = a.has("zone") ? "; no domain waits for DNS\n" : "no domain waits for DNS\n";
  return c.emit(Json::object().set("domains", list), text);
}

int cmd_domain_records(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  if (a.has("waiting")) {
    if (!a.pos.empty()) return c.fail({Code::invalid, "domain records --waiting takes no WS or DOMAIN"});
    return domain_records_waiting(c, a);
  }
  if (a.pos.size() != 2) return c.fail({Code::invalid, "domain records needs WS and DOMAIN (or --waiting)"});
  auto d = read_domain(c, a.pos[0], a.pos[1]);
  if (!d.ok()) return c.fail(d.status());
  return c.emit(Json::object().set("domain", d->name).set("records", records_json(*d, relay_identity(a))),
                a.has("zone") ? records_text(*d, relay_identity(a), true)
                              : "DNS records for " + d->name + " (workspace " + a.pos[0] + "):\n" +
                                    records_text(*d, relay_identity(a), false));
}

// Asks DNS for the domain's token and its DKIM keys' records, and records
// the answers. Returns the domain as stored after, and in `proof` what DNS
// showed.
Result<Domain> check_in_dns(Context& c, Resolver& dns, const std::string& ws, const Domain& d, int64_t grace,
                            Proof* proof, int64_t retire_after = kDefaultDkimRetireAfter) {
  auto answer = dns.txt(std::string(kVerifyLabel) + "." + d.name);
  if (!answer.ok()) return answer.status();
  *proof = judge_verification(d, *answer);
  const bool token_found = proof->ok;  // proof->ok below also weighs the DKIM keys
  std::vector<std::string> seen;
  for (const DkimKey& k : d.dkim) {
    if (k.state == DkimKeyState::retired) continue;
    std::string at = dkim_record_name(k.selector, d.name);
    auto r = dns.txt(at);
    if (!r.ok()) return r.status();
    if (dkim_published(*r, k)) {
      seen.push_back(k.selector);
    } else if (k.state == DkimKeyState::pending) {
      proof->detail += "; DKIM key " + k.selector + " not published: TXT " + at + " must be \"" +
                       dkim_record_value(k) + "\"";
      proof->ok = false;
    } else {
      proof->detail += "; warning: the active DKIM key's record " + at + " is missing or differs";
    }
  }
  auto after = c.admin().record_dns_check(ws, d.name, d.token, token_found, grace, seen, retire_after);
  if (!after.ok()) return after;
  if (after->verified) proof->ok = true;
  // A retired key's private half is no longer needed: remove it.
  for (const DkimKey& k : after->dkim)
    if (k.state == DkimKeyState::retired)
      for (const DkimKey& was : d.dkim)
        if (was.selector == k.selector && was.state != DkimKeyState::retired)
          if (auto path = dkim_key_path(c.dkim_keys, d.name, k.selector); path.ok()) unlink(path->c_str());
  return after;
}

int cmd_domain_verify(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  if (a.has("manual")) {
    auto d = c.admin().verify_domain_manually(a.pos[0], a.pos[1]);
    if (!d.ok()) return c.fail(d.status());
    return c.emit(domain_json(*d, a.pos[0]),
                  "domain " + d->name + " verified manually for workspace " + a.pos[0] + " (audited; not checked in DNS)\n");
  }
  auto d = read_domain(c, a.pos[0], a.pos[1]);
  if (!d.ok()) return c.fail(d.status());
  auto dns = Resolver::create(c.resolver);
  if (!dns.ok()) return c.fail(dns.status());
  Proof proof;
  auto after = check_in_dns(c, **dns, a.pos[0], *d, kDefaultLapseGraceSeconds, &proof);
  if (!after.ok()) return c.fail(after.status());
  if (!proof.ok)
    return c.fail({Code::refused, "domain " + d->name + " is not verified: " + proof.detail +
                                      " (migoctl domain records " + a.pos[0] + " " + d->name + ")"});
  return c.emit(domain_json(*after, a.pos[0]).set("proof", proof.detail),
                "domain " + after->name + " verified for workspace " + a.pos[0] + ": " + proof.detail + "\n");
}

// One view of a domain for an admin: ownership, DKIM, SPF and DMARC as DNS
// shows them now, and what to fix. Reads DNS only; changes nothing.
int cmd_domain_show(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto d = read_domain(c, a.pos[0], a.pos[1]);
  if (!d.ok()) return c.fail(d.status());
  auto dns = Resolver::create(c.resolver);
  if (!dns.ok()) return c.fail(dns.status());
  std::vector<std::string> fix;
  const Json dj = domain_json(*d, a.pos[0]);
  std::string text = "Domain:      " + domain_name_view(dj) + "\nWorkspace:   " + a.pos[0] +
                     "\nOwnership:   " + domain_state_view(dj) + "\n";
  auto token = (*dns)->txt(std::string(kVerifyLabel) + "." + d->name);
  if (!token.ok()) return c.fail(token.status());
  Proof proof = judge_verification(*d, *token);
  text += "  token:     " + std::string(proof.ok ? "published" : "NOT PUBLISHED: " + proof.detail) + "\n";
  if (!proof.ok && !d->manual) fix.push_back(proof.detail);
  Json keys = Json::array();
  const std::vector<const DkimKey*> signing = signing_keys(*d);
  text += "DKIM:\n";
  if (d->dkim.empty()) text += "  no keys (added before DKIM signing existed): mail is not signed\n";
  for (const DkimKey& k : d->dkim) {
    std::string name = dkim_record_name(k.selector, d->name);
    auto r = (*dns)->txt(name);
    if (!r.ok()) return c.fail(r.status());
    bool published = dkim_published(*r, k);
    const bool signs = std::find(signing.begin(), signing.end(), &k) != signing.end();
    text += "  " + k.selector + "  " + dkim_key_type(k.algorithm) + ", " + dkim_state_name(k.state) +
            (signs ? ", signs" : "") + ", record " + (published ? "published" : "MISSING") + "\n";
    if (!published && k.state != DkimKeyState::retired)
      fix.push_back("publish TXT " + name + " \"" + dkim_record_value(k) + "\"");
    keys.push(Json::object()
                  .set("selector", k.selector)
                  .set("algorithm", dkim_algorithm_name(k.algorithm))
                  .set("state", dkim_state_name(k.state))
                  .set("signs", signs)
                  .set("published", published));
  }
  // SPF and DMARC as published; whether SPF names the relay when told how
  // the relay appears in SPF (--relay-spf).
  auto apex = (*dns)->txt(d->name);
  if (!apex.ok()) return c.fail(apex.status());
  std::string spf = spf_record(*apex);
  Json spf_json = spf.empty() ? Json() : Json(spf);
  text += "SPF:         " + (spf.empty() ? std::string("none published") : loggable_text(spf)) + "\n";
  Json authorises;
  if (const std::string* mech = a.get("relay-spf")) {
    bool named = spf_names(spf, *mech);
    authorises = named;
    text += "  names the relay (" + *mech + "): " + (named ? "yes" : "NO") + "\n";
    if (!named) fix.push_back("add " + *mech + " to the SPF record of " + d->name);
  }
  // The return path's domain: bounces must reach the relay (its MX), and
  // its SPF must name the relay.
  RelayIdentity relay = relay_identity(a);
  const std::string bounce_name = bounce_domain(d->name);
  auto bounce_mx = (*dns)->mx(bounce_name);
  if (!bounce_mx.ok()) return c.fail(bounce_mx.status());
  // As MX answers name it: lowercase A-labels, no final dot.
  auto normalised_host = normalize_domain(relay.host);
  const std::string relay_host = normalised_host.ok() ? *normalised_host : relay.host;
  bool mx_ok = false;
  std::string mx_text;
  Json mx_json = Json::array();
  for (const MxRecord& r : bounce_mx->records) {
    mx_ok = mx_ok || r.host == relay_host;
    mx_text += (mx_text.empty() ? "" : ", ") + std::to_string(r.preference) + " " +
               (r.host.empty() ? "(null MX: takes no mail)" : r.host);
    mx_json.push(Json::object().set("preference", static_cast<uint64_t>(r.preference)).set("host", r.host));
  }
  text += "Return path: " + bounce_name + "\n  MX:        " + (mx_text.empty() ? "none published" : mx_text) +
          (mx_ok ? "" : " (bounces do not reach " + relay_host + ")") + "\n";
  if (!mx_ok) fix.push_back("publish MX " + bounce_name + " 10 " + relay_host + ".");
  auto bounce = (*dns)->txt(bounce_name);
  if (!bounce.ok()) return c.fail(bounce.status());
  std::string bounce_spf = spf_record(*bounce);
  bool bounce_ok = spf_names(bounce_spf, relay.spf);
  text += "  SPF:       " + (bounce_spf.empty() ? std::string("none published") : loggable_text(bounce_spf)) +
          (bounce_ok ? "" : " (does not name " + relay.spf + ")") + "\n";
  if (!bounce_ok) fix.push_back("publish TXT " + bounce_name + " \"v=spf1 " + relay.spf + " -all\"");
  auto dmarc_answer = (*dns)->txt("_dmarc." + d->name);
  if (!dmarc_answer.ok()) return c.fail(dmarc_answer.status());
  std::string dmarc;
  for (const std::string& r : dmarc_answer->records)
    if (record_tag(r, "v") == "DMARC1") dmarc = r;
  std::string policy = record_tag(dmarc, "p");
  text += "DMARC:       " + (dmarc.empty() ? std::string("none published") : "policy " + loggable_text(policy)) + "\n";
  if (dmarc.empty()) fix.push_back("publish a DMARC record (migoctl domain records shows one)");
  Json fixes = Json::array();
  for (const std::string& f : fix) fixes.push(f);
  text += fix.empty() ? "Nothing to fix.\n" : "To fix:\n";
  for (const std::string& f : fix) text += "  - " + f + "\n";
  return c.emit(domain_json(*d, a.pos[0])
                    .set("token_published", proof.ok)
                    .set("dkim_keys", keys)
                    .set("spf", spf_json)
                    .set("spf_names_relay", authorises)
                    .set("return_path_mx", mx_json)
                    .set("return_path_mx_names_relay", mx_ok)
                    .set("return_path_spf", bounce_spf.empty() ? Json() : Json(bounce_spf))
                    .set("return_path_spf_names_relay", bounce_ok)
                    .set("dmarc_policy", dmarc.empty() ? Json() : Json(policy))
                    .set("to_fix", fixes),
                text);
}

int cmd_domain_rotate_dkim(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto d = read_domain(c, a.pos[0], a.pos[1]);
  if (!d.ok()) return c.fail(d.status());
  const DkimAlgorithm alg = a.has("ed25519") ? DkimAlgorithm::ed25519_sha256 : DkimAlgorithm::rsa_sha256;
  const bool first = signing_key(*d, alg) == nullptr;
  auto key = new_dkim_key(c, d->name, alg);
  if (!key.ok()) return c.fail(key.status());
  auto after = c.admin().add_dkim_key(a.pos[0], d->name, *key);
  if (!after.ok()) {
    drop_dkim_key_files(c, d->name, {*key});
    return c.fail(after.status());
  }
  return c.emit(domain_json(*after, a.pos[0]).set("selector", key->selector).set("records", records_json(*after, relay_identity(a))),
                "new " + std::string(dkim_key_type(alg)) + " DKIM key " + key->selector + " for " + d->name +
                    ". Publish:\n    TXT " + dkim_record_name(key->selector, d->name) + "\n    " +
                    dkim_record_value(*key) + "\nIt signs once migoctl domain recheck (or verify) sees it" +
                    (first ? " (a second signature, beside the RSA one).\n"
                           : "; the old key retires a week later.\n"));
}

// Every domain with a token that is not manually verified: verified ones
// (do they still prove it?), lapsed and pending ones (are they back, or
// published at last?).
int cmd_domain_recheck(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  int64_t grace = kDefaultLapseGraceSeconds;
  if (a.get("grace")) grace = static_cast<int64_t>(parse_count(a, "grace", 24 * 365)) * 3600;
  int64_t retire_after = kDefaultDkimRetireAfter;
  if (a.get("retire-after")) retire_after = static_cast<int64_t>(parse_count(a, "retire-after", 365)) * 86400;
  std::vector<WorkspaceDomain> items;
  Status s = domains_where(c, [](const Domain& d) { return !d.token.empty() && !d.manual; }, &items);
  if (!s.ok()) return c.fail(s);
  auto dns = Resolver::create(c.resolver);
  if (!dns.ok()) return c.fail(dns.status());
  DaemonLog log("migoctl", false);
  Json results = Json::array();
  std::string text;
  int worst = kExitOk;
  for (const WorkspaceDomain& it : items) {
    Proof proof;
    auto after = check_in_dns(c, **dns, it.ws, it.d, grace, &proof, retire_after);
    std::string line = it.ws + " " + it.d.name + ": ";
    if (!after.ok()) {
      // No answer changes nothing: a DNS outage never lapses a domain.
      worst = after.status().temporary() ? kExitTempfail : std::max(worst, kExitRefused);
      line += "not checked: " + after.status().message();
      results.push(Json::object().set("workspace", it.ws).set("domain", it.d.name).set("error", after.status().message()));
    } else {
      Json dj = domain_json(*after, it.ws);
      line += domain_state_view(dj) + (proof.ok ? "" : " (" + proof.detail + ")");
      results.push(dj.set("proof", proof.detail));
      if (after->lapsed && !it.d.lapsed)
        log(LOG_WARNING, "domain " + it.d.name + " of workspace " + it.ws +
                             " lapsed: its verification token has been missing from DNS since " +
                             rfc3339_utc(after->missing_since));
      else if (after->verified && !it.d.verified)
        log(LOG_INFO, "domain " + it.d.name + " of workspace " + it.ws + " verified by DNS");
      else if (after->missing_since && !it.d.missing_since)
        log(LOG_WARNING, "domain " + it.d.name + " of workspace " + it.ws +
                             ": verification token missing from DNS; lapses after the grace period");
    }
    text += line + "\n";
  }
  if (items.empty()) text = "no domains to check\n";
  if (c.json) c.out << Json::object().set("domains", results).dump() << "\n";
  else c.out << text;
  return worst;
}

int cmd_domain_remove(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto d = c.admin().remove_domain(a.pos[0], a.pos[1]);
  if (!d.ok()) return c.fail(d.status());
  // Its DKIM keys go too: nothing should sign for a domain no one owns here.
  for (const DkimKey& k : d->dkim)
    if (auto path = dkim_key_path(c.dkim_keys, d->name, k.selector); path.ok()) unlink(path->c_str());
  return c.emit(domain_json(*d, a.pos[0]), "domain " + d->name + " removed from workspace " + a.pos[0] + "\n");
}

int cmd_domain_list(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  Json j = Json::array();
  std::vector<std::vector<std::string>> rows{{"DOMAIN", "SUBDOMAINS", "STATE", "VERIFIED", "ADDED"}};
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto w = find_workspace(t, a.pos[0]);
    if (!w.ok()) return w.status();
    auto ds = t.domains(w->id);
    if (!ds.ok()) return ds.status();
    for (const Domain& d : *ds) {
      Json dj = domain_json(d, w->name);
      rows.push_back(domain_row(dj));
      j.push(std::move(dj));
    }
    return {};
  });
  if (!s.ok()) return c.fail(s);
  if (c.json) return c.emit(Json::object().set("domains", j), "");
  print_table(c.out, rows);
  return kExitOk;
}

// The one place a password is printed. Everything else about the output is
// built as usual; the password joins it only in a Secret, which is wiped
// when done, and is written with write(2) rather than through the stream's
// buffer, which nobody wipes. (What the terminal, a pipe or a file does with
// it afterwards is beyond this process.)
int emit_credentials(Context& c, Json j, const NewCredentials& n, const std::string& what) {
  const std::string& pw = n.password.reveal();
  std::string head, tail;
  if (c.json) {
    std::string rest = j.dump();  // "{\n  ...": the password goes first
    head = "{\n  \"password\": \"";
    tail = "\"," + rest.substr(1) + "\n";
  } else {
    head = what + "\n\n  Username: " + n.account.username + "\n  Password: ";
    tail = "\n\nThe password is shown only this once and is not stored: copy it into your\n"
           "password manager now. If it is lost, set a new one with\n"
           "  migoctl account reset-password " + n.account.username + "\n";
  }
  Secret out;
  out.reserve(head.size() + pw.size() + tail.size());
  out.append(head);
  out.append(pw);
  out.append(tail);
  if (&c.out != &std::cout) {  // (in-process callers with their own stream)
    c.out << out.reveal();
    return kExitOk;
  }
  std::cout.flush();
  std::string_view rest = out.reveal();
  while (!rest.empty()) {
    ssize_t w = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return c.fail(Status(Code::unavailable, std::string("cannot write the password: ") + strerror(errno)));
    rest.remove_prefix(static_cast<size_t>(w));
  }
  return kExitOk;
}

int cmd_account_create(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto n = c.admin().create_account(a.pos[0], *a.get("name"));
  if (!n.ok()) return c.fail(n.status());
  Json j = Json::object()
               .set("username", n->account.username)
               .set("label", n->account.label)
               .set("workspace", a.pos[0])
               .set("id", hex_id(n->account.id))
               .set("status", status_name(n->account.status))
               .set("created", time_json(n->account.created));
  return emit_credentials(c, std::move(j), *n,
                          "Created SMTP account \"" + n->account.label + "\" in workspace " + a.pos[0] + ".");
}

int cmd_account_list(Context& c, const Args& a) {
  std::optional<uint64_t> dormant = count_opt(a, "dormant", 36500);
  const bool all = a.pos.empty();
  // One workspace: in the order they were made. Every workspace: least
  // recently used first (never used, oldest first), for the dormant audit
  // the product asks for.
  std::string sort = a.get("sort") ? *a.get("sort") : all ? "last-used" : "created";
  if (sort != "created" && sort != "last-used" && sort != "name")
    return c.fail({Code::invalid, "--sort takes created, last-used or name, not '" + sort + "'"});
  int rc;
  if (!c.open(&rc)) return rc;
  const uint32_t month = month_of(c.now);
  struct Row {
    Account acct;
    std::string workspace;
    AccountStats stats;
  };
  std::vector<Row> list;
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    std::vector<Workspace> spaces;
    if (all) {
      auto ws = t.workspaces();
      if (!ws.ok()) return ws.status();
      spaces = std::move(*ws);
    } else {
      auto w = find_workspace(t, a.pos[0]);
      if (!w.ok()) return w.status();
      spaces.push_back(*w);
    }
    for (const Workspace& w : spaces) {
      auto accounts = t.accounts(w.id);
      if (!accounts.ok()) return accounts.status();
      for (const Account& acct : *accounts) {
        auto st = c.stats_of(t, acct.id);
        if (!st.ok()) return st.status();
        // Dormant: not used (or, if never used, not created) within DAYS days.
        int64_t active_at = st->last_used ? st->last_used : acct.created;
        if (dormant && active_at > c.now - static_cast<int64_t>(*dormant) * 86400) continue;
        list.push_back({acct, w.name, *st});
      }
    }
    return {};
  });
  if (!s.ok()) return c.fail(s);
  std::stable_sort(list.begin(), list.end(), [&](const Row& x, const Row& y) {
    if (sort == "last-used")
      return std::tie(x.stats.last_used, x.acct.created, x.acct.username) <
             std::tie(y.stats.last_used, y.acct.created, y.acct.username);
    if (sort == "name") return std::tie(x.acct.label, x.acct.username) < std::tie(y.acct.label, y.acct.username);
    return std::tie(x.acct.created, x.acct.label) < std::tie(y.acct.created, y.acct.label);
  });
  Json j = Json::array();
  std::vector<std::vector<std::string>> rows{{"LABEL", "USERNAME", "STATUS", "TOTAL SENT", "CREATED", "LAST USED"}};
  if (all) rows[0].insert(rows[0].begin(), "WORKSPACE");
  for (const Row& r : list) {
    Json aj = account_json(r.acct, r.workspace, r.stats, month);
    rows.push_back(account_row(aj, all));
    j.push(std::move(aj));
  }
  if (c.json) return c.emit(Json::object().set("accounts", j), "");
  print_table(c.out, rows);
  return kExitOk;
}

int cmd_account_show(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  const uint32_t month = month_of(c.now);
  Json j;
  std::string text;
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto acct = find_account(t, a.pos[0]);
    if (!acct.ok()) return acct.status();
    auto w = t.workspace(acct->workspace_id);
    if (!w.ok()) return w.status();
    auto st = c.stats_of(t, acct->id);
    if (!st.ok()) return st.status();
    j = account_json(*acct, w->name, *st, month);
    text = account_view(j);
    return {};
  });
  if (!s.ok()) return c.fail(s);
  return c.emit(j, text);
}


// ----------------------------------------------------------- shared state

int need_shared(Context& c) {
  return c.fail({Code::invalid, "this command needs the shared state: --redis URL or --redis-file FILE"});
}

Json position_json(const SharedPosition& p) {
  return Json::object().set("origin", p.origin.empty() ? Json() : Json(p.origin)).set("seq", p.seq);
}

int cmd_shared_init(Context& c, const Args&) {
  if (!c.shared) return need_shared(c);
  int rc;
  if (!c.open(&rc)) return rc;
  size_t rows = 0;
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto r = shared_rows(t);
    if (r.ok()) rows = r->size();
    return r.status();
  });
  if (!s.ok()) return c.fail(s);
  auto head = shared_init(*c.store, *c.shared, c.relay, c.now);
  if (!head.ok()) return c.fail(head.status());
  return c.emit(Json::object().set("origin", head->origin).set("seq", head->seq).set("rows", static_cast<uint64_t>(rows)),
                "shared state " + head->origin + " made from this store (" + std::to_string(rows) +
                    " rows, change 1); other relays join it with migo-syncd\n");
}

int cmd_shared_restore(Context& c, const Args&) {
  if (!c.shared) return need_shared(c);
  int rc;
  if (!c.open(&rc)) return rc;
  auto head = shared_restore(*c.store, *c.shared, c.relay, c.now);
  if (!head.ok()) return c.fail(head.status());
  return c.emit(Json::object().set("origin", head->origin).set("seq", head->seq).set("restored", true),
                "shared state " + head->origin + " restored from this store at change " + std::to_string(head->seq) +
                    "\n");
}

int cmd_shared_sync(Context& c, const Args& a) {
  if (!c.shared) return need_shared(c);
  int rc;
  if (!c.open(&rc)) return rc;
  SyncOptions o;
  o.replace = a.has("replace");
  auto r = sync_store(*c.store, *c.shared, o);
  if (!r.ok()) return c.fail(r.status());
  return c.emit(Json::object()
                    .set("position", position_json(r->at))
                    .set("applied", static_cast<uint64_t>(r->applied))
                    .set("rebuilt", r->rebuilt)
                    .set("rows_changed", static_cast<uint64_t>(r->rows_changed)),
                "at change " + std::to_string(r->at.seq) + " of " + r->at.origin + ": " +
                    (r->rebuilt ? "rebuilt from a snapshot, " + std::to_string(r->rows_changed) + " rows changed"
                                : std::to_string(r->applied) + " change sets applied") +
                    "\n");
}

int cmd_shared_status(Context& c, const Args&) {
  if (!c.shared) return need_shared(c);
  int rc;
  if (!c.open(&rc)) return rc;
  SharedPosition here;
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto p = shared_position(t);
    if (p.ok()) here = *p;
    return p.status();
  });
  if (!s.ok()) return c.fail(s);
  auto head = c.shared->head();
  if (!head.ok()) return c.fail(head.status());
  auto relays = c.shared->relays();
  if (!relays.ok()) return c.fail(relays.status());
  std::string state = here.origin.empty()                                   ? "follows no shared state"
                      : head->origin.empty()                                ? "Redis holds no shared state"
                      : here.origin != head->origin                         ? "follows another shared state"
                      : here.seq == head->seq                               ? "in step"
                      : here.seq > head->seq                                ? "ahead of Redis (Redis lost change sets)"
                                                                            : std::to_string(head->seq - here.seq) + " behind";
  Json rj = Json::array();
  std::string text = "shared state: " + (head->origin.empty() ? std::string("none") : head->origin) + " at change " +
                     std::to_string(head->seq) + "\nthis relay (" + c.relay + "): at change " + std::to_string(here.seq) +
                     ", " + state + "\nrelays reporting:\n";
  for (const auto& [name, seen] : *relays) {
    uint64_t seq = 0, at = 0;
    if (std::sscanf(seen.c_str(), "%" SCNu64 " %" SCNu64, &seq, &at) != 2) continue;
    rj.push(Json::object().set("relay", name).set("seq", seq).set("reported", time_json(static_cast<int64_t>(at))));
    text += "  " + name + "  at change " + std::to_string(seq) + ", reported " + time_text(static_cast<int64_t>(at)) + "\n";
  }
  if (relays->empty()) text += "  none yet\n";
  return c.emit(Json::object()
                    .set("shared", Json::object()
                                       .set("origin", head->origin.empty() ? Json() : Json(head->origin))
                                       .set("seq", head->seq))
                    .set("relay", c.relay)
                    .set("position", position_json(here))
                    .set("state", state)
                    .set("relays", rj),
                text);
}

// ------------------------------------------------------------- tracking

Json tracking_json(const TrackingSettings& t) {
  return Json::object()
      .set("opens", t.opens)
      .set("clicks", click_tracking_name(t.clicks))
      .set("domain", t.domain.empty() ? Json() : Json(t.domain))
      .set("domain_verified", t.domain.empty() ? Json() : Json(t.domain_verified));
}

// tracking show's: the workspace's settings, then each account's own.
std::string tracking_view(const Json& j) {
  auto on_off = [](const Json& v) { return v.is_true() ? "on" : "off"; };
  const Json tr = j.at("/tracking");
  const std::string domain = tr.at("/domain").text();
  std::string text = "Workspace:  " + j.at("/workspace").text() + "\nOpens:      " + on_off(tr.at("/opens")) +
                     "\nClicks:     " + tr.at("/clicks").text() + "\nHost:       " +
                     (domain.empty()                              ? std::string("the relay's (migo-milter --tracking-host)")
                      : tr.at("/domain_verified").is_true()      ? domain
                                                                  : domain + " (NOT VERIFIED: the relay's host is used until it is)") +
                     "\n";
  for (const Json& o : j.at("/account_overrides").items())
    text += "  " + o.at("/username").text() + ": opens " +
            (o.at("/opens").is_null() ? "as the workspace" : on_off(o.at("/opens"))) + ", clicks " +
            (o.at("/clicks").is_null() ? "as the workspace" : o.at("/clicks").text()) + "\n";
  return text;
}

Result<ClickTracking> parse_clicks(const std::string& v) {
  if (v == "off" || v == "no") return ClickTracking::off;
  if (v == "html" || v == "on" || v == "html-only") return ClickTracking::html;
  if (v == "all") return ClickTracking::all;
  return Status(Code::invalid, "--clicks takes off, html (or on) or all, not '" + v + "'");
}
Result<bool> parse_on_off(const std::string& name, const std::string& v) {
  if (v == "on" || v == "yes") return true;
  if (v == "off" || v == "no") return false;
  return Status(Code::invalid, "--" + name + " takes on or off, not '" + v + "'");
}

int cmd_tracking_set(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  if (const std::string* user = a.get("account")) {
    if (!a.pos.empty()) return c.fail({Code::invalid, "tracking set --account USER takes no WS"});
    if (a.get("domain") || a.has("no-domain"))
      return c.fail({Code::invalid, "the tracking domain is the workspace's: tracking set WS --domain DOMAIN"});
    std::optional<std::optional<bool>> opens;
    std::optional<std::optional<ClickTracking>> clicks;
    if (const std::string* v = a.get("opens")) {
      if (*v == "inherit") {
        opens.emplace(std::nullopt);
      } else {
        auto b = parse_on_off("opens", *v);
        if (!b.ok()) return c.fail(b.status());
        opens.emplace(*b);
      }
    }
    if (const std::string* v = a.get("clicks")) {
      if (*v == "inherit") {
        clicks.emplace(std::nullopt);
      } else {
        auto ct = parse_clicks(*v);
        if (!ct.ok()) return c.fail(ct.status());
        clicks.emplace(*ct);
      }
    }
    auto acct = c.admin().set_account_tracking(*user, opens, clicks);
    if (!acct.ok()) return c.fail(acct.status());
    auto show = [](const auto& o, auto name) { return o ? std::string(name(*o)) : std::string("as the workspace"); };
    std::string o = show(acct->track_opens, [](bool b) { return b ? "on" : "off"; });
    std::string k = show(acct->track_clicks, click_tracking_name);
    return c.emit(Json::object()
                      .set("username", acct->username)
                      .set("opens", acct->track_opens ? Json(*acct->track_opens) : Json())
                      .set("clicks", acct->track_clicks ? Json(click_tracking_name(*acct->track_clicks)) : Json()),
                  "tracking for " + acct->username + ": opens " + o + ", clicks " + k + "\n");
  }
  if (a.pos.size() != 1) return c.fail({Code::invalid, "tracking set needs WS (or --account USER)"});
  Admin::TrackingChange change;
  if (const std::string* v = a.get("opens")) {
    auto b = parse_on_off("opens", *v);
    if (!b.ok()) return c.fail(b.status());
    change.opens = *b;
  }
  if (const std::string* v = a.get("clicks")) {
    auto ct = parse_clicks(*v);
    if (!ct.ok()) return c.fail(ct.status());
    change.clicks = *ct;
  }
  if (a.has("no-domain")) change.domain = "";
  if (const std::string* v = a.get("domain")) {
    auto d = normalize_domain(*v);
    if (!d.ok()) return c.fail(d.status());
    auto token = new_verification_token();
    if (!token.ok()) return c.fail(token.status());
    change.domain = *d;
    change.domain_token = *token;
  }
  auto w = c.admin().set_workspace_tracking(a.pos[0], change);
  if (!w.ok()) return c.fail(w.status());
  std::string text = "tracking for workspace " + w->name + ": opens " + (w->tracking.opens ? "on" : "off") +
                     ", clicks " + click_tracking_name(w->tracking.clicks) + "\n";
  if (!w->tracking.domain.empty() && !w->tracking.domain_verified)
    text += "tracking domain " + w->tracking.domain + " is not verified yet; publish\n    TXT " +
            std::string(kVerifyLabel) + "." + w->tracking.domain + "\n    " + kVerifyPrefix +
            w->tracking.domain_token + "\nand a CNAME from " + w->tracking.domain +
            " to the relay's tracking host, then run: migoctl --tracking-host HOST tracking verify " + w->name +
            "\n";
  return c.emit(Json::object().set("workspace", w->name).set("tracking", tracking_json(w->tracking)), text);
}

int cmd_tracking_show(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  Json j, overrides = Json::array();
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto w = find_workspace(t, a.pos[0]);
    if (!w.ok()) return w.status();
    j = Json::object().set("workspace", w->name).set("tracking", tracking_json(w->tracking));
    auto accounts = t.accounts(w->id);
    if (!accounts.ok()) return accounts.status();
    for (const Account& acct : *accounts) {
      if (!acct.track_opens && !acct.track_clicks) continue;
      overrides.push(Json::object()
                         .set("username", acct.username)
                         .set("opens", acct.track_opens ? Json(*acct.track_opens) : Json())
                         .set("clicks", acct.track_clicks ? Json(click_tracking_name(*acct.track_clicks)) : Json()));
    }
    return {};
  });
  if (!s.ok()) return c.fail(s);
  j.set("account_overrides", overrides);
  return c.emit(j, tracking_view(j));
}

int cmd_tracking_verify(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  Workspace w;
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto found = find_workspace(t, a.pos[0]);
    if (!found.ok()) return found.status();
    w = *found;
    return {};
  });
  if (!s.ok()) return c.fail(s);
  if (w.tracking.domain.empty())
    return c.fail({Code::invalid, "workspace '" + w.name + "' has no tracking domain of its own (tracking set --domain)"});
  auto dns = Resolver::create(c.resolver);
  if (!dns.ok()) return c.fail(dns.status());
  auto answer = (*dns)->txt(std::string(kVerifyLabel) + "." + w.tracking.domain);
  if (!answer.ok()) return c.fail(answer.status());
  // The token proves the workspace owns the name; the CNAME is what makes
  // its links reach this relay. A name verified without it would send
  // every tracked link of the workspace's mail to a host that does not
  // answer for it.
  auto alias = (*dns)->cname(w.tracking.domain);
  if (!alias.ok()) return c.fail(alias.status());
  auto host = normalize_domain(*a.get("tracking-host"));
  if (!host.ok()) return c.fail(host.status());
  const std::string want = kVerifyPrefix + w.tracking.domain_token;
  const bool token = std::find(answer->records.begin(), answer->records.end(), want) != answer->records.end();
  const bool aliased = std::find(alias->targets.begin(), alias->targets.end(), *host) != alias->targets.end();
  auto after = c.admin().record_tracking_domain_check(w.name, w.tracking.domain, token && aliased);
  if (!after.ok()) return c.fail(after.status());
  std::vector<std::string> wrong;
  if (!token)
    wrong.push_back("TXT " + std::string(kVerifyLabel) + "." + w.tracking.domain + " must be \"" + want + "\"");
  if (!aliased)
    wrong.push_back("CNAME " + w.tracking.domain + " must name " + *host +
                    (alias->targets.empty() ? " (there is none)" : " (it names " + alias->targets.front() + ")"));
  if (!wrong.empty()) {
    std::string why;
    for (const std::string& x : wrong) why += (why.empty() ? "" : "; ") + x;
    return c.fail({Code::refused, "tracking domain " + w.tracking.domain + " is not verified: " + why});
  }
  return c.emit(Json::object().set("workspace", w.name).set("tracking", tracking_json(after->tracking)),
                "tracking domain " + w.tracking.domain + " verified for workspace " + w.name + "\n");
}

int cmd_account_set_status(Context& c, const Args& a, AccountStatus status) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto acct = c.admin().set_status(a.pos[0], status);
  if (!acct.ok()) return c.fail(acct.status());
  return c.emit(Json::object().set("username", acct->username).set("status", status_name(acct->status)),
                acct->username + " (" + acct->label + ") is " + status_name(acct->status) +
                    (status == AccountStatus::disabled ? ": its next AUTH and its next recipient are refused\n"
                                                       : "\n"));
}
int cmd_account_disable(Context& c, const Args& a) { return cmd_account_set_status(c, a, AccountStatus::disabled); }
int cmd_account_enable(Context& c, const Args& a) { return cmd_account_set_status(c, a, AccountStatus::active); }

int cmd_account_reset_password(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto n = c.admin().reset_password(a.pos[0]);
  if (!n.ok()) return c.fail(n.status());
  Json j = Json::object()
               .set("username", n->account.username)
               .set("password_set", time_json(n->account.password_set));
  return emit_credentials(c, std::move(j), *n,
                          "New password for " + n->account.username + " (\"" + n->account.label +
                              "\"); the old one no longer works.");
}

int cmd_account_rename(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto acct = c.admin().rename_account(a.pos[0], a.pos[1]);
  if (!acct.ok()) return c.fail(acct.status());
  return c.emit(Json::object().set("username", acct->username).set("label", acct->label),
                acct->username + " is now labelled \"" + acct->label + "\"\n");
}

int cmd_account_delete(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  auto acct = c.admin().delete_account(a.pos[0], *a.get("confirm"), a.has("force"));
  if (!acct.ok()) return c.fail(acct.status());
  // Every relay's statistics of it go too (each relay's own row went with
  // the change set); failing that, they are only an orphan in Redis.
  if (c.shared)
    if (Status f = c.shared->forget_stats(acct->id); !f.ok())
      c.err << "migoctl: warning: the account's statistics stay in the shared state: " << f.message() << "\n";
  return c.emit(Json::object().set("username", acct->username).set("label", acct->label).set("deleted", true),
                acct->username + " (\"" + acct->label + "\") deleted; its credentials no longer work\n");
}

int cmd_audit(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  Json j = Json::array();
  std::vector<std::vector<std::string>> rows{{"SEQ", "TIME", "USER", "WORKSPACE", "ACTION", "DETAIL"}};
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    uint64_t filter = 0;
    if (!a.pos.empty()) {
      auto w = find_workspace(t, a.pos[0]);
      if (!w.ok()) return w.status();
      filter = w->id;
    }
    auto entries = t.audit(filter);
    if (!entries.ok()) return entries.status();
    std::map<uint64_t, std::string> names;
    for (const AuditEntry& e : *entries) {
      std::string ws = "-";
      if (e.workspace_id != 0) {
        auto it = names.find(e.workspace_id);
        if (it == names.end()) {
          auto w = t.workspace(e.workspace_id);
          it = names.emplace(e.workspace_id, w.ok() ? w->name : hex_id(e.workspace_id)).first;
        }
        ws = it->second;
      }
      j.push(Json::object()
                 .set("seq", e.seq)
                 .set("time", time_json(e.time))
                 .set("user", e.user)
                 .set("uid", e.uid)
                 .set("workspace", e.workspace_id ? Json(ws) : Json())
                 .set("action", e.action)
                 .set("detail", e.detail));
      rows.push_back({std::to_string(e.seq), time_text(e.time), e.user, ws, e.action, e.detail});
    }
    return {};
  });
  if (!s.ok()) return c.fail(s);
  if (c.json) return c.emit(Json::object().set("audit", j), "");
  print_table(c.out, rows);
  return kExitOk;
}

// Reads a report from FILE, or standard input for "-" or no FILE, at most
// one byte more than a report may be (parse_report refuses that).
Result<std::string> read_report(const Args& a) {
  std::string name = a.pos.empty() ? "-" : a.pos[0];
  std::ifstream file;
  std::istream* in = &std::cin;
  if (name != "-") {
    file.open(name, std::ios::binary);
    if (!file) return Status(Code::invalid, "cannot read " + name + ": " + strerror(errno));
    in = &file;
  }
  std::string data(kMaxReportBytes + 1, '\0');
  in->read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in->gcount()));
  return data;
}

int cmd_ingest(Context& c, const Args& a, Report::Kind kind) {
  auto message = read_report(a);
  if (!message.ok()) return c.fail(message.status());
  std::string key_path = a.get("key") ? *a.get("key") : kDefaultTagKeyPath;
  auto key = read_tag_key(key_path);
  if (!key.ok()) return c.fail(key.status());
  int rc;
  if (!c.open(&rc)) return rc;
  auto r = ingest_report(*c.store, *key, *message, kind, c.now, a.get("return-path") ? *a.get("return-path") : "");
  if (!r.ok()) return c.fail(r.status());
  const char* what = kind == Report::Kind::dsn ? "dsn" : "arf";
  if (r->malformed) {
    Json j = Json::object().set("kind", what).set("malformed", true).set("error", r->error);
    if (c.json) c.out << j.dump() << "\n";
    c.err << "migoctl: " << (kind == Report::Kind::dsn ? "DSN" : "feedback report") << " not counted: " << r->error
          << "\n";
    return a.has("accept-malformed") ? kExitOk : kExitRefused;
  }
  // Several relays: about a message another relay delivered, it goes to
  // them (their migo-syncd ingests it). Not forwarded: a temporary failure,
  // so the MTA that piped it in tries again.
  bool forwarded = false;
  if (c.shared && for_another_relay(*r)) {
    Status f = c.shared->forward_report(what, *message, a.get("return-path") ? *a.get("return-path") : "", c.relay);
    if (!f.ok()) return c.fail({Code::unavailable, "the report is for another relay, and " + f.message()});
    forwarded = true;
  }
  Json items = Json::array();
  std::vector<std::vector<std::string>> rows{{"RECIPIENT", kind == Report::Kind::dsn ? "ACTION" : "FEEDBACK-TYPE",
                                              "STATUS", "RESULT"}};
  for (const auto& i : r->items) {
    items.push(Json::object()
                   .set("recipient", i.recipient)
                   .set(kind == Report::Kind::dsn ? "action" : "feedback_type", i.action)
                   .set("status", i.status.empty() ? Json() : Json(i.status))
                   .set("result", i.result));
    rows.push_back({i.recipient.empty() ? "-" : i.recipient, i.action, i.status.empty() ? "-" : i.status, i.result});
  }
  Json j = Json::object()
               .set("kind", what)
               .set("malformed", false)
               .set("tag", r->tag)
               .set("via", r->via.empty() ? Json() : Json(r->via))
               .set("account", r->username.empty() ? Json() : Json(r->username))
               .set("account_id", r->account_id ? Json(hex_id(r->account_id)) : Json())
               .set("queue_id", r->queue_id.empty() ? Json() : Json(r->queue_id))
               .set("items", items)
               .set("forwarded", forwarded);
  if (c.json) return c.emit(j, "");
  std::string head = std::string(kind == Report::Kind::dsn ? "DSN" : "Feedback report") + ": tag " + r->tag;
  if (r->tag == "verified")
    head += (r->via == "return path" ? " (by the return path)" : "") + std::string(", account ") +
            (r->username.empty() ? hex_id(r->account_id) + " (deleted)" : r->username) + ", message " + r->queue_id;
  c.out << head << "\n";
  print_table(c.out, rows);
  if (forwarded) c.out << "(forwarded to the other relays: the message was delivered from one of them)\n";
  return kExitOk;
}
int cmd_ingest_dsn(Context& c, const Args& a) { return cmd_ingest(c, a, Report::Kind::dsn); }
int cmd_ingest_arf(Context& c, const Args& a) { return cmd_ingest(c, a, Report::Kind::arf); }

int cmd_stats(Context& c, const Args& a) {
  int rc;
  if (!c.open(&rc)) return rc;
  int64_t lag_limit = static_cast<int64_t>(count_opt(a, "max-lag", 86400 * 365).value_or(300));
  Json counters = Json::object(), logs = Json::array();
  std::string text;
  FollowHealth health;
  Status s = c.store->read([&](const ReadTxn& t) -> Status {
    auto cs = t.counters();
    if (!cs.ok()) return cs.status();
    auto ps = t.follow_positions();
    if (!ps.ok()) return ps.status();
    health = follow_health(*ps, *cs, c.now, lag_limit);
    text = "Log files followed by migo-statd:\n";
    if (ps->empty()) text += "  none yet\n";
    for (const auto& [path, p] : *ps) {
      // The journal's position is its cursor (stats/journal.h), a file's an
      // offset in an inode.
      const bool journal = path.rfind("journal:", 0) == 0;
      logs.push(Json::object()
                    .set("path", path)
                    .set("source", journal ? "journal" : "file")
                    .set("inode", p.inode)
                    .set("offset", p.offset)
                    .set("cursor", journal ? Json(p.fingerprint) : Json())
                    .set("updated", time_json(p.updated)));
      text += journal ? "  the systemd journal" + (path.size() > 8 ? " (namespace " + path.substr(8) + ")" : std::string()) +
                            ", updated " + time_text(p.updated) + "\n"
                      : "  " + path + "  offset " + std::to_string(p.offset) + " (inode " + std::to_string(p.inode) +
                            "), updated " + time_text(p.updated) + "\n";
    }
    text += "Counters:\n";
    if (cs->empty()) text += "  none yet\n";
    for (const auto& [name, n] : *cs) {
      counters.set(name, n);
      text += "  " + name + std::string(name.size() < 30 ? 30 - name.size() : 1, ' ') + std::to_string(n) + "\n";
    }
    return {};
  });
  if (!s.ok()) return c.fail(s);
  static const char* kLevels[] = {"ok", "warning", "critical"};
  Json problems = Json::array();
  std::string summary;
  for (const auto& p : health.problems) {
    problems.push(p);
    summary += (summary.empty() ? "" : "; ") + p;
  }
  if (summary.empty()) summary = "migo-statd keeps up with its logs";
  text += std::string("Health: ") + kLevels[health.level] + ": " + summary + "\n";
  Json j = Json::object().set("logs", logs).set("counters", counters).set(
      "health", Json::object().set("status", kLevels[health.level]).set("problems", problems));
  if (a.has("check")) {
    static const char* kNagios[] = {"OK", "WARNING", "CRITICAL"};
    c.emit(j, std::string("MIGO-STATD ") + kNagios[health.level] + " - " + summary + "\n");
    return health.level;
  }
  return c.emit(j, text);
}

int cmd_check(Context& c, const Args& a) {
  HealthOptions o;
  if (const std::string* v = a.get("policy")) o.policy = *v == "none" ? "" : *v;
  if (const std::string* v = a.get("milter")) o.milter = *v == "none" ? "" : *v;
  if (const std::string* v = a.get("tag-key")) o.tag_key = *v == "none" ? "" : *v;
  o.max_lag_seconds = static_cast<int64_t>(count_opt(a, "max-lag", 86400 * 365).value_or(300));
  o.timeout_ms = static_cast<int>(count_opt(a, "timeout", 60000).value_or(3000));
  std::vector<HealthItem> items;
  auto store = Store::open(c.db, {.read_only = true});
  if (!store.ok()) items.push_back({"store", 2, "cannot be opened: " + store.status().message(), ""});
  else
    for (HealthItem& i : store_health(**store, o, c.now)) items.push_back(std::move(i));
  if (!o.policy.empty()) items.push_back(probe_policy(o.policy, o.timeout_ms));
  if (!o.milter.empty()) items.push_back(probe_milter(o.milter, o.timeout_ms));
  if (!o.tag_key.empty()) {
    auto k = read_tag_key(o.tag_key);
    items.push_back(k.ok() ? HealthItem{"tag-key", 0, o.tag_key + " readable", ""}
                           : HealthItem{"tag-key", 2, k.status().message(), ""});
  }
  static const char* kLevels[] = {"ok", "warning", "critical"};
  Json checks = Json::array();
  for (const HealthItem& i : items)
    checks.push(Json::object().set("name", i.name).set("status", kLevels[i.level]).set("detail", i.text));
  const int level = health_level(items);
  c.emit(Json::object().set("status", kLevels[level]).set("checks", checks), health_line(items) + "\n");
  return level;
}

int cmd_metrics(Context& c, const Args& a) {
  auto store = Store::open(c.db, {.read_only = true});
  if (!store.ok()) return c.fail(store.status());
  auto text = render_metrics(**store, c.now);
  if (!text.ok()) return c.fail(text.status());
  if (const std::string* dir = a.get("include-dir")) *text += daemon_metrics(*dir, c.now);
  if (const std::string* path = a.get("output")) {
    if (Status s = write_file_atomically(*path, *text); !s.ok()) return c.fail(s);
    return c.emit(Json::object().set("written", *path), "");
  }
  c.out << *text;
  return kExitOk;
}

// ---------------------------------------------------------- the table

const std::vector<Command>& commands() {
  static const std::vector<Command> k = {
      {"init", "", 0, 0, {{"group", "GROUP", "give the store to GROUP (default: migo, if it exists)"}},
       "create the store, or upgrade it to this version's schema",
       "Creates the store directory and its two files (data.mdb, lock.mdb), the\n"
       "built-in plans 10k, 20k and 30k, and records the schema version. On an\n"
       "existing store it upgrades the schema; it refuses a store written by a\n"
       "newer migoctl. Safe to run again. Sets the directory to 0750 and the\n"
       "files to 0660, owned by GROUP, so the daemons (members of GROUP) can read\n"
       "and write them and nobody else can.",
       cmd_init},
      {"plan list", "", 0, 0, {}, "list the plans and their limits",
       "Lists every plan: its maximum number of SMTP accounts and the monthly,\n"
       "daily and hourly recipient limits shared by all accounts of a workspace.",
       cmd_plan_list},
      {"plan set", "NAME", 1, 1,
       {{"max-accounts", "N", "SMTP accounts a workspace on this plan may have"},
        {"monthly", "N", "recipients per calendar month (UTC)"},
        {"daily", "N", "recipients per rolling 24 hours"},
        {"hourly", "N", "recipients per rolling 60 minutes"}},
       "create a plan or change its limits",
       "Creates plan NAME (all four options required) or changes the given limits\n"
       "of an existing plan. Limits must be positive with hourly <= daily <=\n"
       "monthly. Refused if a workspace on the plan has more accounts than the\n"
       "new --max-accounts.",
       cmd_plan_set},
      {"workspace create", "NAME", 1, 1, {{"plan", "PLAN", "the workspace's plan (required)"}},
       "create a workspace", "Creates workspace NAME (1-64 of a-z 0-9 . _ -) on PLAN.", cmd_workspace_create},
      {"workspace list", "", 0, 0, {}, "list workspaces", "Lists every workspace with its plan, accounts and domains.",
       cmd_workspace_list},
      {"workspace show", "NAME", 1, 1, {}, "show a workspace's limits, usage and statistics",
       "Shows the plan, the recipients counted this hour, today and this month\n"
       "against each limit, the account count against the plan's maximum, the\n"
       "summed statistics of its accounts, and its sending domains.",
       cmd_workspace_show},
      {"workspace set-plan", "NAME PLAN", 2, 2, {}, "move a workspace to another plan",
       "Moves workspace NAME to PLAN. A downgrade below the workspace's current\n"
       "number of accounts is refused, saying how many accounts must go first.",
       cmd_workspace_set_plan},
      {"domain add", "WS DOMAIN", 2, 2,
       {{"include-subdomains", nullptr, "also cover every subdomain of DOMAIN"},
        {"ed25519", nullptr, "also make an Ed25519 key: a second signature (RFC 8463)"}},
       "add a sending domain and print the DNS records that prove it",
       "Adds DOMAIN to workspace WS, not yet verified, with a fresh verification\n"
       "token and an RSA-2048 DKIM key (with --ed25519 an Ed25519 key too, for\n"
       "a second signature), and prints the DNS records to publish (see domain\n"
       "records). Private keys go to --dkim-keys DIR/DOMAIN/SELECTOR.pem.\n"
       "Domains are normalised: lowercase, no trailing dot, internationalised\n"
       "names as A-labels (bücher.example -> xn--bcher-kva.example).",
       cmd_domain_add},
      {"domain records", "WS DOMAIN | --waiting", 0, 2,
       {{"zone", nullptr, "print zone-file lines"},
        {"waiting", nullptr, "every domain still waiting for DNS, in every workspace"}},
       "print the DNS records a domain's owner publishes",
       "Prints the records for DOMAIN: the verification TXT record\n"
       "(_migo-verify.DOMAIN carrying \"migo-verify=TOKEN\"), the TXT record of\n"
       "each DKIM key not retired (SELECTOR._domainkey.DOMAIN), the return\n"
       "path's MX and SPF (bounce.DOMAIN, naming --relay-host and --relay-spf),\n"
       "and advice for the domain's SPF and DMARC. --zone prints them as\n"
       "zone-file lines; --json as {\"records\": [{\"type\", \"name\", \"value\",\n"
       "\"purpose\", \"required\"}]}, purpose one of verification, dkim,\n"
       "return-path, spf, dmarc. With --waiting instead of WS DOMAIN: the same\n"
       "for every domain, in every workspace, that still waits for DNS (not\n"
       "verified, or a DKIM key not yet seen); --json as {\"domains\":\n"
       "[{\"workspace\", \"domain\", \"state\", \"records\"}]}.",
       cmd_domain_records},
      {"domain verify", "WS DOMAIN", 2, 2,
       {{"manual", nullptr, "mark it verified without asking DNS (closed networks; audited)"}},
       "verify a sending domain in DNS",
       "Asks DNS (--resolver, else /etc/resolv.conf's servers) for the TXT\n"
       "record _migo-verify.DOMAIN and marks DOMAIN verified for WS only if it\n"
       "carries this workspace's token: mail whose From address is in DOMAIN is\n"
       "then accepted from WS's accounts. Otherwise says which record is\n"
       "missing or wrong and exits 1; exits 75 if DNS did not answer. With\n"
       "--manual, marks it verified on your word: audited, shown as manual, and\n"
       "left alone by domain recheck.",
       cmd_domain_verify},
      {"domain show", "WS DOMAIN", 2, 2, {},
       "show a domain's ownership, DKIM, SPF and DMARC, and what to fix",
       "Asks DNS (changing nothing) and shows: the ownership proof and state,\n"
       "each DKIM key (state, which one signs, whether its record is\n"
       "published), the SPF records of the domain (and whether it names the\n"
       "relay: --relay-spf), the MX and SPF of its bounce subdomain (do they\n"
       "name --relay-host?), the DMARC policy; then the list of what to fix.",
       cmd_domain_show},
      {"domain rotate-dkim", "WS DOMAIN", 2, 2,
       {{"ed25519", nullptr, "rotate (or start) the Ed25519 key instead of the RSA key"}},
       "start a new DKIM key for a domain",
       "Makes a new DKIM key for DOMAIN and prints its record. The current key\n"
       "keeps signing until the new record is seen in DNS (domain recheck or\n"
       "verify); then the new key signs, and the old one retires once the new\n"
       "one has been active for --retire-after days (its key file is removed;\n"
       "its record may then go). One new key per algorithm at a time. With\n"
       "--ed25519 the same for the domain's Ed25519 key; for a domain without\n"
       "one, this starts it: once seen, mail carries a second signature,\n"
       "ed25519-sha256, beside the RSA one.",
       cmd_domain_rotate_dkim},
      {"domain recheck", "", 0, 0,
       {{"grace", "HOURS", "how long a verified domain's token may be missing (default 72)"},
        {"retire-after", "DAYS", "how long an old DKIM key stays after a new one signs (default 7)"}},
       "check every domain's token in DNS again (run from a timer)",
       "Asks DNS again for the token of every domain not verified manually. A\n"
       "verified domain whose token is gone is logged; once it has been gone\n"
       "for --grace hours it LAPSES: audited, logged, and the milter refuses\n"
       "its From until the token is back. A lapsed or pending domain whose\n"
       "token is found is verified. A domain DNS did not answer for is left as\n"
       "it is (exit 75): an outage never lapses a domain.",
       cmd_domain_recheck},
      {"tracking set", "WS | --account USER", 0, 1,
       {{"opens", "on|off", "track opens (the account: also inherit)"},
        {"clicks", "off|html|all", "track clicks in HTML, or in plain text too (the account: also inherit)"},
        {"domain", "DOMAIN", "the workspace's own tracking host (a CNAME to the relay's); verify it next"},
        {"no-domain", nullptr, "back to the relay's tracking host"},
        {"account", "USER", "set USER's overrides instead of the workspace's settings"}},
       "set a workspace's open and click tracking, or an account's overrides",
       "Tracking is off until a workspace turns it on. --opens on adds an\n"
       "invisible image to each HTML message; --clicks html rewrites the links\n"
       "of HTML parts (all: plain-text parts too) to pass through the relay's\n"
       "tracking host. With --account USER, the account's own setting wins over\n"
       "the workspace's (inherit: back to the workspace's). A message may turn\n"
       "either off with the header X-Migo-Track: opens=no, clicks=no (or choose\n"
       "clicks=html-only or all when clicks are on); the header is removed.\n"
       "--domain gives the workspace its own tracking host, used once migoctl\n"
       "tracking verify finds its token in DNS.",
       cmd_tracking_set},
      {"tracking show", "WS", 1, 1, {}, "show a workspace's tracking settings and account overrides",
       "Shows opens, clicks and the tracking host of WS, and every account\n"
       "whose own setting differs from the workspace's.",
       cmd_tracking_show},
      {"tracking verify", "WS", 1, 1, {}, "verify a workspace's own tracking domain in DNS",
       "Asks DNS for _migo-verify.DOMAIN of the workspace's tracking domain and\n"
       "for DOMAIN's CNAME, and marks it verified only if the TXT carries the\n"
       "token tracking set printed and the CNAME names --tracking-host (the\n"
       "relay's tracking host, as migo-milter's --tracking-host); exits 1\n"
       "otherwise, saying which is missing or wrong, 75 if DNS did not answer.",
       cmd_tracking_verify},
      {"domain list", "WS", 1, 1, {}, "list a workspace's sending domains", "Lists WS's domains.", cmd_domain_list},
      {"domain remove", "WS DOMAIN", 2, 2, {}, "remove a sending domain",
       "Removes DOMAIN from WS; mail from it is refused from then on.", cmd_domain_remove},
      {"account create", "WS", 1, 1, {{"name", "LABEL", "the account's label, e.g. \"Production App\" (required)"}},
       "create an SMTP account and print its credentials once",
       "Creates an SMTP account in WS with a generated username (smtpuser_ and\n"
       "16 lowercase letters and digits) and a generated 32-character password,\n"
       "and prints both. The password is printed only this once: only salted\n"
       "verifiers are stored. Refused at the plan's account limit.",
       cmd_account_create},
      {"account list", "[WS]", 0, 1,
       {{"dormant", "DAYS", "only accounts not used (or, if never used, not created) in DAYS days"},
        {"sort", "created|last-used|name", "the order (default: created for one workspace, last-used for all)"}},
       "list SMTP accounts: a workspace's, or every workspace's",
       "Lists label, username, status, total sent, created and last used; without\n"
       "WS, every workspace's accounts with their workspace, least recently used\n"
       "first (never used ones first, oldest first), which with --dormant 60\n"
       "finds the accounts to delete to free plan slots.",
       cmd_account_list},
      {"account show", "USERNAME", 1, 1, {}, "show an SMTP account and its statistics",
       "Shows every property and statistic: status, created, last used, total\n"
       "sent, sent this month, delivered, bounced, deferred, complaints and the\n"
       "delivery rate, delivered / (delivered + bounced).",
       cmd_account_show},
      {"account disable", "USERNAME", 1, 1, {}, "refuse an account's AUTH and mail",
       "Disables the account. Its next AUTH gets 535 and, in a session already\n"
       "authenticated, its next recipient is refused. Credentials and statistics\n"
       "are kept. No Postfix reload is needed.",
       cmd_account_disable},
      {"account enable", "USERNAME", 1, 1, {}, "allow a disabled account again",
       "Enables the account; its credentials work again at the next AUTH.", cmd_account_enable},
      {"account reset-password", "USERNAME", 1, 1, {}, "replace the password and print the new one once",
       "Generates a new password, prints it once and stores only its verifiers;\n"
       "the old password stops working at the next AUTH.",
       cmd_account_reset_password},
      {"account rename", "USERNAME LABEL", 2, 2, {}, "change an account's label",
       "Changes the label; the username and password stay.", cmd_account_rename},
      {"account delete", "USERNAME", 1, 1,
       {{"confirm", "LABEL", "the account's label, to confirm (required)"},
        {"force", nullptr, "delete even while its messages are queued"}},
       "delete an SMTP account",
       "Deletes the account, its credentials and its statistics. Refused unless\n"
       "--confirm repeats its label exactly, and while messages it sent are\n"
       "still in Postfix's queue (per the queue map) unless --force.",
       cmd_account_delete},
      {"ingest-dsn", "[FILE]", 0, 1,
       {{"key", "FILE", "the tag key (default /etc/migo/tag.key, as migo-milter)"},
        {"accept-malformed", nullptr, "exit 0 for a report that is not a DSN (pipe transports)"},
        {"return-path", "ADDRESS", "the address the DSN came to (a pipe's ${original_recipient})"}},
       "count a receiver's bounce (RFC 3464 DSN)",
       "Reads one delivery status notification from FILE (or standard input)\n"
       "and finds the X-Migo-Tag of the message it returns. When the tag's\n"
       "signature verifies, every recipient with Action: failed is counted as\n"
       "bounced for the tagged account (and leaves delivered, where the relay\n"
       "had counted it). A bounce already counted, from this or Postfix's log,\n"
       "is not counted again. Reports without a verifying tag are counted as\n"
       "unattributed (migoctl stats), never against an account. Exit 1 (or 0\n"
       "with --accept-malformed) when the input is not a DSN. With\n"
       "--return-path, a DSN sent to the relay's return path (b<token>@bounce.\n"
       "DOMAIN) is attributed by the token even when it quotes no headers.",
       cmd_ingest_dsn},
      {"ingest-arf", "[FILE]", 0, 1,
       {{"key", "FILE", "the tag key (default /etc/migo/tag.key, as migo-milter)"},
        {"accept-malformed", nullptr, "exit 0 for a report that is not ARF (pipe transports)"}},
       "count a complaint (RFC 5965 feedback report)",
       "Reads one ARF report from FILE (or standard input). With a verifying\n"
       "tag in the reported message, Feedback-Type abuse, fraud, virus or other\n"
       "adds one complaint to the tagged account, once per message and\n"
       "Original-Rcpt-To; not-spam and auth-failure are shown, not counted.",
       cmd_ingest_arf},
      {"stats", "", 0, 0,
       {{"check", nullptr, "one line and a monitoring exit code: 0 OK, 1 WARNING, 2 CRITICAL"},
        {"max-lag", "SECONDS", "how long uncounted log lines may wait (default 300)"}},
       "show the statistics pipeline's own counters and health",
       "Shows where migo-statd stands in each log file it follows, and the\n"
       "store-wide counters: log lines read, malformed, attributed and\n"
       "unattributed outcomes, refunds, and reports ingested by result.\n"
       "Health is CRITICAL when migo-statd says it cannot read its log\n"
       "(statd.failing_since), or when a followed log has lines it has not\n"
       "counted and its position has not moved for --max-lag seconds.",
       cmd_stats},
      {"shared init", "", 0, 0, {},
       "make the shared state of several relays from this relay's store",
       "Several relays behind one name share their plans, workspaces, domains\n"
       "and accounts through Redis (docs/several-relays.md). This makes that\n"
       "shared state, once, from this store's rows (change 1); the store then\n"
       "follows it. Every other relay joins with migo-syncd, which fills its\n"
       "store from a snapshot and applies every later change. From then on,\n"
       "changes on any relay are made with --redis (or --redis-file), which\n"
       "publishes each one only if Redis is where this store is, so two admins\n"
       "on two relays never make conflicting changes. Refused if Redis already\n"
       "holds a shared state.",
       cmd_shared_init},
      {"shared restore", "", 0, 0, {},
       "put the shared state back into a Redis that lost it, from this store",
       "When Redis lost everything (restarted without persistence, replaced),\n"
       "the relays keep serving from their stores and migo-syncd says there\n"
       "is no shared state. This writes it back from this store: its rows,\n"
       "under the id and change number the store is at, so relays at that\n"
       "number carry on, relays behind rebuild from it, and relays ahead say\n"
       "Redis is behind. Run it on the relay furthest ahead (shared status on\n"
       "each says where it is). Refused while Redis holds a shared state.",
       cmd_shared_restore},
      {"shared status", "", 0, 0, {},
       "show where this relay and the others stand in the shared state",
       "The shared state's id and last change, this store's position (in\n"
       "step, behind, ahead of Redis, or following another), and every relay\n"
       "that reported its statistics, with its position and when.",
       cmd_shared_status},
      {"shared sync", "", 0, 0,
       {{"replace", nullptr, "rebuild a store that holds records of its own, follows another shared state or is ahead of Redis"}},
       "bring this store up to date with the shared state now",
       "What migo-syncd does every moment, once: the change sets after this\n"
       "store's position, in order, or a snapshot for a new store or one that\n"
       "fell behind what Redis keeps.",
       cmd_shared_sync},
      {"check", "", 0, 0,
       {{"policy", "ADDR", "migo-policyd's socket (default unix:/var/spool/postfix/migo-policyd/policy; none: skip)"},
        {"milter", "ADDR", "migo-milter's socket (default unix:/var/spool/postfix/migo/milter; none: skip)"},
        {"tag-key", "FILE", "the tag key (default /etc/migo/tag.key; none: skip)"},
        {"max-lag", "SECONDS", "how long uncounted log lines may wait (default 300)"},
        {"timeout", "MS", "how long each daemon may take to answer (default 3000)"}},
       "check the relay's health, for a monitoring system (Nagios exit codes)",
       "Opens and reads the store (WARNING at 80% of its size limit or of its\n"
       "reader slots, CRITICAL at 90%), asks migo-policyd an unauthenticated\n"
       "RCPT question over its socket (no limit or statistic moves),\n"
       "negotiates with migo-milter as an MTA does, reads the tag key, and\n"
       "judges migo-statd's position as stats --check does. Prints one line,\n"
       "the worst first, with performance data after '|', and exits 0 OK,\n"
       "1 WARNING or 2 CRITICAL.\n"
       "Run it as a user that can read the store and the key and reach the\n"
       "sockets (root, or a member of migo and postfix).",
       cmd_check},
      {"metrics", "", 0, 0,
       {{"output", "FILE", "write FILE atomically (node-exporter's textfile collector) instead of standard output"},
        {"include-dir", "DIR", "add the daemons' own metrics files, DIR/*.prom written in the last 5 minutes"}},
       "print the store's metrics in Prometheus' text format",
       "Store size, map limit and reader slots; workspaces, accounts by status\n"
       "and domains by state; messages accepted, recipient outcomes, complaints\n"
       "and tracking events summed over all accounts; migo-statd's counters,\n"
       "whether it is failing and how long since its position moved; reports\n"
       "ingested by kind and result. Conventional names (migo_..._total, base\n"
       "units) and bounded labels: no account, workspace or domain is a label.\n"
       "With --output FILE (e.g. /var/lib/prometheus/node-exporter/migo.prom)\n"
       "the file is replaced whole, never seen half-written. With --include-dir\n"
       "the daemons' own counters follow (migo-policyd's decisions and limit\n"
       "refusals, migo-milter's outcomes), from their --metrics-file.",
       cmd_metrics},
      {"audit", "[WS]", 0, 1, {}, "show the audit log",
       "Shows every administrative change, oldest first: when, by which OS\n"
       "user, in which workspace, what. Never a password or verifier.",
       cmd_audit},
  };
  return k;
}

const std::vector<OptionSpec> kGlobalOptions = {
    {"db", "PATH", "the store directory (default: $MIGO_DB, else /var/lib/migo)"},
    {"json", nullptr, "print the result (or the error) as JSON on standard output"},
    {"resolver", "HOST[:PORT]", "the DNS server domain checks ask (default: /etc/resolv.conf's)"},
    {"dkim-keys", "DIR", "where DKIM private keys are written (default /etc/migo/dkim)"},
    {"relay-host", "HOST", "the relay's host name in DNS records: MX of bounce domains (default: this host)"},
    {"tracking-host", "HOST", "the relay's tracking host, which own tracking domains must CNAME to"},
    {"relay-spf", "MECHANISM", "how SPF names the relay (default a:HOST), e.g. include:_spf.example.net"},
    {"redis", "URL", "several relays: make changes through their shared state at this Redis\n"
                     "(redis://[USER:PASSWORD@]HOST:PORT or unix:PATH), and sum statistics over relays"},
    {"redis-file", "FILE", "as --redis, the URL read from FILE (kept out of ps); default $MIGO_REDIS_FILE, else\n"
                           "/etc/migo/redis-state.url if it exists (the role writes it on a relay of several)"},
    {"relay", "NAME", "this relay's name in the shared state (default: the host name)"},
    {"seal-key", "FILE", "several relays: the key that seals DKIM private keys for the others (default /etc/migo/dkim-seal.key)"},
    {"help", nullptr, "show help for migoctl or for the command"},
};

// Options that are required for a command, by path.
const std::map<std::string, std::vector<std::string>> kRequired = {
    {"workspace create", {"plan"}},
    {"account create", {"name"}},
    {"account delete", {"confirm"}},
    {"tracking verify", {"tracking-host"}},
};

std::string option_lines(const std::vector<OptionSpec>& opts) {
  std::string s;
  for (const auto& o : opts) {
    std::string left = std::string("  --") + o.name + (o.value ? std::string(" ") + o.value : "");
    if (left.size() < 24) left.append(24 - left.size(), ' ');
    else left += "\n" + std::string(24, ' ');
    s += left + o.help + "\n";
  }
  return s;
}

std::string command_help(const Command& c) {
  std::string s = "Usage: migoctl [--db PATH] [--json] " + std::string(c.path);
  if (*c.synopsis) s += std::string(" ") + c.synopsis;
  for (const auto& o : c.options) {
    bool req = kRequired.count(c.path) && std::count(kRequired.at(c.path).begin(), kRequired.at(c.path).end(), o.name);
    std::string opt = std::string("--") + o.name + (o.value ? std::string(" ") + o.value : "");
    s += req ? " " + opt : " [" + opt + "]";
  }
  s += "\n\n" + std::string(c.summary) + ".\n\n" + c.description + "\n";
  if (!c.options.empty()) s += "\nOptions:\n" + option_lines(c.options);
  s += "\nGlobal options:\n" + option_lines(kGlobalOptions);
  return s;
}

// migoctl's own text, shared by --help and the man page (--man): one
// source, so the two never disagree.
const char kSummary[] = "administer the migo-relay store: plans, workspaces, sending domains and SMTP accounts";
const char kDescription[] =
    "migo-relay turns Postfix into a multi-tenant relay. A workspace has a\n"
    "plan, verified sending domains, and hourly, daily and monthly limits\n"
    "shared by all its SMTP accounts. migoctl changes the store that the\n"
    "SASL plugin, the policy daemon and the milter read; changes take\n"
    "effect at the next AUTH or recipient, with no Postfix reload. Every\n"
    "change is recorded in the audit log.\n";
const char kEnvironment[] = "  MIGO_DB                 the store directory when --db is not given\n";
const char kExitStatus[] =
    "  0   success\n"
    "  1   refused: a rule, limit or confirmation forbids it, or it names\n"
    "      something that does not exist or already exists\n"
    "  2   usage error: unknown command or option, missing or extra argument\n"
    "  75  temporary failure: the store is unavailable, damaged or not\n"
    "      initialised (EX_TEMPFAIL); nothing was changed\n";
const char kExamples[] =
    "  migoctl init\n"
    "  migoctl workspace create acme --plan 10k\n"
    "  migoctl domain add acme example.com    (then publish the records it prints)\n"
    "  migoctl domain verify acme example.com\n"
    "  migoctl account create acme --name \"Production App\"\n"
    "  migoctl --json account show smtpuser_k3v9x0m2q8r4t1zz\n"
    "  migoctl account list acme --dormant 60\n";

std::string indent2(const std::string& text) {
  std::string out;
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    out += (nl > at ? "  " : "") + text.substr(at, nl - at) + "\n";
    at = nl + 1;
  }
  return out;
}

std::string main_help() {
  std::string s = "NAME\n  migoctl - " + std::string(kSummary) +
                  "\n\nSYNOPSIS\n"
                  "  migoctl [--db PATH] [--json] COMMAND [ARGUMENTS] [OPTIONS]\n"
                  "  migoctl COMMAND --help\n\n"
                  "DESCRIPTION\n" +
                  indent2(kDescription) + "\nCOMMANDS\n";
  for (const auto& c : commands()) {
    std::string left = std::string("  ") + c.path + (*c.synopsis ? std::string(" ") + c.synopsis : "");
    if (left.size() < 34) left.append(34 - left.size(), ' ');
    else left += "\n" + std::string(34, ' ');
    s += left + c.summary + "\n";
  }
  s += "\nOPTIONS\n" + option_lines(kGlobalOptions) +
       "  --version               print the version\n\n"
       "ENVIRONMENT\n" + std::string(kEnvironment) + "\nEXIT STATUS\n" + kExitStatus + "\nEXAMPLES\n" + kExamples +
       "\nSEE ALSO\n  migo-policyd(8), migo-milter(8), migo-statd(8), migo-trackd(8)\n";
  return s;
}

// bash completion, written from the command table (migoctl --completion):
// commands word by word, each command's options and the global ones; an
// option's value is never taken for a command word, and paths complete as
// files.
std::string bash_completion() {
  std::map<std::string, std::set<std::string>> next;  // words typed so far -> the words that may follow
  std::set<std::string> valued;                     // options that take a value
  for (const auto& o : kGlobalOptions)
    if (o.value) valued.insert(std::string("--") + o.name);
  std::vector<const Command*> by_length;
  for (const auto& c : commands()) {
    std::string so_far;
    std::string path = c.path;
    for (size_t at = 0; at <= path.size();) {
      size_t sp = std::min(path.find(' ', at), path.size());
      next[so_far].insert(path.substr(at, sp - at));
      so_far += (so_far.empty() ? "" : " ") + path.substr(at, sp - at);
      at = sp + 1;
    }
    for (const auto& o : c.options)
      if (o.value) valued.insert(std::string("--") + o.name);
    by_length.push_back(&c);
  }
  std::stable_sort(by_length.begin(), by_length.end(),
                   [](const Command* a, const Command* b) { return std::strlen(a->path) > std::strlen(b->path); });
  auto words = [](const std::set<std::string>& w) {
    std::string out;
    for (const auto& x : w) out += (out.empty() ? "" : " ") + x;
    return out;
  };
  std::string globals;
  for (const auto& o : kGlobalOptions) globals += (globals.empty() ? "--" : " --") + std::string(o.name);
  std::string s =
      "# bash completion for migoctl(8): generated by migoctl --completion from its\n"
      "# command table; do not edit.\n"
      "_migoctl() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} i skip=0\n"
      "  local -a words=()\n"
      "  case \"$prev\" in\n"
      "    --db|--dkim-keys|--output|--include-dir|--tag-key|--redis-file|--seal-key) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
      "  esac\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    local w=${COMP_WORDS[i]}\n"
      "    if ((skip)); then skip=0; continue; fi\n"
      "    case \"$w\" in\n"
      "      --*=*) ;;\n"
      "      " + [&] {
        std::string v;
        for (const auto& o : valued) v += (v.empty() ? "" : "|") + o;
        return v;
      }() + ") skip=1 ;;\n"
      "      -*) ;;\n"
      "      *) words+=(\"$w\") ;;\n"
      "    esac\n"
      "  done\n"
      "  local line=\" ${words[*]} \" opts=\"\"\n"
      "  case \"$line\" in\n";
  for (const Command* c : by_length) {
    std::string opts;
    for (const auto& o : c->options) opts += (opts.empty() ? "--" : " --") + std::string(o.name);
    s += "    \" " + std::string(c->path) + " \"*) opts=\"" + opts + " " + globals + "\" ;;\n";
  }
  s += "    *)\n      case \"${words[*]}\" in\n";
  for (const auto& [typed, following] : next)
    s += "        \"" + typed + "\") opts=\"" + words(following) + (typed.empty() ? " " + globals : "") + "\" ;;\n";
  s += "      esac ;;\n  esac\n  COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n}\ncomplete -F _migoctl migoctl\n";
  return s;
}

// migoctl(8): the same text as --help and every command's --help.
std::string man_page() {
  auto options = [](const std::vector<OptionSpec>& opts) {
    std::string out;
    for (const auto& o : opts)
      out += ".TP\n\\fB\\-\\-" + man_escape(o.name, true) + "\\fR" +
             (o.value ? " \\fI" + man_escape(o.value, true) + "\\fR" : "") + "\n" + man_text(o.help);
    return out;
  };
  std::string s = ".\\\" Generated by migoctl --man from the text of its --help; do not edit.\n";
  s += ".TH MIGOCTL 8 \"\" \"migo-relay " + std::string(MIGO_VERSION) + "\" \"migo-relay\"\n";
  s += ".SH NAME\nmigoctl \\- " + man_escape(kSummary) + "\n";
  s += ".SH SYNOPSIS\n.B migoctl\n[\\-\\-db \\fIPATH\\fR] [\\-\\-json] \\fICOMMAND\\fR [\\fIARGUMENTS\\fR] "
       "[\\fIOPTIONS\\fR]\n.br\n.B migoctl\n\\fICOMMAND\\fR \\-\\-help\n";
  s += ".SH DESCRIPTION\n" + man_text(kDescription);
  s += ".SH COMMANDS\n";
  for (const auto& c : commands()) {
    s += ".SS \"" + man_escape(std::string(c.path) + (*c.synopsis ? std::string(" ") + c.synopsis : ""), true) + "\"\n";
    s += man_escape(std::string(c.summary) + ".") + "\n.PP\n" + man_text(c.description);
    if (!c.options.empty()) s += options(c.options);
  }
  s += ".SH OPTIONS\n" + options(kGlobalOptions);
  s += ".TP\n\\fB\\-\\-version\\fR\nPrint the version.\n";
  s += ".SH ENVIRONMENT\n" + man_text(kEnvironment);
  s += ".SH \"EXIT STATUS\"\n" + man_text(kExitStatus);
  s += ".SH EXAMPLES\n" + man_text(kExamples);
  s += ".SH \"SEE ALSO\"\nmigo\\-policyd(8), migo\\-milter(8), migo\\-statd(8), migo\\-trackd(8)\n";
  return s;
}

const OptionSpec* find_option(const Command* c, const std::string& name) {
  for (const auto& o : kGlobalOptions)
    if (name == o.name) return &o;
  if (c)
    for (const auto& o : c->options)
      if (name == o.name) return &o;
  return nullptr;
}

// Whether option NAME takes a value. Decided before the command is known
// (a value may look like a command word), so an option name must mean the
// same thing in every command — kept true by having one table per name.
bool takes_value(const std::string& name) {
  for (const auto& o : kGlobalOptions)
    if (name == o.name) return o.value != nullptr;
  for (const auto& c : commands())
    for (const auto& o : c.options)
      if (name == o.name) return o.value != nullptr;
  return false;
}

// Splits argv into the command and its arguments. Options may come anywhere.
const Command* parse(int argc, char** argv, Args* args) {
  bool options_done = false;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; i++) {
    std::string w = argv[i];
    if (!options_done && w == "--") {
      options_done = true;
      continue;
    }
    if (!options_done && (w == "-h" || (w.size() > 2 && w.compare(0, 2, "--") == 0))) {
      std::string name = w == "-h" ? "help" : w.substr(2);
      std::optional<std::string> value;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (takes_value(name)) {
        if (i + 1 >= argc) throw UsageError{"--" + name + " needs a value"};
        value = argv[++i];
      }
      if (value) {
        if (args->opt.count(name)) throw UsageError{"--" + name + " given twice"};
        args->opt[name] = *value;
      } else {
        args->flags.insert(name);
      }
      continue;
    }
    if (!options_done && w.size() > 1 && w[0] == '-') throw UsageError{"unknown option '" + w + "'"};
    positional.push_back(w);
  }
  const Command* cmd = nullptr;
  // The longest command path that the leading positionals spell.
  size_t best = 0;
  for (const auto& c : commands()) {
    std::vector<std::string> path;
    for (size_t s = 0, e; s <= std::strlen(c.path); s = e + 1) {
      e = std::string(c.path).find(' ', s);
      if (e == std::string::npos) e = std::strlen(c.path);
      path.push_back(std::string(c.path).substr(s, e - s));
    }
    if (path.size() > positional.size() || path.size() <= best) continue;
    if (std::equal(path.begin(), path.end(), positional.begin())) {
      cmd = &c;
      best = path.size();
    }
  }
  if (cmd) args->pos.assign(positional.begin() + static_cast<long>(best), positional.end());
  else args->pos = positional;
  return cmd;
}

}  // namespace

// A usage error of `who` ("migoctl" or "migoctl COMMAND"): the message and
// a hint on stderr, as always; under --json also an error object on stdout,
// as every other failure has, so a script reading JSON never meets an empty
// answer.
static int usage_error(std::ostream& out, std::ostream& err, bool json, const std::string& who,
                       const std::string& msg) {
  if (json) out << error_json("usage", msg).dump() << "\n";
  err << who << ": " << msg << "\nTry '" << who << " --help'.\n";
  return kExitUsage;
}

int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Args args;
  const Command* cmd = nullptr;
  try {
    cmd = parse(argc, argv, &args);
  } catch (const UsageError& e) {
    // The parse stopped short: --json may be anywhere among the words.
    const bool json = std::any_of(argv + 1, argv + argc, [](const char* w) { return std::strcmp(w, "--json") == 0; });
    return usage_error(out, err, json, "migoctl", e.message);
  }
  const bool json = args.has("json");
  if (args.has("man")) {
    out << man_page();
    return kExitOk;
  }
  if (args.has("completion")) {
    out << bash_completion();
    return kExitOk;
  }
  if (args.has("version")) {
    out << "migoctl " << MIGO_VERSION << " (store schema " << kSchemaVersion << ")\n";
    return kExitOk;
  }
  if (!cmd) {
    auto usage = [&](const std::string& msg) { return usage_error(out, err, json, "migoctl", msg); };
    // Without a command only global options are known here.
    auto global = [](const std::string& n) {
      return std::any_of(kGlobalOptions.begin(), kGlobalOptions.end(), [&](const OptionSpec& o) { return n == o.name; });
    };
    for (const auto& f : args.flags)
      if (!global(f)) return usage("unknown option '--" + f + "'");
    for (const auto& [n, v] : args.opt)
      if (!global(n)) return usage("unknown option '--" + n + "'");
    if (args.has("help") || args.pos.empty()) {
      if (args.pos.empty() && !args.has("help")) {
        if (json) return usage("no command given");
        err << main_help();
        return kExitUsage;
      }
      out << main_help();
      return kExitOk;
    }
    std::string words;
    for (const auto& p : args.pos) words += (words.empty() ? "" : " ") + p;
    return usage("unknown command '" + words + "'");
  }
  if (args.has("help")) {
    out << command_help(*cmd);
    return kExitOk;
  }
  auto usage = [&](const std::string& msg) {
    return usage_error(out, err, json, "migoctl " + std::string(cmd->path), msg);
  };
  for (const auto& [name, value] : args.opt) {
    const OptionSpec* o = find_option(cmd, name);
    if (!o) return usage("unknown option '--" + name + "'");
    if (!o->value) return usage("--" + name + " takes no value");
  }
  for (const auto& name : args.flags) {
    if (name == "version" || name == "man" || name == "completion") continue;
    const OptionSpec* o = find_option(cmd, name);
    if (!o) return usage("unknown option '--" + name + "'");
    if (o->value) return usage("--" + name + " needs a value");
  }
  if (auto it = kRequired.find(cmd->path); it != kRequired.end())
    for (const auto& r : it->second)
      if (!args.get(r)) return usage("--" + r + " is required");
  if (args.pos.size() < cmd->min_pos) return usage("missing argument (" + std::string(cmd->synopsis) + ")");
  if (args.pos.size() > cmd->max_pos) return usage("unexpected argument '" + args.pos[cmd->max_pos] + "'");

  Context ctx{out, err, "", json, static_cast<int64_t>(time(nullptr)), nullptr};
  ctx.db = store_path(args.get("db") ? *args.get("db") : "");
  if (args.get("resolver")) ctx.resolver = *args.get("resolver");
  ctx.dkim_keys = args.get("dkim-keys") ? *args.get("dkim-keys") : kDefaultDkimKeyDir;
  // A relay of several has its shared state's URL in a file the role
  // writes: used by default, so an admin (and the DNS re-check timer) need
  // not name it; MIGO_REDIS_FILE names another, or "none".
  std::string redis_file = args.get("redis-file") ? *args.get("redis-file") : "";
  if (redis_file.empty() && !args.get("redis")) {
    const char* env = getenv("MIGO_REDIS_FILE");
    if (env && *env) redis_file = std::strcmp(env, "none") == 0 ? "" : env;
    else if (access(kDefaultRedisStateFile, F_OK) == 0) redis_file = kDefaultRedisStateFile;
  }
  if (args.get("redis") || !redis_file.empty()) {
    std::vector<RedisEndpoint> seeds;
    if (!redis_file.empty()) {
      auto r = read_redis_urls(redis_file);
      if (!r.ok()) return ctx.fail(r.status());
      seeds = std::move(*r);
    }
    if (const std::string* u = args.get("redis")) {
      auto e = parse_redis_url(*u);
      if (!e.ok()) return usage(e.status().message());
      seeds.push_back(std::move(*e));
    }
    auto client = RedisClient::lazy(seeds, RedisOptions{5000, 0});
    if (!client.ok()) return ctx.fail(client.status());
    ctx.shared.emplace(std::move(*client));
    // A connection Redis closed is an error to report, not the end.
    signal(SIGPIPE, SIG_IGN);
  }
  ctx.seal_key = args.get("seal-key") ? *args.get("seal-key") : "/etc/migo/dkim-seal.key";
  ctx.relay = args.get("relay") ? *args.get("relay") : host_name();
  try {
    return cmd->handler(ctx, args);
  } catch (const UsageError& e) {
    return usage(e.message);
  } catch (const std::exception& e) {
    return ctx.fail({Code::unavailable, std::string("internal error: ") + e.what()});
  }
}

}  // namespace migo::cli
