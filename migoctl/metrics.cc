// metrics.cc — see metrics.h.
#include "metrics.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "check.h"     // bytes_behind
#include "follower.h"  // the counters' names
#include "prometheus.h"

namespace migo {
namespace {

// One metric family: HELP, TYPE and its samples.
struct Family {
  std::string name, help, type;
  std::vector<MetricSample> samples;
};

std::string render(const std::vector<Family>& families) {
  std::string out;
  for (const Family& f : families) out += prometheus_family(f.name, f.help, f.type, f.samples);
  return out;
}

// The store's own counters (written by migo-statd, ingest and trackd) and
// what each becomes: counter name in the store -> metric.
struct CounterMetric {
  const char* store_name;
  const char* metric;
  const char* help;
};
const CounterMetric kCounters[] = {
    {kLogLines, "migo_statd_log_lines_total", "Postfix log lines migo-statd has read."},
    {kLogMalformed, "migo_statd_log_malformed_total", "Lines shaped like Postfix's results but damaged."},
    {kLogAttributed, "migo_statd_outcomes_attributed_total", "Delivery outcomes counted for an account."},
    {kLogUnattributed, "migo_statd_outcomes_unattributed_total", "Delivery outcomes for queue ids of no account."},
    {kLogRefunded, "migo_statd_refunds_total", "Messages refused after the policy counted them, given back."},
    {kSaslFailures, "migo_sasl_auth_failures_total", "Failed SMTP AUTHs, as Postfix's smtpd logs them."},
    {kJournalUntrusted, "migo_statd_journal_untrusted_total",
     "Journal entries with a Postfix tag not written by Postfix, ignored."},
    {kRetentionQueue, "migo_statd_retention_queue_entries_total", "Queue map entries forgotten by age."},
    {kRetentionReports, "migo_statd_retention_report_keys_total", "Report keys forgotten by age."},
};

}  // namespace

Result<std::string> render_metrics(const Store& store, int64_t now) {
  auto u = store.usage();
  if (!u.ok()) return u.status();
  std::vector<Family> f;
  f.push_back({"migo_store_used_bytes", "Bytes of the store's map in use.", "gauge", {{"", u->used_bytes}}});
  f.push_back({"migo_store_map_bytes", "Bytes of the store's map as mapped now.", "gauge", {{"", u->map_bytes}}});
  f.push_back({"migo_store_map_limit_bytes", "The most the store's map may grow to.", "gauge", {{"", u->max_map_bytes}}});
  f.push_back({"migo_store_readers", "Reader slots of the store held now.", "gauge", {{"", u->readers_used}}});
  f.push_back({"migo_store_reader_slots", "Reader slots of the store in all.", "gauge", {{"", u->max_readers}}});
  Status s = store.read([&](const ReadTxn& t) -> Status {
    auto ws = t.workspaces();
    if (!ws.ok()) return ws.status();
    uint64_t active = 0, disabled = 0, domains_verified = 0, domains_other = 0;
    AccountStats sum;
    for (const Workspace& w : *ws) {
      auto accts = t.accounts(w.id);
      if (!accts.ok()) return accts.status();
      for (const Account& a : *accts) {
        (a.status == AccountStatus::active ? active : disabled)++;
        auto st = t.stats(a.id);
        if (!st.ok()) return st.status();
        sum.add(*st);
      }
      auto ds = t.domains(w.id);
      if (!ds.ok()) return ds.status();
      for (const Domain& d : *ds) (d.verified ? domains_verified : domains_other)++;
    }
    f.push_back({"migo_workspaces", "Workspaces.", "gauge", {{"", ws->size()}}});
    f.push_back({"migo_accounts", "SMTP accounts by status.", "gauge",
                 {{"{status=\"active\"}", active}, {"{status=\"disabled\"}", disabled}}});
    f.push_back({"migo_domains", "Sending domains by state.", "gauge",
                 {{"{state=\"verified\"}", domains_verified}, {"{state=\"unverified\"}", domains_other}}});
    f.push_back({"migo_recipients_accepted_total", "Recipients accepted by the policy daemon (total sent, all accounts).", "counter",
                 {{"", sum.total_sent}}});
    f.push_back({"migo_recipient_outcomes_total", "Delivery outcomes per recipient, all accounts.", "counter",
                 {{"{outcome=\"delivered\"}", sum.delivered},
                  {"{outcome=\"bounced\"}", sum.bounced},
                  {"{outcome=\"deferred\"}", sum.deferred}}});
    f.push_back({"migo_complaints_total", "Complaints (ARF reports), all accounts.", "counter", {{"", sum.complaints}}});
    f.push_back({"migo_tracking_opens_total", "Opens counted by migo-trackd, all accounts.", "counter",
                 {{"{by=\"person\"}", sum.opens}, {"{by=\"machine\"}", sum.machine_opens}}});
    f.push_back({"migo_tracking_unique_opens_total", "People's first open of each message.", "counter",
                 {{"", sum.unique_opens}}});
    f.push_back({"migo_tracking_clicks_total", "Clicks counted by migo-trackd, all accounts.", "counter",
                 {{"{by=\"person\"}", sum.clicks}, {"{by=\"machine\"}", sum.machine_clicks}}});
    f.push_back({"migo_tracking_unique_clicks_total", "People's first click of each link.", "counter",
                 {{"", sum.unique_clicks}}});
    auto cs = t.counters();
    if (!cs.ok()) return cs.status();
    std::map<std::string, uint64_t> counters(cs->begin(), cs->end());
    for (const CounterMetric& c : kCounters)
      f.push_back({c.metric, c.help, "counter", {{"", counters.count(c.store_name) ? counters[c.store_name] : 0}}});
    // reports.KIND.RESULT (stats/ingest.cc): kind dsn or arf, and a result
    // from a fixed list the code writes.
    std::vector<MetricSample> reports;
    for (const auto& [name, v] : counters) {
      if (name.rfind("reports.", 0) != 0 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz._") != std::string::npos)
        continue;
      size_t dot = name.find('.', 8);
      if (dot == std::string::npos) continue;
      reports.push_back({"{kind=\"" + name.substr(8, dot - 8) + "\",result=\"" + name.substr(dot + 1) + "\"}", v});
    }
    if (!reports.empty())
      f.push_back({"migo_reports_ingested_total", "DSN and ARF reports fed to migoctl, by result.", "counter", reports});
    const uint64_t failing = counters.count(kStatdFailingSince) ? counters[kStatdFailingSince] : 0;
    f.push_back({"migo_statd_failing", "1 while migo-statd cannot read its log.", "gauge", {{"", failing ? 1u : 0u}}});
    auto ps = t.follow_positions();
    if (!ps.ok()) return ps.status();
    // The oldest position's age: how long migo-statd has not moved (0 with
    // no position yet). Per source, not per file: a bounded label.
    // Lag, for a log file: the bytes past the position, and how long they
    // have waited (the position's age while any are behind; 0 when caught
    // up, however long the log has been quiet).
    uint64_t file_age = 0, journal_age = 0, lag_bytes = 0, lag_seconds = 0;
    for (const auto& [path, p] : *ps) {
      uint64_t age = now > p.updated ? static_cast<uint64_t>(now - p.updated) : 0;
      if (path.rfind("journal:", 0) == 0) {
        journal_age = std::max(journal_age, age);
        continue;
      }
      file_age = std::max(file_age, age);
      if (uint64_t behind = bytes_behind(path, p); behind > 0) {
        lag_bytes += behind;
        lag_seconds = std::max(lag_seconds, age);
      }
    }
    f.push_back({"migo_statd_position_age_seconds", "Seconds since migo-statd last moved its position, by source.",
                 "gauge", {{"{source=\"file\"}", file_age}, {"{source=\"journal\"}", journal_age}}});
    f.push_back({"migo_statd_lag_bytes", "Bytes of the mail log migo-statd has not counted yet.", "gauge",
                 {{"", lag_bytes}}});
    f.push_back({"migo_statd_lag_seconds", "How long the oldest uncounted bytes of the mail log have waited.", "gauge",
                 {{"", lag_seconds}}});
    return {};
  });
  if (!s.ok()) return s;
  return render(f);
}

std::string daemon_metrics(const std::string& dir, int64_t now, int64_t max_age) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".prom" && e.is_regular_file(ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string out;
  for (const std::string& f : files) {
    struct stat st;
    // A stopped daemon's last file would look alive: left out once stale.
    if (stat(f.c_str(), &st) != 0 || now - st.st_mtime > max_age) continue;
    std::ifstream in(f, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (text.size() > (1 << 20)) continue;
    if (!text.empty() && text.back() != '\n') text += '\n';
    out += text;
  }
  return out;
}

}  // namespace migo
