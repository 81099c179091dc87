// Small graphs shared by the tests.
#pragma once

#include <string>

#include "graft/graph.hpp"

namespace graft::test {

// x -> conv2d(x, w, b) -> batch_norm -> relu -> output, as torch.export spells it.
struct ConvBnRelu {
  Graph g;
  Node* x;
  Node* w;
  Node* b;
  Node* bn_w;
  Node* bn_b;
  Node* mean;
  Node* var;
  Node* conv;
  Node* bn;
  Node* relu;
  Node* out;

  ConvBnRelu() {
    x = g.placeholder("x");
    w = g.get_attr("conv.weight");
    b = g.get_attr("conv.bias");
    bn_w = g.get_attr("bn.weight");
    bn_b = g.get_attr("bn.bias");
    mean = g.get_attr("bn.running_mean");
    var = g.get_attr("bn.running_var");
    conv = g.call_function("aten.conv2d.default", {x, w, b, ints({1, 1}), ints({0, 0})});
    bn = g.call_function("aten.batch_norm.default",
                         {conv, bn_w, bn_b, mean, var, true, 0.1, 1e-5, false});
    relu = g.call_function("aten.relu.default", {bn});
    out = g.output(list({relu}));
  }
};

// x -> add(x, 1) -> add(., 1) -> ... (n adds) -> output.
inline Graph make_chain(std::size_t n) {
  Graph g;
  Node* cur = g.placeholder("x");
  const OpSchema* add = g.resolve_op("aten.add.Scalar");
  for (std::size_t i = 0; i < n; ++i) cur = g.call_function(add, {cur, 1});
  g.output(cur);
  return g;
}

}  // namespace graft::test
