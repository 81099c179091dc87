// Shared by the benchmark programs.
#pragma once

#include <cstddef>
#include <cstdint>

#include <benchmark/benchmark.h>

namespace graft::bench {

// Reports items/s and an `ns_per_node` counter for a run over `nodes` graph nodes per iteration.
inline void per_node(benchmark::State& state, std::size_t nodes) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(nodes));
  state.counters["ns_per_node"] = benchmark::Counter(static_cast<double>(state.iterations() * nodes),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert,
                                                     benchmark::Counter::kIs1000);
}

}  // namespace graft::bench
