// bgl_algorithms: Boost.Graph algorithms run directly on a graft::Graph.
//
// graft/graph/bgl.hpp makes graft::Graph a Boost.Graph graph (vertices are Node*, an edge runs
// from a node to each node that reads it), with a vertex index map, so BGL's algorithms need no
// copy of the graph. On two residual blocks this program runs:
//   - topological_sort: an order in which every node comes after its inputs;
//   - lengauer_tarjan_dominator_tree: the nodes every path from the input to the output goes
//     through, which are where a compiler can cut the network into stages;
//   - strong_components: one component per node, i.e. no cycle;
//   - write_graphviz: a DOT picture with the cut points highlighted.
// Each result is checked; the program returns 1 if a check fails.
#include <algorithm>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/graph/dominator_tree.hpp>
#include <boost/graph/graphviz.hpp>
#include <boost/graph/strong_components.hpp>
#include <boost/graph/topological_sort.hpp>
#include <boost/property_map/property_map.hpp>

#include "graft/graph.hpp"
#include "graft/graph/bgl.hpp"

using namespace graft;

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "bgl_algorithms: CHECK FAILED: " << what << "\n";
    ++failures;
  }
}

// x -> conv -> relu -> conv -> (+ x) -> relu, twice: ResNet's basic block without the BNs.
Node* residual_block(Graph& g, Node* x, const std::string& name) {
  auto conv3x3 = [&](Node* in, const std::string& weight) {  // stride 1, padding 1, no bias
    return g.call_function("aten.conv2d.default", {in, g.get_attr(weight), nullptr, ints({1, 1}), ints({1, 1})});
  };
  Node* a = conv3x3(x, name + ".conv1.weight");
  Node* b = g.call_function("aten.relu.default", {a});
  Node* c = conv3x3(b, name + ".conv2.weight");
  Node* sum = g.call_function("aten.add.Tensor", {c, x});
  return g.call_function("aten.relu.default", {sum});
}

}  // namespace

int main() {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = residual_block(g, x, "block1");
  y = residual_block(g, y, "block2");
  Node* out = g.output(y);
  g.lint();
  std::cout << g << "\n" << num_vertices(g) << " vertices, " << num_edges(g) << " edges\n\n";
  check(num_vertices(g) == 16 && num_edges(g) == 17, "16 nodes and 17 edges");

  // The vertex index map numbers nodes densely in graph order; BGL's per-vertex arrays use it.
  const auto index = get(boost::vertex_index, g);

  // ---- topological_sort -----------------------------------------------------------------------
  // BGL writes the order reversed (a vertex after everything it reaches).
  std::vector<Node*> order;
  boost::topological_sort(g, std::back_inserter(order));
  std::reverse(order.begin(), order.end());
  std::unordered_map<const Node*, std::size_t> position;
  for (std::size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  bool inputs_first = order.size() == num_vertices(g);
  for (Node* n : g.nodes())
    for (Node* user : n->users()) inputs_first = inputs_first && position.at(n) < position.at(user);
  std::cout << "topological_sort: " << order.size() << " nodes, first " << order.front()->name() << ", last "
            << order.back()->name() << "\n";
  check(inputs_first, "topological_sort puts every node after its inputs");
  check(order.back() == out, "the output comes last");

  // ---- lengauer_tarjan_dominator_tree ---------------------------------------------------------
  // From the input x: idom[n] is the last node every path x -> n goes through. The weights
  // (get_attr nodes) are not reachable from x and keep no dominator (null).
  // Boost 1.74's three-argument overload numbers unreachable vertices 0, like the entry, and
  // then takes a weight for a dominator: pass a DFS-number map that starts at num_vertices
  // ("not visited"), which the algorithm skips.
  const std::size_t n_vertices = num_vertices(g);
  std::vector<Node*> idom_storage(n_vertices, nullptr), parent(n_vertices, nullptr), by_dfnum(n_vertices, nullptr);
  std::vector<std::size_t> dfnum(n_vertices, n_vertices);
  auto idom = boost::make_iterator_property_map(idom_storage.begin(), index);
  boost::lengauer_tarjan_dominator_tree(g, x, index, boost::make_iterator_property_map(dfnum.begin(), index),
                                        boost::make_iterator_property_map(parent.begin(), index), by_dfnum, idom);
  std::vector<std::string> chain;  // the output's dominators, nearest first
  for (Node* n = get(idom, out); n; n = get(idom, n)) chain.push_back(n->name());
  std::cout << "dominators of the output:";
  for (const std::string& s : chain) std::cout << " " << s;
  std::cout << "\n";
  // Each block's add and relu dominate the output; the convs do not (the skip bypasses them).
  check(chain == std::vector<std::string>{"relu_3", "add_1", "relu_1", "add", "x"},
        "the output's dominators are the blocks' add and relu nodes, then x");
  check(get(idom, g.find("block1_conv1_weight")) == nullptr, "a weight, unreachable from x, has no dominator");

  // ---- strong_components ----------------------------------------------------------------------
  // A graft graph is kept acyclic by construction: every node is its own strong component.
  std::vector<std::size_t> component(num_vertices(g));
  const std::size_t components =
      boost::strong_components(g, boost::make_iterator_property_map(component.begin(), index));
  std::cout << "strong_components: " << components << " for " << num_vertices(g) << " nodes (no cycle)\n";
  check(components == num_vertices(g), "one strong component per node");

  // ---- write_graphviz -------------------------------------------------------------------------
  // Vertices are numbered by the index map; the writer labels them and colours the cut points.
  std::ostringstream dot;
  boost::write_graphviz(dot, g, [&](std::ostream& os, Node* n) {
    const bool cut = std::find(chain.begin(), chain.end(), n->name()) != chain.end();
    os << "[label=\"" << n->name() << "\"" << (cut ? ",style=filled,fillcolor=yellow" : "") << "]";
  });
  const std::string text = dot.str();
  std::size_t arrows = 0, filled = 0;
  for (std::size_t p = text.find("->"); p != std::string::npos; p = text.find("->", p + 2)) ++arrows;
  for (std::size_t p = text.find("filled"); p != std::string::npos; p = text.find("filled", p + 6)) ++filled;
  std::cout << "write_graphviz (dot -Tsvg renders it):\n" << text;
  check(text.rfind("digraph G {", 0) == 0 && arrows == num_edges(g), "the DOT text has one arrow per edge");
  check(filled == chain.size(), "the cut points are highlighted");

  if (failures) return 1;
  std::cout << "bgl_algorithms: all checks passed\n";
  return 0;
}
