// fold_conv_bn_qat keeps the model's numbers: in eval mode the folded graph's output equals the
// unfolded QAT graph's (float32 tolerance), after training steps that moved the running
// statistics too; the end-to-end prepare -> train -> quantize -> fold chain on ResNet-18- and
// MobileNetV2-shaped graphs; and the eager references of PyTorch (goldens: conv with the
// fuse_conv_bn_weights weights quantized with the same qparams).
#include <doctest/doctest.h>

#include <string>

#include "numerics/golden.hpp"
#include "qat/convert_support.hpp"

using namespace graft;
using namespace graft::test;

namespace {

// Folded vs unfolded output in eval mode. A quantized bias is rounded to its scale after the
// fold (before it, the bias was zero), so it may move outputs by half a bias quantum.
void check_fold_keeps_numbers(Module unfolded, const Tensor& x, double tolerance = 1e-5, double bias_quantum = 0) {
  Module folded = unfolded;
  auto r = qat::fold_conv_bn_qat(folded);
  REQUIRE(r.total() >= 1);
  folded.lint();
  CHECK(count_ops_containing(folded.graph, "batch_norm") == 0);
  const Tensor a = run_eval(folded, x), b = run_eval(unfolded, x);
  if (bias_quantum == 0) {
    CHECK(relative_error(a, b) < tolerance);
  } else {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.numel(); ++i) {
      diff = std::max(diff, std::abs(value_at(a, i) - value_at(b, i)));
      scale = std::max(scale, std::abs(value_at(b, i)));
    }
    CHECK(diff <= bias_quantum / 2 + tolerance * scale);
  }
}

}  // namespace

TEST_CASE("folded and unfolded graphs agree for every conv spelling, weight quantization and bias variant") {
  const ConvSpec convs[] = {
      cs("aten.conv1d.default", 3, 4, 3, 1),          cs("aten.conv2d.default", 3, 4, 3, 2),
      cs("aten.conv3d.default", 3, 4, 3, 3),          cs("aten.conv2d.default", 4, 6, 3, 2, 2),
      cs("aten.conv2d.default", 4, 8, 3, 2, 4),       cs("aten.conv_transpose1d.default", 3, 5, 3, 1),
      cs("aten.conv_transpose2d.input", 3, 5, 3, 2),  cs("aten.conv_transpose3d.input", 3, 5, 3, 3),
      cs("aten.conv_transpose2d.input", 4, 6, 3, 2, 2), cs("aten.convolution.default", 3, 5, 3, 2, 1, true, true),
  };
  for (const ConvSpec& base : convs)
    for (bool per_channel : {false, true})
      for (int bias = 0; bias < 3; ++bias) {
        ConvSpec c = base;
        c.bias = bias != 0;
        QuantizeSpec q;
        q.per_channel = per_channel;
        q.quantize_bias = bias == 2;
        // Grouped transposed weights are per-channel on axis 1, which holds C_out/groups
        // channels: a quantizer would not pick that, so it is left out.
        if (per_channel && c.groups > 1 && c.op.find("transpose") != std::string::npos) continue;
        CAPTURE(c.op);
        CAPTURE(c.groups);
        CAPTURE(per_channel);
        CAPTURE(bias);
        Module m = quantized_qat_model(c, {}, q);
        double quantum = 0;
        if (q.quantize_bias) {
          for (const Node* n : m.graph.nodes()) {
            if (n->target() == "quantized_decomposed.dequantize_per_tensor.default" &&
                n->args()[5] == Argument(DType::int32))
              quantum = n->args()[1].as_double();
            else if (n->target() == "quantized_decomposed.dequantize_per_channel.default" &&
                     n->args()[6] == Argument(DType::int32)) {
              const Tensor& s = m.attr_of(*n->args()[1].as_node());
              for (std::size_t i = 0; i < s.numel(); ++i) quantum = std::max(quantum, value_at(s, i));
            }
          }
        }
        check_fold_keeps_numbers(std::move(m), input_for(c), 1e-5, quantum);
      }
}

TEST_CASE("fold keeps the numbers with BN eps 1e-3 and momentum 0.03, in every BN spelling") {
  const char* ops[] = {"aten.batch_norm.default", "aten._native_batch_norm_legit.default",
                       "aten.native_batch_norm.default", "aten._native_batch_norm_legit_no_training.default"};
  for (const char* op : ops) {
    CAPTURE(op);
    check_fold_keeps_numbers(quantized_qat_model({}, {op, true, 0.03, 1e-3}), input_for({}));
  }
}

TEST_CASE("fold after training steps that moved the running statistics keeps the numbers") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, cs("aten.conv2d.default", 3, 4, 3, 2), {"aten._native_batch_norm_legit.default", true, 0.3, 1e-5}, "m");
  t.g.output(t.g.call_function("aten.relu.default", {y}));
  Module m = std::move(t.m);
  REQUIRE(qat::fuse_conv_bn_qat(m).total() == 1);
  const Tensor mean0 = m.attr("m.bn.running_mean");
  for (int step = 0; step < 3; ++step)
    run_module(m, {filled({2, 3, 6, 6}, -1.0 + step, 2.0 + step)}, ExecMode::train);
  CHECK_FALSE(m.attr("m.bn.running_mean") == mean0);
  insert_weight_qdq(m, {});
  check_fold_keeps_numbers(std::move(m), filled({2, 3, 6, 6}, -1.0, 2.0));
}

TEST_CASE("prepare -> train -> quantize -> fold on ResNet-18- and MobileNetV2-shaped graphs") {
  struct Net {
    std::string name;
    Module (*make)(std::int64_t);
    std::size_t pairs;
  };
  const Net nets[] = {{"resnet18", &resnet18_shaped, 20}, {"mobilenet_v2", &mobilenet_v2_shaped, 52}};
  for (const Net& net : nets) {
    CAPTURE(net.name);
    Module m = net.make(8);
    const std::size_t adds = count_op(m.graph, "aten.add.Tensor");
    REQUIRE(qat::fuse_conv_bn_qat(m).total() == net.pairs);
    const Tensor x = filled({2, 3, 32, 32}, -1.0, 2.0);
    for (int step = 0; step < 2; ++step) run_module(m, {x}, ExecMode::train);
    QuantizeSpec q;
    q.per_channel = true;
    REQUIRE(insert_weight_qdq(m, q) == static_cast<int>(net.pairs));
    Module unfolded = m;
    auto r = qat::fold_conv_bn_qat(m);
    m.lint();
    CHECK(r.total() == net.pairs);
    CHECK(count_ops_containing(m.graph, "batch_norm") == 0);
    CHECK(count_op(m.graph, "aten.div.Tensor") == 0);
    CHECK(count_op(m.graph, "aten.mul.Tensor") == 0);
    CHECK(count_op(m.graph, "aten.add.Tensor") == adds);  // only the skip connections
    CHECK(count_op(m.graph, "quantized_decomposed.dequantize_per_channel.default") == net.pairs);
    CHECK(relative_error(run_eval(m, x), run_eval(unfolded, x)) < 1e-4);
  }
}

// ---- PyTorch goldens ---------------------------------------------------------------------------

namespace {

// x -> conv (the golden's op and hyperparameters) -> _native_batch_norm_legit_no_training ->
// getitem 0, prepared and quantized with the golden's weight (and bias) qparams.
Module golden_model(const golden::Case& c) {
  Module m;
  Graph& g = m.graph;
  const auto nd = c.params.at("spatial_dims").get<std::int64_t>();
  const bool transposed = c.params.at("transposed").get<bool>();
  const bool has_bias = c.params.at("has_bias").get<bool>();
  m.parameters.add("conv.weight", c["weight"]);
  if (has_bias) m.parameters.add("conv.bias", c["bias"]);
  m.parameters.add("bn.weight", c["bn_weight"]);
  m.parameters.add("bn.bias", c["bn_bias"]);
  m.buffers.add("bn.running_mean", c["running_mean"]);
  m.buffers.add("bn.running_var", c["running_var"]);
  Node* x = g.placeholder("x");
  Node* w = g.get_attr("conv.weight");
  Argument b = has_bias ? Argument(g.get_attr("conv.bias")) : Argument();
  const std::int64_t groups = c.params.at("groups").get<std::int64_t>();
  Node* conv;
  if (!transposed) {
    conv = g.call_function("aten.conv" + std::to_string(nd) + "d.default",
                           {x, w, b, ints(c.ints("stride")), ints(c.ints("padding")), ints(c.ints("dilation")), groups});
  } else {
    const std::string op = "aten.conv_transpose" + std::to_string(nd) + "d." + (nd == 1 ? "default" : "input");
    conv = g.call_function(op, {x, w, b, ints(c.ints("stride")), ints(c.ints("padding")), ints(c.ints("output_padding")),
                                groups, ints(c.ints("dilation"))});
  }
  Node* bn = g.call_function("aten._native_batch_norm_legit_no_training.default",
                             {conv, g.get_attr("bn.weight"), g.get_attr("bn.bias"), g.get_attr("bn.running_mean"),
                              g.get_attr("bn.running_var"), 0.1, c.params.at("eps").get<double>()});
  g.output(g.call_function("operator.getitem", {bn, 0}));
  REQUIRE(qat::fuse_conv_bn_qat(m).total() == 1);

  QuantizeSpec q;
  q.per_channel = c.params.at("per_channel").get<bool>();
  q.quantize_bias = c.params.at("bias_quantized").get<bool>();
  if (q.per_channel) {
    const Tensor& s = c["w_scales"];
    q.weight_scales.assign(s.data<float>(), s.data<float>() + s.numel());
  } else {
    q.weight_scales = {static_cast<float>(c.params.at("w_scale").get<double>())};
  }
  if (q.quantize_bias) q.bias_scale = c.params.at("b_scale").get<double>();
  REQUIRE(insert_weight_qdq(m, q) == 1);
  m.lint();
  return m;
}

}  // namespace

TEST_CASE("folded parameters and outputs match PyTorch's eager reference (goldens)") {
  std::size_t checked = 0;
  for (const auto& c : golden::load_all("convert_")) {
    CAPTURE(c.name);
    Module m = golden_model(c);
    auto r = qat::fold_conv_bn_qat(m);
    m.lint();
    REQUIRE(r.total() == 1);
    // The fold is the float64 fold rounded once: bit for bit.
    CHECK(m.attr("conv.weight") == c["folded_weight"]);
    const Node* conv = nullptr;
    for (const Node* n : m.graph.nodes())
      if (n->target().find("conv") != std::string_view::npos && n->is_call_function()) conv = n;
    REQUIRE(conv != nullptr);
    const Node* bias = conv->arg("bias").as_node();
    if (c.params.at("bias_quantized").get<bool>()) bias = bias->args()[0].as_node()->args()[0].as_node();
    REQUIRE(bias->is_get_attr());
    CHECK(m.attr_of(*bias) == c["folded_bias"]);
    auto out = run_module(m, {c["x"]});
    REQUIRE(out.size() == 1);
    CHECK(golden::rel_err(out[0], c["out"]) < 1e-5);
    ++checked;
  }
  CHECK(checked == 15);
}
