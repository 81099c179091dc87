// Graph-layer costs per node, as ratios to appending nodes (measured in the same run).
//
//   bash scripts/dev.sh bench
//
// BM_Append is the baseline: a chain built by appending. The others should stay within a small
// constant factor of it at every size (no quadratic behaviour): inserting every node at one spot
// in the middle (order maintenance), lint, dead-code elimination of the whole chain, and a copy.
#include <benchmark/benchmark.h>

#include "graft/graph.hpp"

namespace {

graft::Graph chain(std::int64_t n) {
  graft::Graph g;
  graft::Node* cur = g.placeholder("x");
  const graft::OpSchema* relu = g.resolve_op("aten.relu.default");
  for (std::int64_t i = 0; i < n; ++i) cur = g.call_function(relu, {cur});
  g.output(cur);
  return g;
}

void BM_Append(benchmark::State& state) {
  for (auto _ : state) {
    graft::Graph g = chain(state.range(0));
    benchmark::DoNotOptimize(g.size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_InsertAtOneSpot(benchmark::State& state) {
  for (auto _ : state) {
    graft::Graph g;
    graft::Node* x = g.placeholder("x");
    graft::Node* out = g.output(x);
    const graft::OpSchema* relu = g.resolve_op("aten.relu.default");
    auto guard = g.inserting_before(out);
    graft::Node* cur = x;
    for (std::int64_t i = 0; i < state.range(0); ++i) {
      auto inner = g.inserting_after(x);  // always right after x: worst case for the labels
      cur = g.call_function(relu, {x});
    }
    benchmark::DoNotOptimize(cur);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_Lint(benchmark::State& state) {
  graft::Graph g = chain(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(g.lint_problems().size());
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_DeadCodeElimination(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    graft::Graph g = chain(state.range(0));
    g.set_args(g.output_node(), {g.find("x")});
    state.ResumeTiming();
    benchmark::DoNotOptimize(g.eliminate_dead_code());
    state.PauseTiming();
    g = graft::Graph();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_Copy(benchmark::State& state) {
  graft::Graph g = chain(state.range(0));
  for (auto _ : state) {
    graft::Graph c(g);
    benchmark::DoNotOptimize(c.size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

}  // namespace

BENCHMARK(BM_Append)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_InsertAtOneSpot)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Lint)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DeadCodeElimination)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Copy)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
