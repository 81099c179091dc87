// QAT prepare (fuse_conv_bn_qat) over chains of N conv2d -> batch_norm -> relu blocks (real
// parameters; 9 N + 2 nodes), N = 10^2 .. 10^5, and over ResNet-50- and MobileNetV2-shaped graphs.
//
//   cmake --build build-bench --target bench_prepare && build-bench/bench/bench_prepare
//   /usr/bin/python3 bench/compare_torch.py          torch.fx's replace_pattern on the same chains
//
// BM_Prepare          the whole pass (one walk in a transaction: match, guard rails, rewrite)
// BM_PrepareMatch     matching alone: check_conv_bn_pairs (the pass's matching and guard rails
//                     over every pair, changing nothing)
// BM_PrepareCold      the whole pass starting with cold caches: as BM_Prepare, but the data
//                     caches are flushed (bench::evict_caches, untimed) after the copy, so every
//                     size reads its input from memory; separates the pass's own scaling from
//                     the small graphs' advantage of starting in cache
// BM_CopyGraph        baseline in the same run: a deep copy of the same graph
// Counters: ns_per_node (of the input graph), and from one extra untimed run (bench/heap_probe.hpp)
// input_MiB, peak_MiB (heap growth above the input while the pass runs), peak_B/node, allocs/node,
// rss_hwm_MiB.
#include <benchmark/benchmark.h>

#include <string>

#include "bench_util.hpp"
#include "heap_probe.hpp"
#include "models.hpp"
#include "graft/graph.hpp"
#include "graft/qat/prepare.hpp"

namespace {
using namespace graft;
using bench::heap::report_memory;

template <typename Build>
void prepare(benchmark::State& state, Build build, std::size_t pairs, bool cold = false) {
  std::size_t nodes = 0;
  const Module base = build();
  for (auto _ : state) {
    state.PauseTiming();
    Module m = base;
    nodes = m.graph.size();
    if (cold) bench::evict_caches();
    state.ResumeTiming();
    auto report = qat::fuse_conv_bn_qat(m);
    benchmark::DoNotOptimize(report.nodes_after);
    state.PauseTiming();
    if (report.total() != pairs) state.SkipWithError("not every pair was fused");
    m = Module();
    state.ResumeTiming();
  }
  bench::per_node(state, nodes);
  if (!cold)  // (the same heap figures as the warm run's)
    report_memory(state, nodes, [&] { return Module(base); }, [](Module& m) { qat::fuse_conv_bn_qat(m); });
}

template <typename Build>
void match(benchmark::State& state, Build build) {
  const Module m = build();
  for (auto _ : state) {
    qat::check_conv_bn_pairs(m);
    benchmark::ClobberMemory();
  }
  bench::per_node(state, m.graph.size());
  report_memory(state, m.graph.size(), [&] { return Module(m); }, [](const Module& c) { qat::check_conv_bn_pairs(c); });
}

void BM_Prepare(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  prepare(state, [n] { return bench::conv_bn_relu_chain(n); }, static_cast<std::size_t>(n));
}

void BM_PrepareCold(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  prepare(state, [n] { return bench::conv_bn_relu_chain(n); }, static_cast<std::size_t>(n), true);
}

void BM_PrepareMatch(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  match(state, [n] { return bench::conv_bn_relu_chain(n); });
}

void BM_CopyGraph(benchmark::State& state) {
  const Module m = bench::conv_bn_relu_chain(state.range(0));
  for (auto _ : state) {
    Graph copy(m.graph);
    benchmark::DoNotOptimize(copy.size());
  }
  bench::per_node(state, m.graph.size());
}

void BM_Prepare_ResNet50(benchmark::State& state) { prepare(state, bench::resnet50, 53); }
void BM_PrepareMatch_ResNet50(benchmark::State& state) { match(state, bench::resnet50); }
void BM_Prepare_MobileNetV2(benchmark::State& state) { prepare(state, bench::mobilenet_v2, 52); }
void BM_PrepareMatch_MobileNetV2(benchmark::State& state) { match(state, bench::mobilenet_v2); }

}  // namespace

BENCHMARK(BM_CopyGraph)->Arg(100)->Arg(300)->Arg(1000)->Arg(2000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PrepareMatch)->Arg(100)->Arg(300)->Arg(1000)->Arg(2000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Prepare)->Arg(100)->Arg(300)->Arg(1000)->Arg(2000)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK(BM_Prepare)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_PrepareCold)->Arg(100)->Arg(300)->Arg(1000)->Arg(2000)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK(BM_PrepareCold)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_PrepareMatch_ResNet50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Prepare_ResNet50)->Unit(benchmark::kMicrosecond)->Iterations(20);
BENCHMARK(BM_PrepareMatch_MobileNetV2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Prepare_MobileNetV2)->Unit(benchmark::kMicrosecond)->Iterations(20);
BENCHMARK_MAIN();
