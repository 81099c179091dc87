// The program shown in README.md ("A first program"); built and run by ctest.
#include <iostream>
#include "graft/graph.hpp"

int main() {
  graft::Graph g;
  graft::Node* x = g.placeholder("x");
  graft::Node* w = g.get_attr("conv.weight");
  graft::Node* conv = g.call_function("aten.conv2d.default", {x, w, nullptr, graft::ints({2, 2})});
  graft::Node* bn = g.call_function("aten.batch_norm.default",
      {conv, nullptr, nullptr, nullptr, nullptr, true, 0.1, 1e-3, false});
  g.output(graft::list({bn}));
  g.lint();                                    // every invariant, or an error naming the node
  std::cout << g;                              // prints like torch.fx's print(gm.graph)
  double eps = bn->arg("eps").as_double();     // by name: positional, keyword or default
  auto dilation = conv->arg("dilation").as_int_list();   // [1, 1], the schema default
  return eps == 1e-3 && dilation.size() == 2 ? 0 : 1;
}
