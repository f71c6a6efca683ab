// metrics.h — `migoctl metrics`: what the store knows, in Prometheus' text
// format (exposition format 0.0.4), for node-exporter's textfile collector
// or any scraper. Names follow Prometheus' conventions: a migo_ prefix,
// _total for counters, base units (bytes, seconds), and bounded labels
// only — never an account, workspace, address or domain as a label (sums
// over all accounts; a label's values are a fixed, short list).
#pragma once

#include <string>

#include "migo/store.h"

namespace migo {

// The exposition text, or the reason the store could not be read.
Result<std::string> render_metrics(const Store& store, int64_t now);

// The daemons' own metrics files (*.prom in `dir`, written by their
// --metrics-file), those modified in the last `max_age` seconds, one after
// another.
std::string daemon_metrics(const std::string& dir, int64_t now, int64_t max_age = 300);

}  // namespace migo
