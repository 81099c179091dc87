// Pattern matching and rewriting over chains of N conv -> batch_norm -> relu blocks.
//
//   bash scripts/dev.sh bench        (or: build-bench/bench/bench_pattern)
//
// BM_Walk is the baseline measured in the same run: visiting every node and looking its target
// up in a hash map, the least any indexed matcher must do. BM_Match runs a 4-pattern set (matching
// alone); BM_Rewrite applies it (one pass, rewriting every conv-bn). Report: time per node, and the
// ratio of each to BM_Walk at the same N; the per-node cost should stay flat as N grows.
#include <benchmark/benchmark.h>

#include <string>
#include <unordered_map>

#include "graft/graph.hpp"
#include "graft/pattern.hpp"
#include "bench_util.hpp"

namespace {
using namespace graft;
using namespace graft::pattern;

GRAFT_CAPTURE(x);
GRAFT_CAPTURE(w);
GRAFT_CAPTURE(b);
GRAFT_CAPTURE(conv);
GRAFT_CAPTURE(bn);
GRAFT_CAPTURE(gamma);
GRAFT_CAPTURE(beta);
GRAFT_CAPTURE(mean);
GRAFT_CAPTURE(var);
GRAFT_LITERAL_CAPTURE(eps);

constexpr auto conv_any = op("aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default");
constexpr auto batch_norm = op("aten.batch_norm.default");
constexpr auto relu = op("aten.relu.default");

// Block i: w_i, conv2d(x, w_i), bn params (4 get_attr), batch_norm, relu: 8 nodes.
Graph blocks(std::int64_t n) {
  Graph g;
  Node* cur = g.placeholder("x");
  const OpSchema* conv2d = g.resolve_op("aten.conv2d.default");
  const OpSchema* bn_op = g.resolve_op("aten.batch_norm.default");
  const OpSchema* relu_op = g.resolve_op("aten.relu.default");
  for (std::int64_t i = 0; i < n; ++i) {
    std::string p = "layer" + std::to_string(i);
    Node* wt = g.get_attr(p + ".conv.weight");
    Node* c = g.call_function(conv2d, {cur, wt, nullptr, ints({1, 1}), ints({1, 1})});
    Node* bw = g.get_attr(p + ".bn.weight");
    Node* bb = g.get_attr(p + ".bn.bias");
    Node* bm = g.get_attr(p + ".bn.running_mean");
    Node* bv = g.get_attr(p + ".bn.running_var");
    Node* norm = g.call_function(bn_op, {c, bw, bb, bm, bv, true, 0.1, 1e-5, false});
    cur = g.call_function(relu_op, {norm});
  }
  g.output(cur);
  return g;
}

const auto conv_bn_nobias = batch_norm(conv_any(x, w, none()).bind(conv), gamma, beta, mean, var, any_literal(),
                                       any_literal(), eps)
                                .bind(bn);
const auto conv_bn_bias = batch_norm(conv_any(x, w, b).bind(conv), gamma, beta, mean, var, any_literal(),
                                     any_literal(), eps)
                              .bind(bn);
const auto conv_relu = relu(conv_any(x, w, anything()).bind(conv));
const auto double_relu = relu(relu(x));

// The replacement keeps the block's meaning (a conv-bn in eval form); what matters here is cost.
const auto rules = RuleSet(
    rewrite(conv_bn_nobias,
            same_op(bn)(same_op(conv)(x, w, none()).as(conv), gamma, beta, mean, var, false, 0.1, eps).as(bn))
        .named("conv_bn"),
    rewrite(conv_bn_bias,
            same_op(bn)(same_op(conv)(x, w, b).as(conv), gamma, beta, mean, var, false, 0.1, eps).as(bn))
        .named("conv_bias_bn"),
    rewrite(conv_relu, relu(x)).named("conv_relu"), rewrite(double_relu, relu(x)).named("double_relu"));

void BM_Walk(benchmark::State& state) {
  Graph g = blocks(state.range(0));
  std::unordered_map<std::string_view, int> index{{"aten.batch_norm.default", 0}, {"aten.relu.default", 1}};
  for (auto _ : state) {
    std::size_t hits = 0;
    for (Node* n : g.nodes())
      if (n->is_call_function()) hits += index.count(n->target());
    benchmark::DoNotOptimize(hits);
  }
  bench::per_node(state, g.size());
}

void BM_Match(benchmark::State& state) {
  Graph g = blocks(state.range(0));
  std::size_t found = 0;
  for (auto _ : state) {
    auto ms = rules.find(g);
    found = ms.size();
    benchmark::DoNotOptimize(ms.data());
  }
  if (found != static_cast<std::size_t>(state.range(0))) state.SkipWithError("wrong number of matches");
  bench::per_node(state, g.size());
}

void BM_Rewrite(benchmark::State& state) {
  std::size_t nodes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Graph g = blocks(state.range(0));
    nodes = g.size();
    state.ResumeTiming();
    RewriteReport r = rules.apply(g);
    benchmark::DoNotOptimize(r.replaced.size());
    state.PauseTiming();
    if (r.count("conv_bn") != static_cast<std::size_t>(state.range(0))) state.SkipWithError("wrong rewrite count");
    g = Graph();
    state.ResumeTiming();
  }
  bench::per_node(state, nodes);
}

}  // namespace

BENCHMARK(BM_Walk)->RangeMultiplier(10)->Range(1000, 100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Match)->RangeMultiplier(10)->Range(1000, 100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Rewrite)->RangeMultiplier(10)->Range(1000, 100000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_MAIN();
