// fuse_conv_bn_qat over chains of N conv2d -> batch_norm -> relu blocks (with real parameters).
//
//   bash scripts/dev.sh bench                      all benchmarks
//   python3 bench/compare_torch_prepare.py         the same rewrite in torch 1.13, side by side
//
// Reports time per node at each N (flat when the pass is linear) and, as a baseline measured in
// the same run, BM_CopyGraph: a plain deep copy of the same graph.
#include <benchmark/benchmark.h>

#include <string>

#include "graft/graph.hpp"
#include "graft/qat/prepare.hpp"
#include "bench_util.hpp"

namespace {
using namespace graft;

Module blocks(std::int64_t n) {
  Module m;
  Graph& g = m.graph;
  Node* cur = g.placeholder("x");
  const OpSchema* conv2d = g.resolve_op("aten.conv2d.default");
  const OpSchema* bn_op = g.resolve_op("aten.batch_norm.default");
  const OpSchema* relu_op = g.resolve_op("aten.relu.default");
  const std::int64_t c = 4;
  for (std::int64_t i = 0; i < n; ++i) {
    std::string p = "layer" + std::to_string(i);
    auto attr = [&](const std::string& name, Tensor t, bool buffer) {
      (buffer ? m.buffers : m.parameters).add(p + name, std::move(t));
      return g.get_attr(p + name);
    };
    Node* w = attr(".conv.weight", Tensor(DType::float32, {c, c, 3, 3}), false);
    Node* b = attr(".conv.bias", Tensor(DType::float32, {c}), false);
    Node* conv = g.call_function(conv2d, {cur, w, b, ints({1, 1}), ints({1, 1})});
    Node* gamma = attr(".bn.weight", Tensor::full<float>({c}, 1.0f), false);
    Node* beta = attr(".bn.bias", Tensor(DType::float32, {c}), false);
    Node* mean = attr(".bn.running_mean", Tensor(DType::float32, {c}), true);
    Node* var = attr(".bn.running_var", Tensor::full<float>({c}, 1.0f), true);
    Node* bn = g.call_function(bn_op, {conv, gamma, beta, mean, var, true, 0.1, 1e-5, false});
    cur = g.call_function(relu_op, {bn});
  }
  g.output(cur);
  return m;
}

void BM_Prepare(benchmark::State& state) {
  std::size_t nodes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Module m = blocks(state.range(0));
    nodes = m.graph.size();
    state.ResumeTiming();
    auto report = qat::fuse_conv_bn_qat(m);
    benchmark::DoNotOptimize(report.nodes_after);
    state.PauseTiming();
    if (report.total() != static_cast<std::size_t>(state.range(0))) state.SkipWithError("not every pair was fused");
    m = Module();
    state.ResumeTiming();
  }
  bench::per_node(state, nodes);
}

void BM_CopyGraph(benchmark::State& state) {
  Module m = blocks(state.range(0));
  for (auto _ : state) {
    Graph copy(m.graph);
    benchmark::DoNotOptimize(copy.size());
  }
  bench::per_node(state, m.graph.size());
}

}  // namespace

BENCHMARK(BM_CopyGraph)->RangeMultiplier(10)->Range(100, 100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Prepare)->Arg(100)->Arg(300)->Arg(1000)->Arg(2000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_MAIN();
