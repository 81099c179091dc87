// A program using an installed graft: builds a conv -> batch_norm graph, checks it, prints it.
// Includes the umbrella header (everything: Boost.Graph, Eigen and nlohmann/json too).
// Returns 1 if a check fails.
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
  std::cout << g << "graft " << graft::version_string << "\n";
  return bn->arg("eps").as_double() == 1e-5 && conv->num_users() == 1 ? 0 : 1;
}
