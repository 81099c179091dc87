// fold_conv_bn_qat over (a) chains of N conv2d -> batch_norm -> relu blocks, prepared and with
// weight q/dq inserted as QAT convert leaves them, and (b) a ResNet-50-shaped graph with
// real-sized float32 weights (53 conv-bn pairs, 23.5 M weights).
//
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRAFT_BUILD_BENCH=ON -DGRAFT_NATIVE=ON
//   cmake --build build-bench --target bench_convert && build-bench/bench/bench_convert
//
// Baselines measured in the same run: BM_CopyGraph (a deep copy of the chain graph) for (a), and
// for (b) BM_ResNet50_FoldMath (the weight math alone: factors, in-place scaling, biases, on the
// same tensors) and BM_ResNet50_CopyWeights (memcpy of every conv weight), so that the time of
// the whole pass splits into matching/rewiring and weight math, and the weight math into a
// bandwidth ratio.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "graft/graph.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"

namespace {
using namespace graft;

struct Builder {
  Module m;
  Graph& g = m.graph;
  Node* attr(const std::string& name, Tensor t, bool buffer) {
    (buffer ? m.buffers : m.parameters).add(name, std::move(t));
    return g.get_attr(name);
  }
  Node* conv_bn(Node* x, std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, const std::string& p) {
    Tensor w(DType::float32, {out, in, k, k});
    float* d = w.data<float>();
    for (std::size_t i = 0; i < w.numel(); ++i) d[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    Node* wn = attr(p + ".conv.weight", std::move(w), false);
    Node* conv = g.call_function("aten.conv2d.default", {x, wn, Argument(), ints({stride, stride}), ints({k / 2, k / 2})});
    Node* gamma = attr(p + ".bn.weight", Tensor::full<float>({out}, 1.5f), false);
    Node* beta = attr(p + ".bn.bias", Tensor::full<float>({out}, 0.25f), false);
    Node* mean = attr(p + ".bn.running_mean", Tensor::full<float>({out}, 0.1f), true);
    Node* var = attr(p + ".bn.running_var", Tensor::full<float>({out}, 2.0f), true);
    Node* bn = g.call_function("aten._native_batch_norm_legit.default", {conv, gamma, beta, mean, var, true, 0.1, 1e-5});
    return g.call_function("operator.getitem", {bn, 0});
  }
};

// What convert_pt2e leaves on a prepared graph: q/dq (per tensor) on every scaled weight.
void insert_weight_qdq(Module& m) {
  std::vector<Node*> convs;
  for (Node* n : m.graph.nodes())
    if (n->target() == "aten.conv2d.default" && n->args()[1].as_node()->target() == "aten.mul.Tensor") convs.push_back(n);
  for (Node* conv : convs) {
    Node* scaled = conv->args()[1].as_node();
    auto guard = m.graph.inserting_before(conv);
    Node* q = m.graph.call_function("quantized_decomposed.quantize_per_tensor.default",
                                    {scaled, 0.01, 0, -128, 127, DType::int8});
    Node* dq = m.graph.call_function("quantized_decomposed.dequantize_per_tensor.default",
                                     {q, 0.01, 0, -128, 127, DType::int8});
    m.graph.replace_input_with(conv, scaled, dq);
  }
}

Module converted(Module m) {
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  return m;
}

Module chain(std::int64_t n) {
  Builder b;
  Node* cur = b.g.placeholder("x");
  for (std::int64_t i = 0; i < n; ++i)
    cur = b.g.call_function("aten.relu.default", {b.conv_bn(cur, 4, 4, 3, 1, "layer" + std::to_string(i))});
  b.g.output(cur);
  return converted(std::move(b.m));
}

// ResNet-50's conv-bn structure with its real channel counts and kernel sizes.
Module resnet50() {
  Builder b;
  Node* x = b.g.placeholder("x");
  x = b.g.call_function("aten.relu.default", {b.conv_bn(x, 3, 64, 7, 2, "conv1")});
  std::int64_t in = 64;
  const std::int64_t blocks[4] = {3, 4, 6, 3}, widths[4] = {64, 128, 256, 512};
  for (int layer = 0; layer < 4; ++layer)
    for (std::int64_t i = 0; i < blocks[layer]; ++i) {
      const std::string p = "layer" + std::to_string(layer + 1) + "." + std::to_string(i);
      const std::int64_t w = widths[layer], out = 4 * w, stride = (i == 0 && layer > 0) ? 2 : 1;
      Node* y = b.g.call_function("aten.relu.default", {b.conv_bn(x, in, w, 1, 1, p + ".1")});
      y = b.g.call_function("aten.relu.default", {b.conv_bn(y, w, w, 3, stride, p + ".2")});
      y = b.conv_bn(y, w, out, 1, 1, p + ".3");
      Node* skip = i == 0 ? b.conv_bn(x, in, out, 1, stride, p + ".downsample") : x;
      x = b.g.call_function("aten.relu.default", {b.g.call_function("aten.add.Tensor", {y, skip})});
      in = out;
    }
  b.g.output(x);
  return converted(std::move(b.m));
}

void BM_Convert(benchmark::State& state) {
  const Module prepared = chain(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    Module m = prepared;
    state.ResumeTiming();
    auto report = qat::fold_conv_bn_qat(m);
    benchmark::DoNotOptimize(report.nodes_after);
    state.PauseTiming();
    if (report.total() != static_cast<std::size_t>(state.range(0))) state.SkipWithError("not every pair was folded");
    m = Module();
    state.ResumeTiming();
  }
  bench::per_node(state, prepared.graph.size());
}

void BM_CopyGraph(benchmark::State& state) {
  const Module prepared = chain(state.range(0));
  for (auto _ : state) {
    Graph copy(prepared.graph);
    benchmark::DoNotOptimize(copy.size());
  }
  bench::per_node(state, prepared.graph.size());
}

const Module& resnet50_prepared() {
  static const Module m = resnet50();
  return m;
}

std::size_t conv_weight_bytes(const Module& m) {
  std::size_t bytes = 0;
  m.parameters.for_each([&](const NamedTensors::Entry& e) {
    if (e.name.size() > 12 && e.name.compare(e.name.size() - 12, 12, ".conv.weight") == 0) bytes += e.tensor.nbytes();
  });
  return bytes;
}

void BM_ResNet50_Convert(benchmark::State& state) {
  const Module& prepared = resnet50_prepared();
  for (auto _ : state) {
    state.PauseTiming();
    Module m = prepared;
    state.ResumeTiming();
    auto report = qat::fold_conv_bn_qat(m);
    benchmark::DoNotOptimize(report.nodes_after);
    state.PauseTiming();
    if (report.total() != 53) state.SkipWithError("not every pair was folded");
    m = Module();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(conv_weight_bytes(prepared)));
}

// The weight math of the same fold, on the same tensors, without any graph work.
void BM_ResNet50_FoldMath(benchmark::State& state) {
  const Module& prepared = resnet50_prepared();
  std::vector<std::string> prefixes;
  prepared.parameters.for_each([&](const NamedTensors::Entry& e) {
    if (e.name.size() > 12 && e.name.compare(e.name.size() - 12, 12, ".conv.weight") == 0)
      prefixes.push_back(e.name.substr(0, e.name.size() - 12));
  });
  for (auto _ : state) {
    state.PauseTiming();
    Module m = prepared;
    state.ResumeTiming();
    for (const std::string& p : prefixes) {
      Tensor& w = m.parameters.at(p + ".conv.weight");
      std::vector<double> s = kernels::bn_fold_scale(m.buffers.at(p + ".bn.running_var"), 1e-5,
                                                     &m.parameters.at(p + ".bn.weight"), w.shape()[0]);
      Tensor bias = kernels::fold_conv_bn_bias(nullptr, m.buffers.at(p + ".bn.running_mean"), s,
                                               &m.parameters.at(p + ".bn.bias"), w.dtype());
      kernels::scale_conv_weight(w, s, false, 1, w);
      benchmark::DoNotOptimize(bias.data<float>());
    }
    state.PauseTiming();
    m = Module();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(conv_weight_bytes(prepared)));
}

void BM_ResNet50_CopyWeights(benchmark::State& state) {
  const Module& prepared = resnet50_prepared();
  std::vector<const Tensor*> weights;
  prepared.parameters.for_each([&](const NamedTensors::Entry& e) {
    if (e.name.size() > 12 && e.name.compare(e.name.size() - 12, 12, ".conv.weight") == 0) weights.push_back(&e.tensor);
  });
  std::vector<Tensor> out;
  for (const Tensor* w : weights) out.emplace_back(w->dtype(), w->shape());
  for (auto _ : state)
    for (std::size_t i = 0; i < weights.size(); ++i) {
      std::memcpy(out[i].data<float>(), weights[i]->data<float>(), weights[i]->nbytes());
      benchmark::ClobberMemory();
    }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(conv_weight_bytes(prepared)));
}

}  // namespace

BENCHMARK(BM_CopyGraph)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Convert)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_ResNet50_CopyWeights)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ResNet50_FoldMath)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK(BM_ResNet50_Convert)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK_MAIN();
