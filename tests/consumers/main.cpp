// A user's program: builds a conv -> batch_norm graph, checks it, prints it.
#include <iostream>

#include "graft/graft.hpp"

int main() {
  graft::Graph g;
  graft::Node* x = g.placeholder("x");
  graft::Node* w = g.get_attr("conv.weight");
  graft::Node* conv = g.call_function("aten.conv2d.default", {x, w});
  graft::Node* bn = g.call_function("aten.batch_norm.default",
                                    {conv, nullptr, nullptr, nullptr, nullptr, false, 0.1, 1e-5, false});
  g.output(bn);
  g.lint();
  std::cout << g;
  return bn->arg("eps").as_double() == 1e-5 && conv->num_users() == 1 ? 0 : 1;
}
