// QAT convert (fold_conv_bn_qat) over (a) chains of N conv2d -> batch_norm -> relu blocks,
// prepared and with weight q/dq inserted as convert_pt2e leaves them, N = 10^2 .. 10^5, and
// (b) ResNet-50- and MobileNetV2-shaped graphs with real-sized float32 weights (53 pairs / 23.5 M
// weights; 52 pairs / 2.2 M weights).
//
//   cmake --build build-bench --target bench_convert && build-bench/bench/bench_convert
//
// Baselines measured in the same run: BM_CopyGraph (a deep copy of the chain graph) for (a); for
// (b) BM_<model>_FoldMath (the weight math alone: factors, in-place scaling, biases, on the same
// tensors) and BM_<model>_CopyWeights (memcpy of every conv weight), so that the time of the
// whole pass splits into matching/rewiring and weight math, and the weight math into a bandwidth
// ratio. Memory counters as in bench_prepare.cpp (bench/heap_probe.hpp).
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "heap_probe.hpp"
#include "models.hpp"
#include "graft/graph.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"

namespace {
using namespace graft;
using bench::heap::report_memory;

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
  bench::ModelBuilder b;
  Node* cur = b.g.placeholder("x");
  for (std::int64_t i = 0; i < n; ++i)
    cur = b.g.call_function("aten.relu.default", {b.conv_bn(cur, 4, 4, 3, 1, "layer" + std::to_string(i))});
  b.g.output(cur);
  return converted(std::move(b.m));
}

void convert(benchmark::State& state, const Module& prepared, std::size_t pairs) {
  for (auto _ : state) {
    state.PauseTiming();
    Module m = prepared;
    state.ResumeTiming();
    auto report = qat::fold_conv_bn_qat(m);
    benchmark::DoNotOptimize(report.nodes_after);
    state.PauseTiming();
    if (report.total() != pairs) state.SkipWithError("not every pair was folded");
    m = Module();
    state.ResumeTiming();
  }
  bench::per_node(state, prepared.graph.size());
  report_memory(state, prepared.graph.size(), [&] { return Module(prepared); }, [](Module& m) { qat::fold_conv_bn_qat(m); });
}

void BM_Convert(benchmark::State& state) {
  const Module prepared = chain(state.range(0));
  convert(state, prepared, static_cast<std::size_t>(state.range(0)));
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
  static const Module m = converted(bench::resnet50());
  return m;
}
const Module& mobilenet_v2_prepared() {
  static const Module m = converted(bench::mobilenet_v2());
  return m;
}

void model_convert(benchmark::State& state, const Module& prepared, std::size_t pairs) {
  convert(state, prepared, pairs);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bench::conv_weight_bytes(prepared)));
}

// The weight math of the same fold, on the same tensors, without any graph work.
void fold_math(benchmark::State& state, const Module& prepared) {
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
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bench::conv_weight_bytes(prepared)));
}

void copy_weights(benchmark::State& state, const Module& prepared) {
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
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bench::conv_weight_bytes(prepared)));
}

void BM_ResNet50_Convert(benchmark::State& state) { model_convert(state, resnet50_prepared(), 53); }
void BM_ResNet50_FoldMath(benchmark::State& state) { fold_math(state, resnet50_prepared()); }
void BM_ResNet50_CopyWeights(benchmark::State& state) { copy_weights(state, resnet50_prepared()); }
void BM_MobileNetV2_Convert(benchmark::State& state) { model_convert(state, mobilenet_v2_prepared(), 52); }
void BM_MobileNetV2_FoldMath(benchmark::State& state) { fold_math(state, mobilenet_v2_prepared()); }
void BM_MobileNetV2_CopyWeights(benchmark::State& state) { copy_weights(state, mobilenet_v2_prepared()); }

}  // namespace

BENCHMARK(BM_CopyGraph)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Convert)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK(BM_Convert)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_ResNet50_CopyWeights)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ResNet50_FoldMath)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK(BM_ResNet50_Convert)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK(BM_MobileNetV2_CopyWeights)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MobileNetV2_FoldMath)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK(BM_MobileNetV2_Convert)->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK_MAIN();
