// sync.cc — see sync.h.
#include "sync.h"

#include <chrono>
#include <random>
#include <thread>

namespace migo {
namespace {

// How often an admin change is tried while other changes keep coming first.
constexpr int kAttempts = 20;

Result<SharedPosition> position_of(const Store& store) {
  SharedPosition p;
  Status s = store.read([&](const ReadTxn& t) -> Status {
    auto r = shared_position(t);
    if (r.ok()) p = *r;
    return r.status();
  });
  if (!s.ok()) return s;
  return p;
}

Result<bool> holds_workspaces(const Store& store) {
  bool any = false;
  Status s = store.read([&](const ReadTxn& t) -> Status {
    auto w = t.workspaces();
    if (w.ok()) any = !w->empty();
    return w.status();
  });
  if (!s.ok()) return s;
  return any;
}

Result<SyncResult> rebuild(Store& store, SharedState& state) {
  auto snap = state.snapshot();
  if (!snap.ok()) return snap.status();
  if (snap->head.origin.empty()) return Status(Code::refused, "the shared state vanished while it was read");
  SyncResult r;
  Status s = store.write([&](WriteTxn& t) {
    return replace_shared_rows(t, snap->head.origin, snap->head.seq, snap->rows, &r.rows_changed);
  });
  if (!s.ok()) return s;
  r.rebuilt = true;
  r.at = {snap->head.origin, snap->head.seq};
  return r;
}

}  // namespace

Result<SyncResult> sync_store(Store& store, SharedState& state, const SyncOptions& o) {
  auto at = position_of(store);
  if (!at.ok()) return at.status();
  auto head = state.head();
  if (!head.ok()) return head.status();
  if (head->origin.empty())
    return Status(Code::refused, "there is no shared state at that Redis (make it from one relay's store: "
                                 "migoctl --redis URL shared init)");
  if (at->origin != head->origin) {
    if (!at->origin.empty() && !o.replace)
      return Status(Code::refused, "this store follows shared state " + at->origin + ", but Redis holds " + head->origin +
                                       " (--replace rebuilds the store from Redis)");
    if (at->origin.empty() && !o.replace) {
      auto own = holds_workspaces(store);
      if (!own.ok()) return own.status();
      if (*own)
        return Status(Code::refused, "this store holds workspaces of its own and follows no shared state: joining "
                                     "would replace them (--replace), or make the shared state from it (shared init)");
    }
    return rebuild(store, state);
  }
  if (at->seq > head->seq) {
    if (o.replace) return rebuild(store, state);
    return Status(Code::refused, "Redis is behind this store (change " + std::to_string(head->seq) + ", this store " +
                                     std::to_string(at->seq) + "): it lost change sets, as a failover may; "
                                     "--replace rebuilds the store from what Redis holds");
  }
  auto sets = state.read_after(at->seq, o.batch, head->seq > at->seq ? 0 : o.block_ms);
  if (!sets.ok()) return sets.status();
  SyncResult r;
  r.at = *at;
  if (sets->empty()) {
    // Nothing after our position, yet Redis is further: the stream was
    // trimmed past us.
    if (head->seq > at->seq) return rebuild(store, state);
    return r;
  }
  if (sets->front().seq != at->seq + 1) return rebuild(store, state);
  Status s = store.write([&](WriteTxn& t) -> Status {
    r.applied = 0;
    for (const ChangeSet& cs : *sets) {
      auto applied = apply_change_set(t, head->origin, cs.seq, cs.changes);
      if (!applied.ok()) return applied.status();
      if (*applied) r.applied++;
    }
    return {};
  });
  if (!s.ok()) return s;
  r.at.seq = sets->back().seq;
  return r;
}

Status shared_write(Store& store, SharedState& state, const std::string& relay, int64_t now,
                    const std::function<Status(WriteTxn&)>& fn) {
  // A relay whose migo-syncd has not joined yet joins here, as it would
  // (only a store without workspaces of its own).
  auto at_first = position_of(store);
  if (!at_first.ok()) return at_first.status();
  if (at_first->origin.empty())
    if (auto joined = sync_store(store, state); !joined.ok()) return joined.status();
  for (int attempt = 0; attempt < kAttempts; attempt++) {
    if (attempt > 0) {
      // Others are changing too: a moment (random, growing) before the next
      // try, so that two admins retrying in step do not collide again.
      std::uniform_int_distribution<int> ms(0, 2 * attempt);
      thread_local std::mt19937 rng{std::random_device{}()};
      std::this_thread::sleep_for(std::chrono::milliseconds(ms(rng)));
    }
    std::vector<SharedChange> changes;
    SharedPosition at;
    Status rehearsed = store.rehearse([&](WriteTxn& t) -> Status {
      changes.clear();
      auto p = shared_position(t);
      if (!p.ok()) return p.status();
      at = *p;
      if (at.origin.empty()) return Status(Code::refused, "this store follows no shared state");
      t.capture(&changes);
      return fn(t);
    });
    if (!rehearsed.ok()) return rehearsed;
    if (changes.empty()) return {};  // nothing to share (a no-op)
    auto seq = state.publish({at.origin, at.seq}, changes, relay, now);
    if (seq.ok()) {
      // Here too, now (migo-syncd would apply it a moment later anyway).
      Status s = store.write([&](WriteTxn& t) -> Status {
        auto applied = apply_change_set(t, at.origin, *seq, changes);
        return applied.status();
      });
      if (s.code() == Code::refused) {  // migo-syncd applied others first: catch up
        auto caught = sync_store(store, state);
        return caught.ok() ? Status() : caught.status();
      }
      return s;
    }
    if (seq.status().code() != Code::exists) return seq.status();
    auto caught = sync_store(store, state);  // another change came first
    if (!caught.ok()) return caught.status();
  }
  return Status(Code::unavailable, "the shared state kept changing under this change; try again");
}

Result<SharedHead> shared_init(Store& store, SharedState& state, const std::string& relay, int64_t now) {
  std::vector<SharedChange> rows;
  Status s = store.read([&](const ReadTxn& t) -> Status {
    auto p = shared_position(t);
    if (!p.ok()) return p.status();
    if (!p->origin.empty()) return Status(Code::exists, "this store follows shared state " + p->origin + " already");
    auto r = shared_rows(t);
    if (r.ok()) rows = std::move(*r);
    return r.status();
  });
  if (!s.ok()) return s;
  auto head = state.create(rows, relay, now);
  if (!head.ok()) return head.status();
  s = store.write([&](WriteTxn& t) { return set_shared_position(t, {head->origin, head->seq}); });
  if (!s.ok()) return s;
  return head;
}

Result<SharedHead> shared_restore(Store& store, SharedState& state, const std::string& relay, int64_t now) {
  std::vector<SharedChange> rows;
  SharedPosition at;
  Status s = store.read([&](const ReadTxn& t) -> Status {
    auto p = shared_position(t);
    if (!p.ok()) return p.status();
    at = *p;
    if (at.origin.empty()) return Status(Code::refused, "this store follows no shared state to restore (shared init makes one)");
    auto r = shared_rows(t);
    if (r.ok()) rows = std::move(*r);
    return r.status();
  });
  if (!s.ok()) return s;
  SharedHead as{at.origin, at.seq};
  return state.create(rows, relay, now, &as);
}

}  // namespace migo
