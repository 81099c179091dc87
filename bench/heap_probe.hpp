// Peak heap growth of one piece of work, for the benchmarks' memory counters.
//
// Include in exactly one translation unit per program (it replaces the global operator new and
// delete). Counting is off unless a HeapProbe is alive, so timed loops only pay one branch per
// allocation; the benchmarks measure memory in one extra, untimed run.
//
// What it measures: the highest value, while the probe is alive, of (bytes allocated - bytes
// freed) through C++ operator new/delete, each block counted at its malloc_usable_size (so
// malloc's rounding is included, its per-block header and free lists are not). Memory taken with
// malloc directly (Eigen's temporary buffers, the C library) is not counted. Tensors are
// allocated with operator new, so model weights are counted.
#pragma once

#include <malloc.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include <benchmark/benchmark.h>

#include "graft/graph/detail/chunk_cache.hpp"

namespace graft::bench::heap {

inline bool counting = false;
inline std::int64_t net = 0;
inline std::int64_t peak = 0;
inline std::int64_t allocations = 0;

inline void on_alloc(void* p) noexcept {
  if (counting && p) {
    ++allocations;
    net += static_cast<std::int64_t>(malloc_usable_size(p));
    if (net > peak) peak = net;
  }
}
inline void on_free(void* p) noexcept {
  if (counting && p) net -= static_cast<std::int64_t>(malloc_usable_size(p));
}

inline void* allocate(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  on_alloc(p);
  return p;
}
inline void* allocate(std::size_t n, std::align_val_t al) {
  void* p = nullptr;
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  if (posix_memalign(&p, a, n ? n : 1) != 0) throw std::bad_alloc();
  on_alloc(p);
  return p;
}
inline void release(void* p) noexcept {
  on_free(p);
  std::free(p);
}

// Counts while alive; peak_bytes() is the highest net growth since construction. While alive,
// graft's per-thread cache of freed graph chunks is emptied and off, so that memory a graph
// takes from it (not from the heap) is counted too.
class HeapProbe {
 public:
  HeapProbe() noexcept : saved_limit_(graft::set_graph_chunk_cache_limit(0)) {
    net = 0;
    peak = 0;
    allocations = 0;
    counting = true;
  }
  ~HeapProbe() {
    counting = false;
    graft::set_graph_chunk_cache_limit(saved_limit_);
  }
  HeapProbe(const HeapProbe&) = delete;
  HeapProbe& operator=(const HeapProbe&) = delete;
  std::int64_t net_bytes() const noexcept { return net; }
  std::int64_t peak_bytes() const noexcept { return peak; }
  std::int64_t allocations_so_far() const noexcept { return allocations; }

 private:
  std::size_t saved_limit_;
};

// The process's resident-set high-water mark so far (getrusage ru_maxrss), in MiB. Monotonic over
// the whole process: it includes every earlier benchmark in the same run.
inline double rss_high_water_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Runs `build` (returns the input) and then `work(input)` once, untimed, and reports:
//   input_MiB      heap held by the input that `build` made (graph + tensors);
//   peak_MiB       the highest heap growth while `work` ran, above the input;
//   peak_B/node    peak_MiB per input graph node;
//   allocs/node    heap allocations while `work` ran, per input graph node (deterministic: the
//                  cost of memory management without the noise of a timing);
//   rss_hwm_MiB    the process's ru_maxrss so far (monotonic, see above).
template <typename Build, typename Work>
void report_memory(benchmark::State& state, std::size_t nodes, Build&& build, Work&& work) {
  double input_mib = 0, peak_mib = 0, allocs = 0;
  {
    HeapProbe probe;
    auto input = build();
    input_mib = static_cast<double>(probe.net_bytes()) / (1024.0 * 1024.0);
    const std::int64_t before = probe.net_bytes();
    const std::int64_t allocs_before = probe.allocations_so_far();
    peak = before;
    work(input);
    peak_mib = static_cast<double>(probe.peak_bytes() - before) / (1024.0 * 1024.0);
    allocs = static_cast<double>(probe.allocations_so_far() - allocs_before);
  }
  state.counters["input_MiB"] = input_mib;
  state.counters["peak_MiB"] = peak_mib;
  state.counters["peak_B/node"] = nodes ? peak_mib * 1024.0 * 1024.0 / static_cast<double>(nodes) : 0.0;
  state.counters["allocs/node"] = nodes ? allocs / static_cast<double>(nodes) : 0.0;
  state.counters["rss_hwm_MiB"] = rss_high_water_mib();
}

}  // namespace graft::bench::heap

// The replacements (counted only while a HeapProbe is alive). Array and nothrow forms forward to
// these in libstdc++, but all are defined so that no form bypasses the count.
void* operator new(std::size_t n) { return graft::bench::heap::allocate(n); }
void* operator new[](std::size_t n) { return graft::bench::heap::allocate(n); }
void* operator new(std::size_t n, std::align_val_t al) { return graft::bench::heap::allocate(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return graft::bench::heap::allocate(n, al); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return graft::bench::heap::allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return graft::bench::heap::allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { graft::bench::heap::release(p); }
void operator delete[](void* p) noexcept { graft::bench::heap::release(p); }
void operator delete(void* p, std::size_t) noexcept { graft::bench::heap::release(p); }
void operator delete[](void* p, std::size_t) noexcept { graft::bench::heap::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { graft::bench::heap::release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { graft::bench::heap::release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { graft::bench::heap::release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { graft::bench::heap::release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { graft::bench::heap::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { graft::bench::heap::release(p); }
