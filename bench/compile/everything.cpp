// Compile-cost probe (b): the umbrella header, using every layer once (plus the DOT writer and a
// BGL algorithm, which graft/graft.hpp does not include).
#include <sstream>

#include <boost/graph/topological_sort.hpp>

#include "graft/graft.hpp"
#include "graft/io/dot.hpp"  // not in the umbrella header

int main() {
  using namespace graft;
  Module m;
  Node* x = m.graph.placeholder("x");
  m.graph.output(m.graph.call_function("aten.relu.default", {x}));
  auto p = qat::fuse_conv_bn_qat(m);
  auto c = qat::fold_conv_bn_qat(m);
  qat::insert_weight_qdq(m);
  auto out = run_module(m, {Tensor::full<float>({2}, -1.0f)});
  const std::string text = io::serialize_graph(m);
  Module back = io::parse_graph(text, {}, {false});
  std::ostringstream dot;
  io::write_dot(dot, back.graph);
  std::vector<Node*> order;
  boost::topological_sort(m.graph, std::back_inserter(order));
  GRAFT_CAPTURE(y);
  auto matches = pattern::find_matches(m.graph, pattern::op("aten.relu.default")(y));
  return static_cast<int>(p.total() + c.total() + out.size() + matches.size() + order.size() + dot.str().size() % 2);
}
