// graft/graph/detail/arg_store.hpp - the storage of graph nodes' argument arrays.
//
// Every node's positional arguments are one array of Argument. A std::vector per node costs a
// heap block each (with malloc's header and rounding) scattered wherever malloc finds room; a
// pass that builds a dozen nodes per matched pair then spends a good part of its time in malloc
// and, on a big graph, in page faults on those blocks. The store hands out arrays from chunks
// the graph owns, one after another in creation order, and recycles freed arrays by length, so
// a node and the nodes built next to it have their arguments next to each other too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include "graft/graph/argument.hpp"
#include "graft/graph/detail/chunk_cache.hpp"
#include "graft/graph/detail/reserve.hpp"

namespace graft::detail {

// Raw storage for arrays of Argument. Not thread-safe (a graph is mutated by one thread at a
// time). The caller constructs and destroys the elements; the store only owns the memory, which
// is released with the store.
class ArgStore {
 public:
  // Arrays up to this length come from the chunks; longer ones (rare: a cat of many tensors)
  // from the heap.
  static constexpr std::size_t kMaxPooled = 16;

  ArgStore() = default;
  ArgStore(const ArgStore&) = delete;
  ArgStore& operator=(const ArgStore&) = delete;
  ArgStore(ArgStore&& o) noexcept { swap(o); }
  ArgStore& operator=(ArgStore&& o) noexcept {
    ArgStore tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  ~ArgStore() {  // the chunks go to the thread's chunk cache, for the next graph
    for (const Chunk& c : chunks_) give_chunk(c.p, c.bytes);
  }

  // Uninitialised room for `n` arguments (null for none). Throws std::bad_alloc and changes
  // nothing when memory runs out.
  Argument* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    if (n > kMaxPooled) return static_cast<Argument*>(::operator new(n * sizeof(Argument)));
    if (FreeSlot* f = free_[n]) {
      free_[n] = f->next;
      return reinterpret_cast<Argument*>(f);
    }
    const std::size_t bytes = n * sizeof(Argument);
    if (left_ < bytes) add_chunk();
    Argument* p = reinterpret_cast<Argument*>(cur_);
    cur_ += bytes;
    left_ -= bytes;
    return p;
  }
  // Gives back room for `n` arguments whose elements were destroyed.
  void deallocate(Argument* p, std::size_t n) noexcept {
    if (!p) return;
    if (n > kMaxPooled) {
      ::operator delete(p);
      return;
    }
    FreeSlot* f = ::new (static_cast<void*>(p)) FreeSlot{free_[n]};
    free_[n] = f;
  }

  // Moves the `n` arguments at `from` into fresh room and destroys the originals' contents
  // (they are left as None). Throws std::bad_alloc before touching `from`.
  Argument* take(Argument* from, std::size_t n) {
    Argument* p = allocate(n);
    for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void*>(p + i)) Argument(std::move(from[i]));
    return p;
  }
  // Destroys `n` arguments at `p` and gives back their room.
  void destroy(Argument* p, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) p[i].~Argument();
    deallocate(p, n);
  }

  void swap(ArgStore& o) noexcept {
    chunks_.swap(o.chunks_);
    std::swap(cur_, o.cur_);
    std::swap(left_, o.left_);
    std::swap(next_chunk_, o.next_chunk_);
    for (std::size_t i = 0; i <= kMaxPooled; ++i) std::swap(free_[i], o.free_[i]);
  }

 private:
  struct FreeSlot {
    FreeSlot* next;
  };
  static_assert(sizeof(Argument) >= sizeof(FreeSlot) && alignof(Argument) >= alignof(FreeSlot));
  // Chunks grow from 1 KiB (a small graph stays small) to 32 KiB, under malloc's mmap threshold:
  // they come from the heap and are reused by the next graph instead of being mapped afresh.
  static constexpr std::size_t kFirstChunk = 1024;
  static constexpr std::size_t kLastChunk = 32 * 1024;

  void add_chunk() {
    reserve_one_more(chunks_);  // so that push_back cannot throw
    void* c = take_chunk(next_chunk_);
    chunks_.push_back(Chunk{c, next_chunk_});
    cur_ = static_cast<unsigned char*>(c);
    left_ = next_chunk_;  // the rest of the last chunk (under 256 bytes) is left unused
    if (next_chunk_ < kLastChunk) next_chunk_ *= 2;
  }

  struct Chunk {
    void* p;
    std::size_t bytes;
  };
  std::vector<Chunk> chunks_;
  unsigned char* cur_ = nullptr;
  std::size_t left_ = 0;
  std::size_t next_chunk_ = kFirstChunk;
  FreeSlot* free_[kMaxPooled + 1] = {};
};

}  // namespace graft::detail
