// Exported-graph-shaped models for the QAT tests: conv -> batch_norm blocks in every spelling,
// and ResNet-18- / MobileNetV2-shaped networks, with real parameters in a Module.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <string>
#include <vector>

#include "graft/graph.hpp"

namespace graft::test {

struct ConvSpec {
  std::string op = "aten.conv2d.default";  // any conv spelling
  std::int64_t in = 3, out = 3, kernel = 3, dims = 2, groups = 1;
  bool bias = true;
  bool transposed = false;                  // for aten.convolution
  std::vector<std::int64_t> stride, padding;  // empty: leave to the default
};

struct BnSpec {
  std::string op = "aten.batch_norm.default";
  bool training = true;
  double momentum = 0.1, eps = 1e-5;
};

// The node argument `i` of `n` reads.
inline Node* arg_node(const Node* n, std::size_t i) { return n->args().at(i).as_node(); }

// Deterministic, varied values.
inline Tensor filled(Shape shape, double base, double step, DType dtype = DType::float32) {
  Tensor t(dtype, std::move(shape));
  for (std::size_t i = 0; i < t.numel(); ++i) {
    double v = base + step * static_cast<double>((i * 7919) % 97) / 97.0;
    if (dtype == DType::float64) t.data<double>()[i] = v;
    else t.data<float>()[i] = static_cast<float>(v);
  }
  return t;
}

struct Builder {
  Module m;
  Graph& g = m.graph;
  DType dtype = DType::float32;

  Builder() = default;
  explicit Builder(DType dt) : dtype(dt) {}
  Builder(const Builder& o) : m(o.m), g(m.graph), dtype(o.dtype) {}
  Builder(Builder&& o) noexcept : m(std::move(o.m)), g(m.graph), dtype(o.dtype) {}

  Node* param(const std::string& name, Tensor t, bool buffer = false) {
    (buffer ? m.buffers : m.parameters).add(name, std::move(t));
    return g.get_attr(name);
  }

  bool is_transposed(const ConvSpec& c) const {
    return c.op.find("conv_transpose") != std::string::npos || (c.op == "aten.convolution.default" && c.transposed);
  }

  // Returns the conv node.
  Node* conv(Node* x, const ConvSpec& c, const std::string& prefix) {
    Shape wshape = is_transposed(c) ? Shape{c.in, c.out / c.groups} : Shape{c.out, c.in / c.groups};
    for (std::int64_t d = 0; d < c.dims; ++d) wshape.push_back(c.kernel);
    Node* w = param(prefix + ".weight", filled(wshape, -0.5, 1.0, dtype));
    Node* b = c.bias ? param(prefix + ".bias", filled({c.out}, -0.2, 0.4, dtype)) : nullptr;
    std::vector<std::int64_t> ones(static_cast<std::size_t>(c.dims), 1), zeros(static_cast<std::size_t>(c.dims), 0);
    const auto& stride = c.stride.empty() ? ones : c.stride;
    const auto& padding = c.padding.empty() ? zeros : c.padding;
    if (c.op == "aten.convolution.default")
      return g.call_function(c.op, {x, w, b, ints(stride), ints(padding), ints(ones), c.transposed, ints(zeros), c.groups});
    std::vector<Argument> args{x, w, b, ints(stride), ints(padding)};
    if (is_transposed(c)) args.push_back(ints(zeros));  // output_padding
    else args.push_back(ints(ones));                   // dilation
    args.push_back(c.groups);
    return g.call_function(c.op, std::move(args));
  }

  // conv -> bn; returns the node that carries the BN's output (the BN, or getitem(bn, 0)).
  Node* conv_bn(Node* x, const ConvSpec& c, const BnSpec& b, const std::string& prefix) {
    Node* cv = conv(x, c, prefix + ".conv");
    Node* gamma = param(prefix + ".bn.weight", filled({c.out}, 0.5, 1.0, dtype));
    Node* beta = param(prefix + ".bn.bias", filled({c.out}, -0.3, 0.6, dtype));
    Node* mean = param(prefix + ".bn.running_mean", filled({c.out}, -0.1, 0.2, dtype), true);
    Node* var = param(prefix + ".bn.running_var", filled({c.out}, 0.5, 1.0, dtype), true);
    if (b.op == "aten.batch_norm.default")
      return g.call_function(b.op, {cv, gamma, beta, mean, var, b.training, b.momentum, b.eps, false});
    Node* bn;
    if (b.op == "aten._native_batch_norm_legit_no_training.default")
      bn = g.call_function(b.op, {cv, gamma, beta, mean, var, b.momentum, b.eps});
    else
      bn = g.call_function(b.op, {cv, gamma, beta, mean, var, b.training, b.momentum, b.eps});
    return g.call_function("operator.getitem", {bn, 0});
  }
};

// ResNet-18's conv-bn structure (20 pairs), widths divided by `shrink`.
inline Module resnet18_shaped(std::int64_t shrink = 8) {
  Builder b;
  Node* x = b.g.placeholder("x");
  auto w = [&](std::int64_t c) { return std::max<std::int64_t>(c / shrink, 2); };
  ConvSpec stem{"aten.conv2d.default", 3, w(64), 7, 2, 1, false, false, {2, 2}, {3, 3}};
  x = b.g.call_function("aten.relu.default", {b.conv_bn(x, stem, {}, "conv1")});
  x = b.g.call_function("aten.max_pool2d.default", {x, ints({3, 3}), ints({2, 2}), ints({1, 1})});
  std::int64_t in = w(64);
  const std::int64_t widths[4] = {w(64), w(128), w(256), w(512)};
  for (int layer = 0; layer < 4; ++layer)
    for (int block = 0; block < 2; ++block) {
      std::string p = "layer" + std::to_string(layer + 1) + "." + std::to_string(block);
      std::int64_t out = widths[layer];
      bool down = block == 0 && layer > 0;
      std::vector<std::int64_t> s = down ? std::vector<std::int64_t>{2, 2} : std::vector<std::int64_t>{1, 1};
      Node* y = b.conv_bn(x, {"aten.conv2d.default", in, out, 3, 2, 1, false, false, s, {1, 1}}, {}, p + ".1");
      y = b.g.call_function("aten.relu.default", {y});
      y = b.conv_bn(y, {"aten.conv2d.default", out, out, 3, 2, 1, false, false, {1, 1}, {1, 1}}, {}, p + ".2");
      Node* skip = down ? b.conv_bn(x, {"aten.conv2d.default", in, out, 1, 2, 1, false, false, s, {0, 0}}, {}, p + ".down")
                        : x;
      x = b.g.call_function("aten.relu.default", {b.g.call_function("aten.add.Tensor", {y, skip})});
      in = out;
    }
  x = b.g.call_function("aten.mean.dim", {x, ints({-1, -2}), true});
  b.g.output(x);
  return std::move(b.m);
}

// MobileNetV2's conv-bn structure (52 pairs: stem, 17 inverted residual blocks, last conv),
// widths divided by `shrink`.
inline Module mobilenet_v2_shaped(std::int64_t shrink = 4) {
  Builder b;
  Node* x = b.g.placeholder("x");
  auto w = [&](std::int64_t c) { return std::max<std::int64_t>(c / shrink, 2); };
  auto relu6 = [&](Node* n) { return b.g.call_function("aten.hardtanh.default", {n, 0.0, 6.0}); };
  std::int64_t in = w(32);
  x = relu6(b.conv_bn(x, {"aten.conv2d.default", 3, in, 3, 2, 1, false, false, {2, 2}, {1, 1}}, {}, "features.0"));
  // (expansion t, channels c, repeats n, stride s), as in the paper.
  const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int index = 1;
  for (const auto& row : cfg)
    for (int r = 0; r < row[2]; ++r, ++index) {
      std::string p = "features." + std::to_string(index);
      std::int64_t out = w(row[1]), hidden = in * row[0];
      std::int64_t s = r == 0 ? row[3] : 1;
      Node* y = x;
      if (row[0] != 1)
        y = relu6(b.conv_bn(y, {"aten.conv2d.default", in, hidden, 1, 2, 1, false, false, {1, 1}, {0, 0}}, {}, p + ".expand"));
      y = relu6(b.conv_bn(y, {"aten.conv2d.default", hidden, hidden, 3, 2, hidden, false, false, {s, s}, {1, 1}}, {}, p + ".dw"));
      y = b.conv_bn(y, {"aten.conv2d.default", hidden, out, 1, 2, 1, false, false, {1, 1}, {0, 0}}, {}, p + ".project");
      x = (s == 1 && in == out) ? b.g.call_function("aten.add.Tensor", {x, y}) : y;
      in = out;
    }
  x = relu6(b.conv_bn(x, {"aten.conv2d.default", in, w(1280), 1, 2, 1, false, false, {1, 1}, {0, 0}}, {}, "features.18"));
  x = b.g.call_function("aten.mean.dim", {x, ints({-1, -2}), true});
  b.g.output(x);
  return std::move(b.m);
}

inline std::size_t count_op(const Graph& g, std::string_view target) {
  std::size_t n = 0;
  for (const Node* node : g.nodes()) n += node->target() == target;
  return n;
}

inline double value_at(const Tensor& t, std::size_t i) {
  return t.dtype() == DType::float64 ? t.data<double>()[i] : static_cast<double>(t.data<float>()[i]);
}

// max |a - b| / max |b|.
inline double relative_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(value_at(a, i) - value_at(b, i)));
    scale = std::max(scale, std::abs(value_at(b, i)));
  }
  return scale == 0 ? diff : diff / scale;
}

// An input batch of two for the conv `c`.
inline Tensor input_for(const ConvSpec& c, DType dtype = DType::float32) {
  Shape s{2, c.in};
  for (std::int64_t d = 0; d < c.dims; ++d) s.push_back(c.dims == 3 ? 4 : 6);
  return filled(s, -1.0, 2.0, dtype);
}

}  // namespace graft::test
