// graft/graph/detail/string_table.hpp - a flat string-keyed hash table and a character arena,
// for the graph's name index and FX naming counters.
//
// The table does not own its keys: each slot points at characters the caller keeps alive (a
// node's own name, or a CharArena). Open addressing with linear probing, deletion by backward
// shift (no tombstones), each slot caching 32 bits of the key's hash so that a probe compares
// strings only on a likely hit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <string_view>
#include <utility>
#include <vector>

namespace graft::detail {

// A fast 64-bit hash of a short string (8 bytes a step, then a full avalanche).
inline std::uint64_t hash_string(std::string_view s) noexcept {
  constexpr std::uint64_t kMul = 0x9FB21C651E98DF25ull;
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(n) * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    // The last 1-7 bytes with fixed-size reads (a variable-length memcpy is a library call):
    // two overlapping 4-byte reads, or first, middle and last byte. The length is in h already.
    std::uint64_t w;
    if (n >= 4) {
      std::uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + n - 4, 4);
      w = static_cast<std::uint64_t>(lo) | (static_cast<std::uint64_t>(hi) << 32);
    } else {
      w = static_cast<std::uint64_t>(static_cast<unsigned char>(p[0])) |
          (static_cast<std::uint64_t>(static_cast<unsigned char>(p[n / 2])) << 8) |
          (static_cast<std::uint64_t>(static_cast<unsigned char>(p[n - 1])) << 16);
    }
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

// Append-only storage for strings that must outlive their first owner; freed all at once.
class CharArena {
 public:
  CharArena() = default;
  CharArena(const CharArena&) = delete;
  CharArena& operator=(const CharArena&) = delete;
  CharArena(CharArena&& o) noexcept { swap(o); }
  CharArena& operator=(CharArena&& o) noexcept {
    CharArena tmp(std::move(o));
    swap(tmp);
    return *this;
  }

  // A stable copy of `s` (never a null pointer, even for an empty string).
  std::string_view store(std::string_view s) {
    if (s.empty()) return std::string_view(kEmpty, 0);
    if (s.size() > left_) {
      std::size_t size = s.size() > kChunk / 4 ? s.size() : kChunk;
      chunks_.push_back(std::make_unique<char[]>(size));
      cur_ = chunks_.back().get();
      left_ = size;
    }
    char* out = cur_;
    std::memcpy(out, s.data(), s.size());
    cur_ += s.size();
    left_ -= s.size();
    return std::string_view(out, s.size());
  }
  void clear() noexcept {
    chunks_.clear();
    cur_ = nullptr;
    left_ = 0;
  }
  void swap(CharArena& o) noexcept {
    chunks_.swap(o.chunks_);
    std::swap(cur_, o.cur_);
    std::swap(left_, o.left_);
  }

 private:
  static constexpr std::size_t kChunk = 16384;
  static constexpr char kEmpty[1] = {'\0'};
  std::vector<std::unique_ptr<char[]>> chunks_;
  char* cur_ = nullptr;
  std::size_t left_ = 0;
};

// string_view -> V. Keys are compared by content.
//
// Probing reads a dense array of one-byte tags (7 bits of the slot's hash, the top bit marking
// it used; 0 is empty) and touches a slot only on a likely hit (1 in 128 for a wrong key): a
// failed lookup, the common case when a name is being chosen, reads one cache line of tags (64
// slots) instead of one per slot probed, and the tags of a million names take 2-4 MiB, not the
// 24-32 MiB of the slots. Slots are constructed when filled; empty ones are never read.
template <typename V>
class StringTable {
  static_assert(std::is_trivially_copyable_v<V> && std::is_trivially_destructible_v<V>,
                "StringTable values are plain data");

 public:
  struct Slot {
    const char* key = nullptr;
    std::uint32_t len = 0;
    std::uint32_t hash = 0;  // low 32 bits of hash_string(key); the home slot is hash & mask
    V value{};
    std::string_view key_view() const noexcept { return std::string_view(key, len); }
  };

  StringTable() = default;
  StringTable(const StringTable&) = delete;
  StringTable& operator=(const StringTable&) = delete;
  StringTable(StringTable&& o) noexcept { swap(o); }
  StringTable& operator=(StringTable&& o) noexcept {
    StringTable tmp(std::move(o));
    swap(tmp);
    return *this;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // The slot holding `key`, or null. `h` is hash_string(key).
  Slot* find(std::string_view key, std::uint64_t h) const noexcept {
    if (size_ == 0) return nullptr;
    const auto hash = static_cast<std::uint32_t>(h);
    const std::uint8_t tag = tag_of(hash);
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const std::uint8_t t = tags_[i];
      if (t == 0) return nullptr;
      if (t == tag) {
        Slot& s = slot(i);
        if (s.hash == hash && s.len == key.size() && std::memcmp(s.key, key.data(), key.size()) == 0) return &s;
      }
    }
  }
  Slot* find(std::string_view key) const noexcept { return find(key, hash_string(key)); }
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }

  // Makes room for `n` more keys, so that the next `n` insert_new calls cannot throw.
  void reserve_more(std::size_t n = 1) {
    std::size_t need = size_ + n;
    // Load factor at most 1/2: a probe run is a few tags long, mostly within one cache line. (3/4
    // was measured: a little faster at 100 and 1000 conv-bn blocks, 8-13 % slower at 10^4.)
    if (need * 2 <= capacity()) return;
    std::size_t cap = capacity() ? capacity() : 16;
    while (need * 2 > cap) cap *= 2;
    rehash(cap);
  }

  // Inserts a key known to be absent; `key` must stay readable while the slot holds it. Call
  // reserve_more() first.
  Slot& insert_new(std::string_view key, std::uint64_t h, V value) noexcept {
    const auto hash = static_cast<std::uint32_t>(h);
    std::size_t i = hash & mask_;
    while (tags_[i]) i = (i + 1) & mask_;
    tags_[i] = tag_of(hash);
    Slot* s = ::new (static_cast<void*>(&slot(i))) Slot{key.data(), static_cast<std::uint32_t>(key.size()), hash, value};
    ++size_;
    return *s;
  }

  // Removes `key`; false when it was not there.
  bool erase(std::string_view key) noexcept {
    Slot* s = find(key);
    if (!s) return false;
    erase_slot(static_cast<std::size_t>(s - &slot(0)));
    return true;
  }

  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < capacity(); ++i)
      if (tags_[i]) f(slot(i));
  }

  void clear() noexcept {
    tags_.reset();
    slots_.reset();
    cap_ = 0;
    mask_ = 0;
    size_ = 0;
  }
  void swap(StringTable& o) noexcept {
    tags_.swap(o.tags_);
    slots_.swap(o.slots_);
    std::swap(cap_, o.cap_);
    std::swap(mask_, o.mask_);
    std::swap(size_, o.size_);
  }

 private:
  // The top 7 bits of the hash (the home slot uses the low bits) and the used bit.
  static constexpr std::uint8_t tag_of(std::uint32_t hash) noexcept {
    return static_cast<std::uint8_t>(0x80u | (hash >> 25));
  }
  // Raw storage: a slot is constructed by insert_new, and read only while its tag is set.
  struct Storage {
    alignas(Slot) unsigned char bytes[sizeof(Slot)];
  };

  std::size_t capacity() const noexcept { return cap_; }
  Slot& slot(std::size_t i) const noexcept { return *std::launder(reinterpret_cast<Slot*>(slots_[i].bytes)); }

  void rehash(std::size_t cap) {
    std::unique_ptr<std::uint8_t[]> fresh_tags(new std::uint8_t[cap]());
    std::unique_ptr<Storage[]> fresh(new Storage[cap]);
    std::unique_ptr<std::uint8_t[]> old_tags = std::move(tags_);
    std::unique_ptr<Storage[]> old = std::move(slots_);
    const std::size_t old_cap = cap_;
    tags_ = std::move(fresh_tags);
    slots_ = std::move(fresh);
    cap_ = cap;
    mask_ = cap - 1;
    for (std::size_t j = 0; j < old_cap; ++j) {
      if (!old_tags[j]) continue;
      const Slot& s = *std::launder(reinterpret_cast<const Slot*>(old[j].bytes));
      std::size_t i = s.hash & mask_;
      while (tags_[i]) i = (i + 1) & mask_;
      tags_[i] = old_tags[j];
      ::new (static_cast<void*>(slots_[i].bytes)) Slot(s);
    }
  }

  // Backward-shift deletion: later slots of the same probe run move up, so lookups never need
  // tombstones.
  void erase_slot(std::size_t i) noexcept {
    for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (!tags_[j]) break;
      const Slot& s = slot(j);
      std::size_t home = s.hash & mask_;
      // Move s into the hole at i when its home is not in the cyclic range (i, j].
      bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        ::new (static_cast<void*>(slots_[i].bytes)) Slot(s);
        tags_[i] = tags_[j];
        i = j;
      }
    }
    tags_[i] = 0;
    --size_;
  }

  std::unique_ptr<std::uint8_t[]> tags_;  // 0: empty; else tag_of(the slot's hash)
  std::unique_ptr<Storage[]> slots_;
  std::size_t cap_ = 0;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace graft::detail
