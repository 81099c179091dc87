// graft/graph/detail/pool.hpp - a free-list pool for small fixed-size records (graph use edges).
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

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
  ~Pool() = default;  // T must be trivially destructible: slots are released wholesale

  template <typename... A>
  T* make(A&&... a) {
    static_assert(std::is_trivially_destructible_v<T>, "Pool holds trivially destructible records");
    void* slot;
    if (free_) {
      slot = free_;
      free_ = free_->next;
    } else {
      if (chunks_.empty() || used_ == ChunkSize) {
        chunks_.push_back(std::make_unique<Slot[]>(ChunkSize));
        used_ = 0;
      }
      slot = &chunks_.back()[used_++];
    }
    return ::new (slot) T{std::forward<A>(a)...};
  }

  void release(T* p) noexcept {
    Slot* s = reinterpret_cast<Slot*>(p);
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
  std::vector<std::unique_ptr<Slot[]>> chunks_;
  std::size_t used_ = 0;
  Slot* free_ = nullptr;
};

}  // namespace graft::detail
