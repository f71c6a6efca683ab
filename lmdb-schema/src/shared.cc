// shared.cc — see migo/shared.h.
#include "migo/shared.h"

#include <map>

#include "migo/codec.h"

namespace migo {
namespace {

constexpr uint8_t kChangesVersion = 1;
constexpr std::string_view kOriginKey = "shared.origin";
constexpr std::string_view kSeqKey = "shared.seq";

// The shared tables in the order a snapshot is compared.
constexpr const char* kSharedTables[] = {"plans",   "workspaces", "workspace_names",   "domains",
                                         "accounts", "usernames", "workspace_accounts"};

}  // namespace

std::string encode_changes(const std::vector<SharedChange>& changes) {
  Encoder e;
  e.u8(kChangesVersion).u32(static_cast<uint32_t>(changes.size()));
  for (const SharedChange& c : changes) e.u8(static_cast<uint8_t>(c.op)).str(c.table).str(c.key).str(c.value);
  return std::move(e).bytes();
}

Status decode_changes(std::string_view in, std::vector<SharedChange>* changes) {
  Decoder d(in, "change set");
  changes->clear();
  if (d.u8() != kChangesVersion || d.failed()) return {Code::corrupt, "a change set of an unknown version"};
  uint32_t n = d.u32();
  // Each change takes at least 13 bytes: a count beyond that is a lie.
  if (d.failed() || n > in.size() / 13) return {Code::corrupt, "a change set's count is damaged"};
  for (uint32_t i = 0; i < n; i++) {
    SharedChange c;
    uint8_t op = d.u8();
    c.table = d.str();
    c.key = d.str();
    c.value = d.str();
    if (d.failed()) break;
    if (op < 1 || op > 3) return {Code::corrupt, "a change set names an unknown operation"};
    c.op = static_cast<SharedChange::Op>(op);
    changes->push_back(std::move(c));
  }
  return d.finish();
}

Result<SharedPosition> shared_position(const ReadTxn& t) {
  SharedPosition p;
  auto origin = t.meta(kOriginKey);
  if (!origin.ok()) {
    if (origin.status().code() != Code::not_found) return origin.status();
    return p;
  }
  p.origin = *origin;
  auto seq = t.meta(kSeqKey);
  if (!seq.ok()) return seq.status().code() == Code::not_found ? Status(Code::corrupt, "shared.seq is missing") : seq.status();
  Decoder d(*seq, "shared.seq");
  p.seq = d.u64();
  MIGO_TRY(d.finish());
  return p;
}

Status set_shared_position(WriteTxn& t, const SharedPosition& p) {
  MIGO_TRY(t.set_meta(kOriginKey, p.origin));
  return t.set_meta(kSeqKey, Encoder().u64(p.seq).bytes());
}

namespace {
Status apply_one(WriteTxn& t, const SharedChange& c) {
  switch (c.op) {
    case SharedChange::Op::put: return t.put_row(c.table, c.key, c.value);
    case SharedChange::Op::erase: return t.erase_row(c.table, c.key);
    case SharedChange::Op::append: {
      if (c.table != "audit") return {Code::corrupt, "a change set appends to table '" + c.table + "'"};
      AuditEntry e;
      MIGO_TRY(decode(c.value, &e));
      return t.append_audit(e);
    }
  }
  return {Code::corrupt, "a change of an unknown kind"};
}
}  // namespace

Result<bool> apply_change_set(WriteTxn& t, const std::string& origin, uint64_t seq,
                              const std::vector<SharedChange>& changes) {
  auto at = shared_position(t);
  if (!at.ok()) return at.status();
  if (at->origin != origin)
    return Status(Code::refused, "the store follows shared state '" + at->origin + "', not '" + origin + "'");
  if (seq <= at->seq) return false;
  if (seq != at->seq + 1)
    return Status(Code::refused, "change " + std::to_string(seq) + " follows " + std::to_string(at->seq) +
                                     ": the ones between are missing");
  for (const SharedChange& c : changes) MIGO_TRY(apply_one(t, c));
  MIGO_TRY(set_shared_position(t, {origin, seq}));
  return true;
}

Result<std::vector<SharedChange>> shared_rows(const ReadTxn& t) {
  std::vector<SharedChange> rows;
  for (const char* table : kSharedTables)
    MIGO_TRY(t.scan_table(table, [&](std::string_view k, std::string_view v) {
      rows.push_back({SharedChange::Op::put, table, std::string(k), std::string(v)});
      return true;
    }));
  return rows;
}

Status replace_shared_rows(WriteTxn& t, const std::string& origin, uint64_t seq, const std::vector<SharedChange>& rows,
                           size_t* changed) {
  size_t n = 0;
  std::map<std::pair<std::string, std::string>, const std::string*> wanted;
  for (const SharedChange& r : rows) {
    if (r.op != SharedChange::Op::put || !is_shared_table(r.table))
      return {Code::corrupt, "a snapshot holds a row of table '" + r.table + "'"};
    wanted[{r.table, r.key}] = &r.value;
  }
  for (const char* table : kSharedTables) {
    std::vector<std::string> gone;
    std::map<std::string, std::string> have;
    MIGO_TRY(t.scan_table(table, [&](std::string_view k, std::string_view v) {
      auto it = wanted.find({table, std::string(k)});
      if (it == wanted.end()) gone.emplace_back(k);
      else have.emplace(std::string(k), std::string(v));
      return true;
    }));
    for (const std::string& k : gone) {
      MIGO_TRY(t.erase_row(table, k));
      // An account no relay has any more takes its statistics with it.
      if (std::string_view(table) == "accounts") MIGO_TRY(t.erase_row("stats", k));
      n++;
    }
    for (auto it = wanted.lower_bound({table, ""}); it != wanted.end() && it->first.first == table; ++it) {
      auto h = have.find(it->first.second);
      if (h != have.end() && h->second == *it->second) continue;
      MIGO_TRY(t.put_row(table, it->first.second, *it->second));
      n++;
    }
  }
  if (changed) *changed = n;
  return set_shared_position(t, {origin, seq});
}

}  // namespace migo
