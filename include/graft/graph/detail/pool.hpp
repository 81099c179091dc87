// graft/graph/detail/pool.hpp - a free-list pool for fixed-size objects (graph nodes and use edges).
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "graft/graph/detail/chunk_cache.hpp"
#include "graft/graph/detail/reserve.hpp"

namespace graft::detail {

// Allocates T in chunks and recycles freed slots; everything is released with the pool.
// Not thread-safe: a graph is mutated by one thread at a time.
template <typename T, std::size_t ChunkSize = 1024>
class Pool {
 public:
  Pool() = default;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  Pool(Pool&& other) noexcept { swap(other); }
  Pool& operator=(Pool&& other) noexcept {
    Pool tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  // Storage only: live objects must have been destroyed by their owner. The chunks go to the
  // thread's chunk cache, for the next graph.
  ~Pool() {
    for (Slot* c : chunks_) give_chunk(c, sizeof(Slot) * ChunkSize);
  }

  // Constructs a trivially destructible record.
  template <typename... A>
  T* make(A&&... a) {
    static_assert(std::is_trivially_destructible_v<T>, "make/release: records must be trivially destructible");
    return ::new (allocate()) T{std::forward<A>(a)...};
  }
  void release(T* p) noexcept { deallocate(p); }

  // Raw storage for one T, for objects the caller constructs and destroys itself. Slots handed
  // out one after another are adjacent in memory, so walking them in creation order is cheap.
  void* allocate() {
    if (free_) {
      Slot* s = free_;
      free_ = free_->next;
      return s;
    }
    if (chunks_.empty() || used_ == ChunkSize) {
      reserve_one_more(chunks_);  // so that push_back cannot throw
      // Uninitialised: slots are constructed on use.
      chunks_.push_back(static_cast<Slot*>(take_chunk(sizeof(Slot) * ChunkSize)));
      used_ = 0;
    }
    return &chunks_.back()[used_++];
  }
  void deallocate(void* p) noexcept {
    Slot* s = static_cast<Slot*>(p);
    s->next = free_;
    free_ = s;
  }

  void swap(Pool& o) noexcept {
    chunks_.swap(o.chunks_);
    std::swap(used_, o.used_);
    std::swap(free_, o.free_);
  }

 private:
  union Slot {
    Slot* next;
    alignas(T) unsigned char storage[sizeof(T)];
  };
  std::vector<Slot*> chunks_;
  std::size_t used_ = 0;
  Slot* free_ = nullptr;
};

}  // namespace graft::detail
