// Builds the ATen graph of one conv -> batch_norm block as torch.export writes it, optionally
// with PT2E QAT's simulated fold and weight fake-quant (the fuse pass's output), from a golden.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "golden.hpp"
#include "graft/graph/argument.hpp"
#include "graft/graph/module.hpp"

namespace convbn {

inline const char* conv_op(std::int64_t nd) {
  return nd == 1 ? "aten.conv1d.default" : nd == 2 ? "aten.conv2d.default" : "aten.conv3d.default";
}

inline std::vector<std::int64_t> shape_with(std::int64_t nd, bool out_axis_first) {
  std::vector<std::int64_t> s(static_cast<std::size_t>(nd + 2), 1);
  s[out_axis_first ? 0 : 1] = -1;
  return s;
}

// conv(x, w, b) -> bn_op(...) -> [getitem 0] -> [relu] ; plus add_(num_batches_tracked, 1) in training.
// bn_op: "aten.batch_norm.default", "aten._native_batch_norm_legit.default", "aten.native_batch_norm.default"
// or "aten._native_batch_norm_legit_no_training.default". Parameters come from golden `c`
// (bn_* or qat_* family names), the conv hyperparameters from its params.
struct Options {
  std::string bn_op = "aten._native_batch_norm_legit.default";
  bool training = true;
  bool relu = false;
  // QAT: simulate the fold (scale the weight by gamma/sqrt(var+eps)) and fake-quant it.
  bool qat = false;
  bool per_channel = false;
};

inline graft::Module build(const golden::Case& c, const Options& o) {
  using graft::Argument;
  using graft::Node;
  graft::Module m;
  const auto nd = c.params.at("spatial_dims").get<std::int64_t>();
  const bool has_bias = c.find("bias") != nullptr;
  m.parameters.add("conv.weight", c["weight"]);
  if (has_bias) m.parameters.add("conv.bias", c["bias"]);
  m.parameters.add("bn.weight", c["bn_weight"]);
  m.parameters.add("bn.bias", c["bn_bias"]);
  m.buffers.add("bn.running_mean", c["running_mean"]);
  m.buffers.add("bn.running_var", c["running_var"]);
  m.buffers.add("bn.num_batches_tracked",
                c.find("num_batches_tracked") ? c["num_batches_tracked"] : graft::Tensor(graft::DType::int64, {}));
  const double eps = c.params.at("eps").get<double>();
  const double momentum =
      c.params.contains("momentum") && !c.params.at("momentum").is_null() ? c.params.at("momentum").get<double>() : 0.1;

  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* w = g.get_attr("conv.weight");
  Node* b = has_bias ? g.get_attr("conv.bias") : nullptr;
  Node* gamma = g.get_attr("bn.weight");
  Node* beta = g.get_attr("bn.bias");
  Node* rm = g.get_attr("bn.running_mean");
  Node* rv = g.get_attr("bn.running_var");
  Node* nbt = g.get_attr("bn.num_batches_tracked");
  graft::Kwargs conv_kw = {{"stride", graft::ints(c.ints("stride"))},
                           {"padding", graft::ints(c.ints("padding"))},
                           {"dilation", graft::ints(c.ints("dilation"))},
                           {"groups", Argument(c.params.at("groups").get<std::int64_t>())}};
  Node* conv_out = nullptr;
  if (o.qat) {
    m.buffers.add("fq.scale", c["weight_fq_scale"]);
    m.buffers.add("fq.zero_point", c["weight_fq_zero_point"]);
    Node* var_eps = g.call_function("aten.add.Tensor", {rv, eps});
    Node* std_ = g.call_function("aten.sqrt.default", {var_eps});
    Node* sf = g.call_function("aten.div.Tensor", {gamma, std_});
    Node* sf_w = g.call_function("aten.reshape.default", {sf, graft::ints(shape_with(nd, true))});
    Node* sw = g.call_function("aten.mul.Tensor", {w, sf_w});
    Node* scale = g.get_attr("fq.scale");
    Node* zp = g.get_attr("fq.zero_point");
    Node* q = nullptr;
    Node* dq = nullptr;
    if (o.per_channel) {
      q = g.call_function("quantized_decomposed.quantize_per_channel.default",
                          {sw, scale, zp, 0, -128, 127, Argument(graft::DType::int8)});
      dq = g.call_function("quantized_decomposed.dequantize_per_channel.default",
                           {q, scale, zp, 0, -128, 127, Argument(graft::DType::int8)});
    } else {
      q = g.call_function("quantized_decomposed.quantize_per_tensor.tensor",
                          {sw, scale, zp, -128, 127, Argument(graft::DType::int8)});
      dq = g.call_function("quantized_decomposed.dequantize_per_tensor.tensor",
                           {q, scale, zp, -128, 127, Argument(graft::DType::int8)});
    }
    Node* zero_bias = has_bias ? g.call_function("aten.zeros_like.default", {b}) : nullptr;
    Node* conv = g.call_function(conv_op(nd), {x, dq, zero_bias}, conv_kw);
    Node* sf_o = g.call_function("aten.reshape.default", {sf, graft::ints(shape_with(nd, false))});
    conv_out = g.call_function("aten.div.Tensor", {conv, sf_o});
    if (has_bias) {
      Node* b_o = g.call_function("aten.reshape.default", {b, graft::ints(shape_with(nd, false))});
      conv_out = g.call_function("aten.add.Tensor", {conv_out, b_o});
    }
  } else {
    conv_out = g.call_function(conv_op(nd), {x, w, b}, conv_kw);
  }
  Node* y = nullptr;
  if (o.training && o.bn_op != "aten._native_batch_norm_legit_no_training.default")
    g.call_function("aten.add_.Tensor", {nbt, 1});
  if (o.bn_op == "aten.batch_norm.default") {
    y = g.call_function(o.bn_op, {conv_out, gamma, beta, rm, rv, o.training, momentum, eps, false});
  } else if (o.bn_op == "aten._native_batch_norm_legit_no_training.default") {
    Node* bn = g.call_function(o.bn_op, {conv_out, gamma, beta, rm, rv, momentum, eps});
    y = g.call_function("operator.getitem", {bn, 0});
  } else {
    Node* bn = g.call_function(o.bn_op, {conv_out, gamma, beta, rm, rv, o.training, momentum, eps});
    y = g.call_function("operator.getitem", {bn, 0});
  }
  if (o.relu) y = g.call_function("aten.relu_.default", {y});
  g.output(graft::list({y}));
  m.lint();
  return m;
}

}  // namespace convbn
