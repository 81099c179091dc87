// A vendored-graft program: builds conv -> batch_norm -> relu, prints it, and folds a
// multiplication by one with a rule of its own. Includes only the light headers (graph and
// pattern: the standard library, no Eigen, Boost or JSON). Returns 1 if a check fails.
#include <iostream>

#include "graft/graph.hpp"
#include "graft/pattern.hpp"

int main() {
  graft::Graph g;
  graft::Node* x = g.placeholder("x");
  graft::Node* conv = g.call_function("aten.conv2d.default", {x, g.get_attr("conv.weight")});
  graft::Node* bn = g.call_function("aten.batch_norm.default",
                                    {conv, nullptr, nullptr, nullptr, nullptr, false, 0.1, 1e-5, false});
  graft::Node* relu = g.call_function("aten.relu.default", {bn});
  g.output(g.call_function("aten.mul.Tensor", {relu, 1}));
  g.lint();

  using namespace graft::pattern;
  GRAFT_CAPTURE(value);
  RuleSet rules(rewrite(op("aten.mul.Tensor")(value, 1), value).named("mul_by_one"));
  RewriteReport report = rules.apply(g);
  g.lint();
  std::cout << g;
  const bool ok = report.count("mul_by_one") == 1 && g.size() == 6 && relu->num_users() == 1 &&
                  bn->arg("eps").as_double() == 1e-5;
  std::cout << (ok ? "vendored graft: ok\n" : "vendored graft: FAILED\n");
  return ok ? 0 : 1;
}
