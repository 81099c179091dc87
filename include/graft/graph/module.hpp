// graft/graph/module.hpp - a graph plus the parameters and buffers its get_attr nodes name.
//
// `Module` is what the QAT passes and the interpreter take: a `Graph` and two `NamedTensors`
// tables (parameters and buffers, as PyTorch's named_parameters() / named_buffers()) that its
// get_attr nodes refer to by target. `lint()` checks the graph and that every get_attr names a
// tensor. Copying a Module copies its graph and tensors.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "graft/error.hpp"
#include "graft/fault.hpp"
#include "graft/graph/detail/string_table.hpp"
#include "graft/graph/graph.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft {

// Named tensors in insertion order (as PyTorch's named_parameters()), O(1) lookup and erase.
class NamedTensors {
 public:
  struct Entry {
    std::string name;
    Tensor tensor;
  };

  NamedTensors() = default;
  NamedTensors(const NamedTensors& o) : entries_(o.entries_), live_(o.live_) { reindex(); }
  NamedTensors& operator=(const NamedTensors& o) {
    if (this != &o) {
      NamedTensors tmp(o);
      swap(tmp);
    }
    return *this;
  }
  NamedTensors(NamedTensors&& o) noexcept { swap(o); }
  NamedTensors& operator=(NamedTensors&& o) noexcept {
    if (this != &o) {
      NamedTensors tmp(std::move(o));
      swap(tmp);
    }
    return *this;
  }
  // Exchanges two tables in O(1).
  void swap(NamedTensors& o) noexcept {
    entries_.swap(o.entries_);
    index_.swap(o.index_);
    keys_.swap(o.keys_);
    std::swap(live_, o.live_);
  }

  // Adds `name`; an error when it exists.
  Tensor& add(std::string name, Tensor t) {
    GRAFT_FAULT_POINT("module: tensor added");
    const std::uint64_t h = detail::hash_string(name);
    if (index_.find(name, h)) throw GraphError("tensor '" + name + "' already exists");
    index_.reserve_more();
    const std::string_view key = keys_.store(name);
    entries_.push_back(Slot{Entry{std::move(name), std::move(t)}, true, key.data()});
    index_.insert_new(key, h, entries_.size() - 1);
    ++live_;
    return entries_.back().entry.tensor;
  }
  // Adds or replaces `name`.
  Tensor& set(std::string name, Tensor t) {
    if (Tensor* existing = find(name)) return *existing = std::move(t);
    return add(std::move(name), std::move(t));
  }
  // The tensor called `name`, or null.
  Tensor* find(std::string_view name) noexcept { return find(name, detail::hash_string(name)); }
  const Tensor* find(std::string_view name) const noexcept {
    return const_cast<NamedTensors*>(this)->find(name);
  }
  // The same, given the name's hash (detail::hash_string): a caller looking in several tables
  // hashes once.
  Tensor* find(std::string_view name, std::uint64_t hash) noexcept {
    const auto* s = index_.find(name, hash);
    return s ? &entries_[s->value].entry.tensor : nullptr;
  }
  const Tensor* find(std::string_view name, std::uint64_t hash) const noexcept {
    return const_cast<NamedTensors*>(this)->find(name, hash);
  }
  // Looks at the few entries from `cursor` on, in insertion order, before any hashing: a
  // caller reading tensors in the order they were added (a walk of an exported graph reads its
  // parameters that way) finds each one there, next to the last, instead of at a random slot
  // of the index (a cache miss per lookup on a large model). `cursor` is moved past the entry
  // found. Null, with `cursor` unchanged, when none of them is `name`; any cursor is safe.
  const Tensor* find_near(std::string_view name, std::size_t& cursor) const noexcept {
    constexpr std::size_t kWindow = 4;
    const std::size_t end = std::min(entries_.size(), cursor + kWindow);
    for (std::size_t i = cursor; i < end; ++i) {
      const Slot& s = entries_[i];
      // The copy of the name in keys_ (packed in insertion order, next to its neighbours'),
      // not the entry's own string (a heap block of its own when long).
      if (s.live && s.entry.name.size() == name.size() && std::string_view(s.key, name.size()) == name) {
        cursor = i + 1;
        return &s.entry.tensor;
      }
    }
    return nullptr;
  }
  // As find(name, hash), leaving `cursor` just past the entry found.
  const Tensor* find(std::string_view name, std::uint64_t hash, std::size_t& cursor) const noexcept {
    const auto* s = index_.find(name, hash);
    if (!s) return nullptr;
    cursor = s->value + 1;
    return &entries_[s->value].entry.tensor;
  }
  // Whether `name` exists.
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
  // The tensor called `name`; a GraphError naming it when absent.
  Tensor& at(std::string_view name) {
    if (Tensor* t = find(name)) return *t;
    throw GraphError("no tensor named '" + std::string(name) + "'");
  }
  const Tensor& at(std::string_view name) const { return const_cast<NamedTensors*>(this)->at(name); }
  // Removes `name`; false when absent.
  bool erase(std::string_view name) {
    const auto* found = index_.find(name);
    if (!found) return false;
    Slot& s = entries_[found->value];
    s.live = false;
    s.entry.tensor = Tensor();
    index_.erase(name);
    --live_;
    if (entries_.size() > 32 && live_ < entries_.size() / 2) compact();
    return true;
  }
  // The number of tensors, and whether there are none.
  std::size_t size() const noexcept { return live_; }
  bool empty() const noexcept { return live_ == 0; }

  // Calls f(const Entry&) in insertion order.
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : entries_)
      if (s.live) f(s.entry);
  }
  template <typename F>
  void for_each(F&& f) {
    for (Slot& s : entries_)
      if (s.live) f(s.entry);
  }
  // The names in insertion order.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(live_);
    for_each([&](const Entry& e) { out.push_back(e.name); });
    return out;
  }

  friend bool operator==(const NamedTensors& a, const NamedTensors& b) {
    if (a.live_ != b.live_) return false;
    bool same = true;
    a.for_each([&](const Entry& e) {
      const Tensor* t = b.find(e.name);
      same = same && t && *t == e.tensor;
    });
    return same && a.names() == b.names();
  }

 private:
  struct Slot {
    Entry entry;
    bool live;
    const char* key;  // entry.name's copy in keys_ (live slots)
  };
  // Drops erased slots. Everything that can throw comes first; the kept slots keep their keys
  // in keys_ (the erased names' bytes stay there until the next copy rebuilds it).
  void compact() {
    std::vector<Slot> kept;
    kept.reserve(live_);
    detail::StringTable<std::size_t> index;
    index.reserve_more(live_);
    for (Slot& s : entries_)
      if (s.live) {
        const std::string_view key(s.key, s.entry.name.size());
        index.insert_new(key, detail::hash_string(key), kept.size());
        kept.push_back(std::move(s));
      }
    entries_.swap(kept);
    index_.swap(index);
  }
  // Rebuilds the index (and its key storage, dropping erased names) from entries_.
  // (Only the copy constructor calls it: if it throws, the half-made copy is discarded.)
  void reindex() {
    detail::StringTable<std::size_t> index;
    detail::CharArena keys;
    index.reserve_more(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      Slot& s = entries_[i];
      s.key = nullptr;
      if (s.live) {
        std::string_view key = keys.store(s.entry.name);
        s.key = key.data();
        index.insert_new(key, detail::hash_string(key), i);
      }
    }
    index_.swap(index);
    keys_.swap(keys);
  }

  std::vector<Slot> entries_;
  // name -> position in entries_; keys point into keys_ (the entries move when entries_ grows).
  detail::StringTable<std::size_t> index_;
  detail::CharArena keys_;
  std::size_t live_ = 0;
};

// An exported program's graph with its state: `get_attr` targets name parameters or buffers.
struct Module {
  Graph graph;
  NamedTensors parameters;
  NamedTensors buffers;

  // The parameter or buffer a get_attr target names, or null.
  const Tensor* find_attr(std::string_view target) const noexcept {
    return const_cast<Module*>(this)->find_attr(target);
  }
  Tensor* find_attr(std::string_view target) noexcept {
    const std::uint64_t h = detail::hash_string(target);  // once, for both tables
    if (Tensor* t = parameters.find(target, h)) return t;
    return buffers.find(target, h);
  }
  // Where the last lookup through it found its tensor, in each table (see find_attr below).
  // Any value is safe; a fresh one starts at the first entries.
  struct AttrCursor {
    std::size_t parameter = 0;
    std::size_t buffer = 0;
  };
  // As find_attr(target), but looks first just past the tensors `cursor` found last: a pass
  // that reads parameters in graph order, on a graph whose parameters were added in that order
  // (as exported programs are), finds each next to the last instead of hashing into the tables.
  // Same answer as find_attr(target) for every cursor.
  const Tensor* find_attr(std::string_view target, AttrCursor& cursor) const noexcept {
    if (const Tensor* t = parameters.find_near(target, cursor.parameter)) return t;
    if (const Tensor* t = buffers.find_near(target, cursor.buffer)) return t;
    const std::uint64_t h = detail::hash_string(target);
    if (const Tensor* t = parameters.find(target, h, cursor.parameter)) return t;
    return buffers.find(target, h, cursor.buffer);
  }
  // The parameter or buffer a get_attr target names; a GraphError naming it otherwise.
  const Tensor& attr(std::string_view target) const {
    if (const Tensor* t = find_attr(target)) return *t;
    throw GraphError("no parameter or buffer named '" + std::string(target) + "'");
  }
  Tensor& attr(std::string_view target) {
    if (Tensor* t = find_attr(target)) return *t;
    throw GraphError("no parameter or buffer named '" + std::string(target) + "'");
  }
  // The tensor a get_attr node reads; an error naming the node otherwise.
  const Tensor& attr_of(const Node& get_attr_node) const {
    if (!get_attr_node.is_get_attr())
      throw GraphError("node " + get_attr_node.describe() + " is not a get_attr");
    if (const Tensor* t = find_attr(get_attr_node.target())) return *t;
    throw GraphError("get_attr node " + get_attr_node.describe() + " names '" +
                     std::string(get_attr_node.target()) + "', which is no parameter or buffer");
  }

  // `base` if no parameter or buffer has that name, else `base_1`, `base_2`, ...
  std::string unique_attr_name(std::string_view base) const {
    std::string name(base);
    for (std::size_t i = 1; find_attr(name); ++i) name = std::string(base) + "_" + std::to_string(i);
    return name;
  }

  // Graph problems plus: get_attr targets that name nothing, names both a parameter and a buffer.
  std::vector<std::string> lint_problems() const {
    std::vector<std::string> problems = graph.lint_problems();
    for (const Node* n : graph.nodes())
      if (n->is_get_attr() && !find_attr(n->target()))
        problems.push_back("get_attr node " + n->describe() + " names '" + std::string(n->target()) +
                           "', which is no parameter or buffer");
    parameters.for_each([&](const NamedTensors::Entry& e) {
      if (buffers.contains(e.name)) problems.push_back("'" + e.name + "' is both a parameter and a buffer");
    });
    return problems;
  }
  // Throws GraphError listing every problem lint_problems() finds.
  void lint() const {
    auto problems = lint_problems();
    if (problems.empty()) return;
    std::string msg = "module lint failed:";
    for (const auto& p : problems) msg += "\n  - " + p;
    throw GraphError(msg);
  }
};

}  // namespace graft
