// Shared by the benchmark programs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>

namespace graft::bench {

// Reports items/s and an `ns_per_node` counter for a run over `nodes` graph nodes per iteration.
inline void per_node(benchmark::State& state, std::size_t nodes) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(nodes));
  state.counters["ns_per_node"] = benchmark::Counter(static_cast<double>(state.iterations() * nodes),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert,
                                                     benchmark::Counter::kIs1000);
}

// Pushes everything a benchmark touched out of the data caches, for timings that start cold
// whatever the size of the work: reads (not writes, which would leave dirty lines for the timed
// code to write back) a buffer four times the last-level cache (sysconf; 32 MiB when it does not
// say), at least 64 MiB and at most 256 MiB, one load per cache line. The buffer is written once,
// when first used, so that its pages are real memory and not the shared zero page.
inline void evict_caches() {
  static const std::vector<unsigned char> junk = [] {
    long l3 = ::sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 <= 0) l3 = 32L << 20;
    const std::size_t bytes = std::clamp<std::size_t>(4 * static_cast<std::size_t>(l3), std::size_t{64} << 20,
                                                      std::size_t{256} << 20);
    std::vector<unsigned char> v(bytes);
    for (std::size_t i = 0; i < v.size(); i += 64) v[i] = static_cast<unsigned char>(i >> 6);
    return v;
  }();
  unsigned sum = 0;
  for (std::size_t i = 0; i < junk.size(); i += 64) sum += junk[i];
  benchmark::DoNotOptimize(sum);
}

}  // namespace graft::bench
