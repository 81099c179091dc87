// first_program: the README's example. A graph, a rewrite rule, the result; returns 1 if it
// does not come out as expected.
#include <iostream>
#include "graft/graph.hpp"
#include "graft/pattern.hpp"

int main() {
  graft::Graph g;                                // FX-shaped: nodes always in topological order
  graft::Node* x = g.placeholder("x");
  graft::Node* conv = g.call_function("aten.conv2d.default", {x, g.get_attr("conv.weight"), nullptr, graft::ints({2, 2})});
  graft::Node* relu = g.call_function("aten.relu.default", {conv});
  g.output(g.call_function("aten.mul.Tensor", {relu, 1}));

  using namespace graft::pattern;                // a rule: x * 1 -> x
  GRAFT_CAPTURE(v);
  RuleSet rules(rewrite(op("aten.mul.Tensor")(v, 1), v).named("mul_by_one"));
  RewriteReport report = rules.apply(g);         // one pass; the mul is gone

  g.lint();                                      // every invariant, or an error naming the node
  std::cout << g;                                // prints like torch.fx's print(gm.graph)
  auto dilation = conv->arg("dilation").as_int_list();  // [1, 1]: read by name, defaults included
  return report.count("mul_by_one") == 1 && dilation.size() == 2 ? 0 : 1;
}
