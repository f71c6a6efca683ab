// shared.h — the records every relay of a cluster shares, and how a change
// to them travels (docs/several-relays.md).
//
// Shared: plans, workspaces, domains, accounts and their indexes
// (workspace_names, usernames, workspace_accounts), and the audit log. Not
// shared: usage, statistics, queue, positions, counters, reports — each
// relay records those where they happen.
//
// `migoctl --redis` runs an operation with its writes captured
// (WriteTxn::capture), publishes the captured change set to Redis, and
// applies it; `migo-syncd` applies the change sets of every other relay,
// in order (apply_change_set), or rebuilds from a snapshot of every shared
// row (replace_shared_rows) when it is new or fell behind. A change is rows
// as bytes, the store's own encodings: nothing is re-interpreted on the
// way, and only verifiers ever travel (the store holds no password).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "migo/store.h"

namespace migo {

struct SharedChange {
  enum class Op : uint8_t {
    put = 1,     // the row is `value`
    erase = 2,   // the row is gone
    append = 3,  // an audit entry (`value`), appended under the next local number
  };
  Op op = Op::put;
  std::string table;  // its name in SCHEMA.md
  std::string key, value;
  bool operator==(const SharedChange&) const = default;
};

// Whether `table` holds shared rows (the audit log is appended, not put).
bool is_shared_table(std::string_view table);

// A change set as bytes (for Redis's stream), and back; a damaged one is
// Code::corrupt.
std::string encode_changes(const std::vector<SharedChange>& changes);
Status decode_changes(std::string_view in, std::vector<SharedChange>* changes);

// Where this store is in the shared state: which one (a random origin id
// made when it was created) and the last change set applied. An empty
// origin: the store follows none (one relay).
struct SharedPosition {
  std::string origin;
  uint64_t seq = 0;
  bool operator==(const SharedPosition&) const = default;
};
Result<SharedPosition> shared_position(const ReadTxn& t);
Status set_shared_position(WriteTxn& t, const SharedPosition& p);

// Applies change set `seq` of `origin` if it is the next one: true. One
// applied already: false, nothing done (the stream may repeat itself).
// A gap, or another origin: Code::refused (rebuild from a snapshot).
Result<bool> apply_change_set(WriteTxn& t, const std::string& origin, uint64_t seq,
                              const std::vector<SharedChange>& changes);

// Every shared row (no audit entries), as put changes: what `shared init`
// publishes first.
Result<std::vector<SharedChange>> shared_rows(const ReadTxn& t);

// Makes the shared tables hold exactly `rows` (a snapshot at `seq` of
// `origin`): rows absent from it go (an account's statistics with it),
// rows that differ are written, and the position becomes (origin, seq).
// *changed (optional) counts the rows written or removed.
Status replace_shared_rows(WriteTxn& t, const std::string& origin, uint64_t seq, const std::vector<SharedChange>& rows,
                           size_t* changed = nullptr);

}  // namespace migo
