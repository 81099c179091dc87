// qat_end_to_end: PyTorch PT2E's conv-bn QAT flow in C++, from model to folded int8 weights.
//
//   build a model -> prepare (fuse_conv_bn_qat) -> train a few steps (interpreter, training mode)
//   -> weight quantize/dequantize (what a quantizer + convert_pt2e leave) -> convert
//   (fold_conv_bn_qat) -> the folded model computes what the QAT model did
//
// The same flow as `graft-qat demo` (examples/graft_qat.cpp), without the tool around it: copy
// what you need. Each step is checked; the program returns 1 if a check fails.
// Reference: docs/qat.md.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "graft/exec/interpreter.hpp"
#include "graft/graph.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"
#include "graft/qat/weight_qdq.hpp"

using namespace graft;

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "qat_end_to_end: CHECK FAILED: " << what << "\n";
    ++failures;
  }
}

// Deterministic values in [lo, hi): the example needs no random-number state.
Tensor values(Shape shape, std::uint32_t seed, float lo, float hi) {
  Tensor t(DType::float32, std::move(shape));
  std::uint32_t s = seed * 2654435761u + 12345u;
  for (std::size_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    t.data<float>()[i] = lo + (hi - lo) * static_cast<float>(s >> 8) / static_cast<float>(1u << 24);
  }
  return t;
}

// max |a - b| / max |b|.
double relative_difference(const Tensor& a, const Tensor& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(double(a.data<float>()[i]) - double(b.data<float>()[i])));
    scale = std::max(scale, std::abs(double(b.data<float>()[i])));
  }
  return scale == 0 ? diff : diff / scale;
}

// Nodes whose target contains `part`.
std::size_t count_ops(const Graph& g, std::string_view part) {
  std::size_t n = 0;
  for (const Node* node : g.nodes()) n += node->target().find(part) != std::string_view::npos;
  return n;
}

// One conv -> batch_norm (-> relu) block, written as PT2E's exported training graph has it:
// parameters and buffers are get_attr nodes naming tensors of the Module, the BN updates its
// num_batches_tracked counter, and _native_batch_norm_legit's first output is read by getitem.
Node* conv_bn_block(Module& m, Node* x, const std::string& name, std::int64_t in, std::int64_t out, bool bias,
                    bool relu, double momentum, double eps, std::uint32_t seed) {
  Graph& g = m.graph;
  auto param = [&](const std::string& what, Tensor t) {
    m.parameters.add(name + "." + what, std::move(t));
    return g.get_attr(name + "." + what);
  };
  auto buffer = [&](const std::string& what, Tensor t) {
    m.buffers.add(name + "." + what, std::move(t));
    return g.get_attr(name + "." + what);
  };
  Node* w = param("conv.weight", values({out, in, 3, 3}, seed, -0.3f, 0.3f));
  Node* b = bias ? param("conv.bias", values({out}, seed + 1, -0.1f, 0.1f)) : nullptr;
  // conv2d(x, weight, bias, stride=[1, 1], padding=[1, 1])
  Node* conv = g.call_function("aten.conv2d.default", {x, w, b, ints({1, 1}), ints({1, 1})});
  Node* gamma = param("bn.weight", values({out}, seed + 2, 0.5f, 1.5f));
  Node* beta = param("bn.bias", values({out}, seed + 3, -0.2f, 0.2f));
  Node* mean = buffer("bn.running_mean", Tensor(DType::float32, {out}));
  Node* var = buffer("bn.running_var", Tensor::full<float>({out}, 1.0f));
  Node* counter = buffer("bn.num_batches_tracked", Tensor(DType::int64, {}));
  g.call_function("aten.add_.Tensor", {counter, 1});
  // (input, weight, bias, running_mean, running_var, training, momentum, eps)
  Node* bn = g.call_function("aten._native_batch_norm_legit.default",
                             {conv, gamma, beta, mean, var, true, momentum, eps});
  Node* y = g.call_function("operator.getitem", {bn, 0});
  return relu ? g.call_function("aten.relu.default", {y}) : y;
}

}  // namespace

int main() {
  // ---- 1. A model: two conv-bn blocks. ---------------------------------------------------------
  // block1: conv 3->8 with bias, BN eps 1e-3 and momentum 0.03 (PyTorch's reference would reset
  // both to 1e-5 / 0.1), relu. block2: conv 8->4 without bias, default BN.
  Module m;
  Node* x = m.graph.placeholder("x");
  Node* y = conv_bn_block(m, x, "block1", 3, 8, /*bias=*/true, /*relu=*/true, 0.03, 1e-3, 1);
  y = conv_bn_block(m, y, "block2", 8, 4, /*bias=*/false, /*relu=*/false, 0.1, 1e-5, 10);
  m.graph.output(y);
  m.lint();  // graph invariants, and every get_attr names a tensor
  const Module float_model = m;
  const Tensor probe = values({2, 3, 8, 8}, 7, -1.0f, 1.0f);
  std::cout << "1. model built: " << m.graph.size() << " nodes, "
            << count_ops(m.graph, "batch_norm") << " batch norms\n";

  // ---- 2. Prepare: simulate the BN fold during training. ---------------------------------------
  // Every conv -> batch_norm pair becomes conv(x, w * scale) / scale + bias -> batch_norm, so a
  // weight fake-quantizer placed on the scaled weight sees the folded weight while training.
  qat::PrepareReport prepared = qat::fuse_conv_bn_qat(m);
  m.lint();
  std::cout << "2. prepare: " << prepared.total() << " pairs fused (";
  for (const auto& [variant, n] : prepared.fused) std::cout << " " << variant << " x" << n;
  std::cout << " ), nodes " << prepared.nodes_before << " -> " << prepared.nodes_after << "\n";
  check(prepared.total() == 2 && prepared.count("conv2d+bias") == 1 && prepared.count("conv2d") == 1,
        "prepare fuses both pairs, one with a conv bias and one without");
  for (const Node* n : m.graph.nodes())
    if (n->target() == "aten._native_batch_norm_legit.default" && n->arg("running_mean").as_node()->target() == "block1.bn.running_mean")
      check(n->arg("eps").as_double() == 1e-3 && n->arg("momentum").as_double() == 0.03,
            "block1's BN keeps eps 1e-3 and momentum 0.03");
  // In float arithmetic the prepared model computes what the original did.
  Module float_copy = float_model;
  const double prepare_diff = relative_difference(run_module(m, {probe}, ExecMode::eval)[0],
                                                  run_module(float_copy, {probe}, ExecMode::eval)[0]);
  std::cout << "   prepared vs original, eval mode: max relative difference " << prepare_diff << "\n";
  check(prepare_diff < 1e-5, "the prepared model computes what the original did");

  // ---- 3. Train: a few steps in training mode. ---------------------------------------------------
  // The interpreter runs the graph like torch.fx.Interpreter; in training mode the batch norms
  // use batch statistics and update their running statistics and counters in the Module. (There
  // is no backward pass: weights stay, statistics move; a real trainer updates the parameters.)
  const float mean_before = m.attr("block1.bn.running_mean").data<float>()[0];
  for (std::uint32_t step = 0; step < 3; ++step)
    run_module(m, {values({4, 3, 8, 8}, 100 + step, -1.0f, 1.0f)}, ExecMode::train);
  const float mean_after = m.attr("block1.bn.running_mean").data<float>()[0];
  const std::int64_t steps = m.attr("block1.bn.num_batches_tracked").data<std::int64_t>()[0];
  std::cout << "3. three training steps: block1 running_mean[0] " << mean_before << " -> " << mean_after
            << ", num_batches_tracked " << steps << "\n";
  check(mean_after != mean_before && steps == 3, "training moved the running statistics and counted 3 batches");

  // ---- 4. Quantize the weights. -------------------------------------------------------------------
  // What a PT2E quantizer + convert_pt2e leave: quantize -> dequantize on each scaled weight,
  // symmetric int8 from the weight's current values (per output channel here).
  qat::QuantizeSpec spec;
  spec.per_channel = true;
  const int quantized = qat::insert_weight_qdq(m, spec);
  m.lint();
  std::cout << "4. weight q/dq inserted on " << quantized << " convs (int8, per channel)\n";
  check(quantized == 2 && count_ops(m.graph, ".quantize_per_channel") == 2 && count_ops(m.graph, ".dequantize_per_channel") == 2, "both convs got a weight q/dq pair");
  const Module qat_model = m;  // the model as it was trained, for the comparison below

  // ---- 5. Convert: fold each BN into its conv's quantized weight and bias. ----------------------
  qat::ConvertReport folded = qat::fold_conv_bn_qat(m);
  m.lint();
  std::cout << "5. convert: " << folded.total() << " pairs folded, nodes " << folded.nodes_before << " -> "
            << folded.nodes_after << ", batch norms left: " << count_ops(m.graph, "batch_norm") << "\n"
            << m.graph;
  check(folded.total() == 2 && count_ops(m.graph, "batch_norm") == 0, "both batch norms folded away");
  check(count_ops(m.graph, "num_batches_tracked") == 0 && count_ops(m.graph, "add_") == 0,
        "the counter updates and the counters' get_attr nodes are gone");

  // ---- 6. The folded model computes what the QAT model did. -------------------------------------
  Module qat_copy = qat_model;
  const Tensor expected = run_module(qat_copy, {probe}, ExecMode::eval)[0];
  const Tensor got = run_module(m, {probe}, ExecMode::eval)[0];
  const double fold_diff = relative_difference(got, expected);
  std::cout << "6. folded vs QAT model, eval mode: max relative difference " << fold_diff << "\n";
  check(got.shape() == expected.shape() && got.shape() == Shape({2, 4, 8, 8}), "output shape [2, 4, 8, 8]");
  check(fold_diff < 1e-5, "the folded model matches the QAT model within 1e-5");

  if (failures) return 1;
  std::cout << "qat_end_to_end: all checks passed\n";
  return 0;
}
