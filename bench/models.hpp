// Graphs shared by the benchmark programs: chains of conv-bn-relu blocks, and ResNet-50- and
// MobileNetV2-shaped networks with their real channel counts, kernel sizes and float32 weights.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "graft/graph.hpp"

namespace graft::bench {

struct ModelBuilder {
  Module m;
  Graph& g = m.graph;

  Node* attr(const std::string& name, Tensor t, bool buffer) {
    (buffer ? m.buffers : m.parameters).add(name, std::move(t));
    return g.get_attr(name);
  }
  // conv2d (no bias, as exported models have before a BN) -> _native_batch_norm_legit ->
  // getitem 0, as torch.export spells a training-mode BN. Weights are deterministic, non-zero.
  Node* conv_bn(Node* x, std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, const std::string& p,
                std::int64_t groups = 1) {
    Tensor w(DType::float32, {out, in / groups, k, k});
    float* d = w.data<float>();
    for (std::size_t i = 0; i < w.numel(); ++i) d[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    Node* wn = attr(p + ".conv.weight", std::move(w), false);
    Node* conv = groups == 1
                     ? g.call_function("aten.conv2d.default", {x, wn, Argument(), ints({stride, stride}), ints({k / 2, k / 2})})
                     : g.call_function("aten.conv2d.default", {x, wn, Argument(), ints({stride, stride}), ints({k / 2, k / 2}),
                                                               ints({1, 1}), groups});
    Node* gamma = attr(p + ".bn.weight", Tensor::full<float>({out}, 1.5f), false);
    Node* beta = attr(p + ".bn.bias", Tensor::full<float>({out}, 0.25f), false);
    Node* mean = attr(p + ".bn.running_mean", Tensor::full<float>({out}, 0.1f), true);
    Node* var = attr(p + ".bn.running_var", Tensor::full<float>({out}, 2.0f), true);
    Node* bn = g.call_function("aten._native_batch_norm_legit.default", {conv, gamma, beta, mean, var, true, 0.1, 1e-5});
    return g.call_function("operator.getitem", {bn, 0});
  }
};

// N blocks conv2d(4 -> 4, 3x3, with bias) -> batch_norm.default -> relu: 9 N + 2 nodes, the
// spelling torch.fx's symbolic_trace gives (bench/compare_torch.py traces the same chain).
inline Module conv_bn_relu_chain(std::int64_t n) {
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

// ResNet-50's conv-bn structure with its real channel counts and kernel sizes: 53 conv-bn pairs,
// 23.5 M float32 conv weights (94 MB).
inline Module resnet50() {
  ModelBuilder b;
  Node* x = b.g.placeholder("x");
  x = b.g.call_function("aten.relu.default", {b.conv_bn(x, 3, 64, 7, 2, "conv1")});
  x = b.g.call_function("aten.max_pool2d.default", {x, ints({3, 3}), ints({2, 2}), ints({1, 1})});
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
  x = b.g.call_function("aten.mean.dim", {x, ints({-1, -2}), true});
  b.g.output(x);
  return std::move(b.m);
}

// MobileNetV2's conv-bn structure with its real widths: 52 conv-bn pairs (stem, 17 inverted
// residual blocks with depthwise 3x3 convs, last 1x1 conv), 2.2 M float32 conv weights.
inline Module mobilenet_v2() {
  ModelBuilder b;
  Node* x = b.g.placeholder("x");
  auto relu6 = [&](Node* n) { return b.g.call_function("aten.hardtanh.default", {n, 0.0, 6.0}); };
  std::int64_t in = 32;
  x = relu6(b.conv_bn(x, 3, in, 3, 2, "features.0"));
  // (expansion t, channels c, repeats n, stride s), as in the paper.
  const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int index = 1;
  for (const auto& row : cfg)
    for (int r = 0; r < row[2]; ++r, ++index) {
      const std::string p = "features." + std::to_string(index);
      const std::int64_t out = row[1], hidden = in * row[0], s = r == 0 ? row[3] : 1;
      Node* y = x;
      if (row[0] != 1) y = relu6(b.conv_bn(y, in, hidden, 1, 1, p + ".expand"));
      y = relu6(b.conv_bn(y, hidden, hidden, 3, s, p + ".dw", hidden));
      y = b.conv_bn(y, hidden, out, 1, 1, p + ".project");
      x = (s == 1 && in == out) ? b.g.call_function("aten.add.Tensor", {x, y}) : y;
      in = out;
    }
  x = relu6(b.conv_bn(x, in, 1280, 1, 1, "features.18"));
  x = b.g.call_function("aten.mean.dim", {x, ints({-1, -2}), true});
  b.g.output(x);
  return std::move(b.m);
}

// Total bytes of the parameters whose names end in ".conv.weight".
inline std::size_t conv_weight_bytes(const Module& m) {
  std::size_t bytes = 0;
  m.parameters.for_each([&](const NamedTensors::Entry& e) {
    if (e.name.size() > 12 && e.name.compare(e.name.size() - 12, 12, ".conv.weight") == 0) bytes += e.tensor.nbytes();
  });
  return bytes;
}

}  // namespace graft::bench
