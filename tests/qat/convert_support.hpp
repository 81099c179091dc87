// Shared by the convert tests: prepared + weight-quantized single conv-bn models, counting and
// comparing helpers.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "graft/exec/interpreter.hpp"
#include "graft/graph.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"
#include "support/models.hpp"
#include "graft/qat/weight_qdq.hpp"

namespace graft::test {

using qat::QuantizeSpec;
using qat::insert_weight_qdq;
using qat::insert_activation_qdq;

inline std::size_t count_op(const Graph& g, std::string_view target) {
  std::size_t n = 0;
  for (const Node* node : g.nodes()) n += node->target() == target;
  return n;
}

inline std::size_t count_ops_containing(const Graph& g, std::string_view part) {
  std::size_t n = 0;
  for (const Node* node : g.nodes()) n += node->target().find(part) != std::string_view::npos;
  return n;
}

inline Node* only_op(const Graph& g, std::string_view target) {
  Node* found = nullptr;
  for (Node* n : g.nodes())
    if (n->target() == target) {
      REQUIRE_MESSAGE(found == nullptr, "more than one ", target);
      found = n;
    }
  REQUIRE_MESSAGE(found != nullptr, "no ", target);
  return found;
}

// A ConvSpec without spelling out every field.
inline ConvSpec cs(std::string op, std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t dims,
                   std::int64_t groups = 1, bool bias = true, bool transposed = false) {
  ConvSpec c;
  c.op = std::move(op);
  c.in = in;
  c.out = out;
  c.kernel = kernel;
  c.dims = dims;
  c.groups = groups;
  c.bias = bias;
  c.transposed = transposed;  // aten.convolution only
  return c;
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

inline Tensor input_for(const ConvSpec& c, DType dtype = DType::float32) {
  Shape s{2, c.in};
  for (std::int64_t d = 0; d < c.dims; ++d) s.push_back(c.dims == 3 ? 4 : 6);
  return filled(s, -1.0, 2.0, dtype);
}

// x -> conv -> bn [-> getitem] -> relu -> output, prepared, with weight (and bias) q/dq.
inline Module quantized_qat_model(const ConvSpec& c, const BnSpec& b = {}, const QuantizeSpec& q = {}) {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, c, b, "m");
  t.g.output(t.g.call_function("aten.relu.default", {y}));
  Module m = std::move(t.m);
  auto r = qat::fuse_conv_bn_qat(m);
  REQUIRE(r.total() == 1);
  REQUIRE(insert_weight_qdq(m, q) == 1);
  m.lint();
  return m;
}

inline Tensor run_eval(Module& m, const Tensor& x) {
  auto out = run_module(m, {x}, ExecMode::eval);
  REQUIRE(out.size() == 1);
  return out[0];
}

}  // namespace graft::test
