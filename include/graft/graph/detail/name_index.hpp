// graft/graph/detail/name_index.hpp - the graph's name index: node name -> node.
//
// FX names the nodes a pass creates "<base>_<n>" with n counting up per base ("mul_17",
// "mul_18", ...). A hash table puts consecutive names in random slots, so over a big graph every
// name chosen costs a cache miss (and, while the table grows, page faults). Here a numbered name
// lives in an array of its base indexed by its number instead: consecutive names are adjacent, a
// lookup is one small-table probe for the base (a few dozen bases, always in cache) and one array
// read, and an entry takes 8 bytes instead of the hash table's 24-50. Every other name (bare
// bases, parameter paths, numbers written with a leading zero, and numbers far beyond their
// base's array) lives in the hash table. A name is in one store or the other; lookups read both
// where needed.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "graft/graph/detail/string_table.hpp"

namespace graft {
class Node;
}

namespace graft::detail {

// name -> node, or a reserved name (one an erased node had: names are never reused), shown as a
// null node. Not thread-safe, like the graph.
class NameIndex {
 public:
  static constexpr std::uint32_t kMaxNumber = 1000000000;  // numbers have at most 9 digits

  // A name "<base>_<n>" with a non-empty base and n in [1, 10^9) written without a leading
  // zero, split into its base and number; false for any other name.
  static bool split_numbered(std::string_view name, std::string_view& base, std::uint32_t& num) noexcept {
    std::size_t i = name.size();
    while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9') --i;
    const std::size_t digits = name.size() - i;
    if (digits == 0 || digits > 9 || i < 2 || name[i - 1] != '_' || name[i] == '0') return false;
    std::uint32_t n = 0;
    for (std::size_t k = i; k < name.size(); ++k) n = n * 10 + static_cast<std::uint32_t>(name[k] - '0');
    base = name.substr(0, i - 1);
    num = n;
    return true;
  }

  // A name, split and located once for the calls below (which also take the name itself).
  struct Key {
    std::string_view name;
    std::uint32_t num = 0;         // 0: not a numbered name (it lives in the hash table)
    std::uint32_t base = kNoBase;  // the base's entry, when numbered and the base has one
    std::size_t base_len = 0;      // name.substr(0, base_len) is the base, when numbered
    std::uint64_t hash = 0;        // hash_string(name) when `hashed`
    bool hashed = false;
    std::uint64_t name_hash() const noexcept { return hashed ? hash : hash_string(name); }
  };
  static constexpr std::uint32_t kNoBase = static_cast<std::uint32_t>(-1);

  NameIndex() = default;
  NameIndex(const NameIndex&) = delete;
  NameIndex& operator=(const NameIndex&) = delete;

  // Names indexed (live and reserved).
  std::size_t size() const noexcept { return size_; }
  // Makes room for the names `other` keeps in its hash table (a copy of its graph is coming).
  void reserve_like(const NameIndex& other) { table_.reserve_more(other.table_.size()); }

  // Slots of all the per-base arrays (free ones included): their memory is 8 bytes a slot.
  std::size_t array_slots() const noexcept {
    std::size_t n = 0;
    for (const Base& b : base_data_) n += b.slots.size();
    return n;
  }

  // `name` split and located. The other forms are for a caller that has split the name already:
  // `name` is base + "_" + num (num >= 1, no leading zero) and `base_hash` is hash_string(base);
  // or `name` is not numbered and `hash` is hash_string(name).
  Key key(std::string_view name) const noexcept {
    Key k{name};
    std::string_view base;
    std::uint32_t num = 0;
    if (split_numbered(name, base, num)) {
      k.num = num;
      k.base_len = base.size();
      if (const auto* b = bases_.find(base)) k.base = b->value;
    } else {
      k.hash = hash_string(name);  // the hash table's key: hashed once for every call below
      k.hashed = true;
    }
    return k;
  }
  // `base_id`, when not kNoBase, is the base's entry as an earlier Key for the same base had it
  // (entries never move or go; the caller may remember it).
  Key key(std::string_view name, std::size_t base_len, std::uint64_t base_hash, std::uint64_t num,
          std::uint32_t base_id = kNoBase) const noexcept {
    Key k{name};
    if (base_len == 0 || num == 0 || num >= kMaxNumber) return k;
    k.num = static_cast<std::uint32_t>(num);
    k.base_len = base_len;
    if (base_id != kNoBase) k.base = base_id;
    else if (const auto* b = bases_.find(name.substr(0, base_len), base_hash)) k.base = b->value;
    return k;
  }

  Key key_unnumbered(std::string_view name, std::uint64_t hash) const noexcept {
    Key k{name};
    k.hash = hash;
    k.hashed = true;
    return k;
  }

  // Whether the name is taken (by a live node or a reserved name); `*node` is its node (null
  // when reserved).
  bool lookup(const Key& k, Node** node = nullptr) const noexcept {
    if (Node* const* slot = array_slot(k)) {
      if (node) *node = *slot == reserved_mark() ? nullptr : *slot;
      return true;
    }
    if (!may_be_in_table(k)) return false;
    const auto* s = table_.find(k.name, k.name_hash());
    if (!s) return false;
    if (node) *node = s->value;
    return true;
  }
  bool lookup(std::string_view name, Node** node = nullptr) const noexcept { return lookup(key(name), node); }
  // The live node called `name`, or null.
  Node* find(std::string_view name) const noexcept {
    Node* n = nullptr;
    return lookup(name, &n) ? n : nullptr;
  }

  // Obtains the memory that insert(k) needs, so that it cannot throw; changes no lookup (it may
  // add the base's entry: `k` is updated). A numbered name beyond its base's array grows the
  // array to hold it while the array stays under twice the names it holds (plus 8); one further
  // out goes to the hash table. So no choice of names (a graph file's, say) makes an array much
  // longer than its names.
  void prepare_insert(Key& k) {
    if (k.num != 0) {
      if (k.base == kNoBase) k.base = base_id(k.name.substr(0, k.base_len));
      Base& d = base_data_[k.base];
      if (k.num < d.slots.size()) return;
      if (k.num < 2 * (d.held + 1) + 8) {
        if (k.num >= d.slots.capacity())
          d.slots.reserve(std::max<std::size_t>(2 * d.slots.capacity(), std::size_t{k.num} + 1));
        if (k.num == d.slots.size()) d.slots.push_back(nullptr);  // the usual case: the next number
        else d.slots.resize(std::size_t{k.num} + 1, nullptr);
        return;
      }
    }
    table_.reserve_more(1);
  }
  // Adds the name (absent) -> `node` (null: reserved), keyed in the hash table by `stored` (the
  // same characters as k.name, readable while indexed; see unpin; k.name itself is not read, so
  // it may be gone by now). Cannot throw once
  // prepare_insert(k) ran, or when the name was indexed before and erased since (a rollback puts
  // names back without allocating).
  void insert(const Key& k, std::string_view stored, Node* node) noexcept {
    ++size_;
    if (k.num != 0) {
      Base& d = base_data_[k.base];  // made by prepare_insert, or when the name was first indexed
      if (k.num < d.slots.size()) {
        d.slots[k.num] = node ? node : reserved_mark();
        ++d.held;
        return;
      }
      ++d.overflow;
    }
    table_.insert_new(stored, k.hashed ? k.hash : hash_string(stored), node);
  }
  // The two steps at once, for a name that stays readable while indexed.
  void insert(std::string_view name, Node* node) {
    Key k = key(name);
    prepare_insert(k);
    insert(k, name, node);
  }
  // Puts back a name that was indexed and erased since (a rollback): cannot throw.
  void reinsert(std::string_view name, Node* node) noexcept { insert(key(name), name, node); }
  // Points `name` (present) at `node` (null: reserved).
  void set(std::string_view name, Node* node) noexcept {
    const Key k = key(name);
    if (Node** slot = array_slot(k)) *slot = node ? node : reserved_mark();
    else table_.find(name, k.name_hash())->value = node;
  }
  // Removes `name`; false when it was not there.
  bool erase(std::string_view name) noexcept {
    const Key k = key(name);
    if (Node** slot = array_slot(k)) {
      *slot = nullptr;
      --base_data_[k.base].held;
    } else {
      if (!may_be_in_table(k) || !table_.erase(name)) return false;
      if (k.num != 0) --base_data_[k.base].overflow;
    }
    --size_;
    return true;
  }
  // `name` is about to be freed while it stays indexed (a purged node's reserved name): the
  // hash table's key moves into `arena`. (The arrays keep no keys.)
  void unpin(const std::string& name, CharArena& arena) {
    if (auto* s = table_.find(name); s && s->key == name.data()) s->key = arena.store(name).data();
  }

  // Calls f(name) for every reserved name.
  template <typename F>
  void for_each_reserved(F&& f) const {
    table_.for_each([&](const auto& s) {
      if (!s.value) f(s.key_view());
    });
    std::string buf;
    bases_.for_each([&](const auto& s) {
      const Base& d = base_data_[s.value];
      for (std::size_t i = 0; i < d.slots.size(); ++i) {
        if (d.slots[i] != reserved_mark()) continue;
        char digits[16];
        const auto* end = std::to_chars(digits, digits + sizeof digits, i).ptr;
        buf.assign(s.key_view()).append(1, '_').append(digits, static_cast<std::size_t>(end - digits));
        f(std::string_view(buf));
      }
    });
  }

  void clear() noexcept {
    table_.clear();
    bases_.clear();
    base_data_.clear();
    base_keys_.clear();
    size_ = 0;
  }
  void swap(NameIndex& o) noexcept {
    table_.swap(o.table_);
    bases_.swap(o.bases_);
    base_data_.swap(o.base_data_);
    base_keys_.swap(o.base_keys_);
    std::swap(size_, o.size_);
  }

 private:
  struct Base {
    std::vector<Node*> slots;   // by number: null when free, reserved_mark() when reserved
    std::size_t held = 0;       // names in `slots`
    std::size_t overflow = 0;   // names of this base in the hash table
  };
  // Marks a reserved name in an array (never dereferenced; no node lives at address 1).
  static Node* reserved_mark() noexcept { return reinterpret_cast<Node*>(std::uintptr_t{1}); }

  // The array slot holding the name, or null when the name is not in an array.
  Node* const* array_slot(const Key& k) const noexcept {
    if (k.num == 0 || k.base == kNoBase) return nullptr;
    const Base& d = base_data_[k.base];
    return k.num < d.slots.size() && d.slots[k.num] != nullptr ? &d.slots[k.num] : nullptr;
  }
  Node** array_slot(const Key& k) noexcept {
    return const_cast<Node**>(static_cast<const NameIndex*>(this)->array_slot(k));
  }
  // Whether a name not in an array may be in the hash table: a numbered one only when its base
  // has names there (a numbered name always has its base's entry).
  bool may_be_in_table(const Key& k) const noexcept {
    return k.num == 0 || (k.base != kNoBase && base_data_[k.base].overflow != 0);
  }

  // The base's entry, made when missing.
  std::uint32_t base_id(std::string_view base) {
    const std::uint64_t h = hash_string(base);
    if (const auto* s = bases_.find(base, h)) return s->value;
    bases_.reserve_more(1);
    base_data_.emplace_back();
    const auto id = static_cast<std::uint32_t>(base_data_.size() - 1);
    try {
      bases_.insert_new(base_keys_.store(base), h, id);
    } catch (...) {
      base_data_.pop_back();
      throw;
    }
    return id;
  }

  StringTable<Node*> table_;          // every name not in an array; keys as in StringTable
  StringTable<std::uint32_t> bases_;  // base -> index into base_data_
  std::vector<Base> base_data_;
  CharArena base_keys_;
  std::size_t size_ = 0;
};

}  // namespace graft::detail
