// graft/graph/detail/chunk_cache.hpp - blocks of graph memory kept for the next graph.
//
// A graph takes its nodes, use records, argument arrays and journal entries in chunks of a few
// tens of KiB. When a graph is destroyed, handing those chunks back to malloc lets glibc give
// the top of the heap back to the system, and the next graph (a program that copies a graph and
// runs a pass on the copy, or compiles one model after another) then takes page faults on every
// page again: measured on this project's VM, page faults were ~40 % of a prepare of 1000
// conv-bn blocks run in a loop. So freed chunks go to a per-thread cache, bounded (64 MiB by
// default, graft::set_graph_chunk_cache_limit), and the next graph on the thread takes them
// from there. Chunks past the bound, and every chunk once the thread is ending, go to the heap.
#pragma once

#include <cstddef>
#include <new>

namespace graft {

namespace detail {

// Under AddressSanitizer the cache starts empty-bounded (limit 0), so that a node read after its
// graph was destroyed is still reported as a use after free; set_graph_chunk_cache_limit turns
// it on there too.
#if defined(__SANITIZE_ADDRESS__)
#define GRAFT_DETAIL_CHUNK_CACHE_DEFAULT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GRAFT_DETAIL_CHUNK_CACHE_DEFAULT 0
#endif
#endif
#ifndef GRAFT_DETAIL_CHUNK_CACHE_DEFAULT
#define GRAFT_DETAIL_CHUNK_CACHE_DEFAULT (std::size_t(64) << 20)
#endif

class ChunkCache {
 public:
  static constexpr std::size_t kDefaultLimit = GRAFT_DETAIL_CHUNK_CACHE_DEFAULT;

  ChunkCache() noexcept = default;
  ChunkCache(const ChunkCache&) = delete;
  ChunkCache& operator=(const ChunkCache&) = delete;
  ~ChunkCache() { set_limit(0); }

  // A block of `bytes` (aligned for any fundamental type): a cached one of that size, or new.
  void* take(std::size_t bytes) {
    for (Bin& b : bins_)
      if (b.size == bytes && b.head) {
        FreeChunk* c = b.head;
        b.head = c->next;
        held_ -= bytes;
        return c;
      }
    return ::operator new(bytes);
  }
  // Gives back a block that take() returned, with the same size.
  void give(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (bytes >= sizeof(FreeChunk) && held_ + bytes <= limit_) {
      Bin* bin = nullptr;
      for (Bin& b : bins_)
        if (b.size == bytes) bin = &b;
      if (!bin)
        for (Bin& b : bins_)
          if (!b.head) {  // an unused bin (or one whose size has nothing cached) takes this size
            b.size = bytes;
            bin = &b;
            break;
          }
      if (bin) {
        bin->head = ::new (p) FreeChunk{bin->head};
        held_ += bytes;
        return;
      }
    }
    ::operator delete(p);
  }

  // At most `bytes` are kept; what is held beyond goes back to the heap now.
  void set_limit(std::size_t bytes) noexcept {
    limit_ = bytes;
    for (Bin& b : bins_)
      while (b.head && held_ > limit_) {
        FreeChunk* c = b.head;
        b.head = c->next;
        held_ -= b.size;
        ::operator delete(static_cast<void*>(c));
      }
  }
  std::size_t held() const noexcept { return held_; }
  std::size_t limit() const noexcept { return limit_; }

 private:
  struct FreeChunk {
    FreeChunk* next;
  };
  struct Bin {
    std::size_t size = 0;
    FreeChunk* head = nullptr;
  };
  Bin bins_[8];  // one per chunk size in use (a graph uses four or five)
  std::size_t held_ = 0;
  std::size_t limit_ = kDefaultLimit;
};

// This thread's cache; null while the thread is ending (its cache is gone: blocks freed then go
// straight to the heap).
inline ChunkCache* this_thread_chunk_cache() noexcept {
  thread_local int state = 0;  // 0: not made yet, 1: alive, 2: destroyed (trivial: readable at exit)
  thread_local ChunkCache* cache = nullptr;
  if (state == 0) {
    struct Owner {
      ChunkCache cache;
      Owner(int& s, ChunkCache*& c) noexcept : state(s), ptr(c) {
        ptr = &cache;
        state = 1;
      }
      ~Owner() {
        ptr = nullptr;
        state = 2;
      }
      int& state;
      ChunkCache*& ptr;
    };
    thread_local Owner owner(state, cache);
    (void)owner;
  }
  return cache;
}

inline void* take_chunk(std::size_t bytes) {
  ChunkCache* c = this_thread_chunk_cache();
  return c ? c->take(bytes) : ::operator new(bytes);
}
inline void give_chunk(void* p, std::size_t bytes) noexcept {
  if (ChunkCache* c = this_thread_chunk_cache()) c->give(p, bytes);
  else ::operator delete(p);
}

}  // namespace detail

// How many bytes of freed graph memory this thread keeps for its next graphs (64 MiB by
// default, 0 under AddressSanitizer; 0 keeps none and frees what is held). Returns the previous
// limit.
inline std::size_t set_graph_chunk_cache_limit(std::size_t bytes) noexcept {
  detail::ChunkCache* c = detail::this_thread_chunk_cache();
  if (!c) return 0;
  const std::size_t old = c->limit();
  c->set_limit(bytes);
  return old;
}
// The bytes of freed graph memory this thread holds now.
inline std::size_t graph_chunk_cache_held() noexcept {
  const detail::ChunkCache* c = detail::this_thread_chunk_cache();
  return c ? c->held() : 0;
}

}  // namespace graft
