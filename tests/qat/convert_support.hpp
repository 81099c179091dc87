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
