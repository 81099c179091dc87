// graft::Graph used directly by Boost.Graph algorithms.
#include <doctest/doctest.h>

#include <sstream>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/graph_concepts.hpp>
#include <boost/graph/graphviz.hpp>
#include <boost/graph/topological_sort.hpp>

#include "graft/graph.hpp"
#include "graft/graph/bgl.hpp"
#include "support/graphs.hpp"

using namespace graft;

BOOST_CONCEPT_ASSERT((boost::VertexListGraphConcept<Graph>));
BOOST_CONCEPT_ASSERT((boost::EdgeListGraphConcept<Graph>));
BOOST_CONCEPT_ASSERT((boost::IncidenceGraphConcept<Graph>));
BOOST_CONCEPT_ASSERT((boost::BidirectionalGraphConcept<Graph>));
BOOST_CONCEPT_ASSERT((boost::AdjacencyGraphConcept<Graph>));
BOOST_CONCEPT_ASSERT((boost::ReadablePropertyMapConcept<bgl::NodeIndexMap, Node*>));

namespace {
// Counts back edges: a directed graph has a cycle exactly when a DFS finds one.
struct BackEdgeRecorder : boost::default_dfs_visitor {
  std::size_t* back_edges;
  template <typename E, typename G>
  void back_edge(E, const G&) const {
    ++*back_edges;
  }
};
}  // namespace

TEST_CASE("BGL sees the nodes, edges and degrees of a graft graph") {
  test::ConvBnRelu m;
  CHECK(num_vertices(m.g) == 11);
  CHECK(num_edges(m.g) == 10);
  CHECK(out_degree(m.x, m.g) == 1);
  CHECK(in_degree(m.conv, m.g) == 3);
  CHECK(in_degree(m.bn, m.g) == 5);
  CHECK(degree(m.bn, m.g) == 6);
  auto [ei, ee] = in_edges(m.conv, m.g);
  CHECK(source(*ei, m.g) == m.x);
  CHECK(target(*ei, m.g) == m.conv);
  auto [ai, ae] = adjacent_vertices(m.conv, m.g);
  CHECK(*ai == m.bn);
  CHECK(std::next(ai) == ae);
}

TEST_CASE("the vertex index map is dense in graph order and follows changes") {
  test::ConvBnRelu m;
  auto index = get(boost::vertex_index, m.g);
  CHECK(get(index, m.x) == 0);
  CHECK(get(index, m.out) == 10);
  Node* dead = m.g.call_function("aten.relu.default", {m.x});
  m.g.erase(dead);
  m.g.erase(m.out);
  m.g.erase(m.relu);
  CHECK(get(index, m.bn) == 8);
  CHECK(num_vertices(m.g) == 9);
}

TEST_CASE("BGL topological_sort orders a graft graph consistently with its edges") {
  test::ConvBnRelu m;
  std::vector<Node*> reversed;
  boost::topological_sort(m.g, std::back_inserter(reversed));
  REQUIRE(reversed.size() == m.g.size());
  std::unordered_map<Node*, std::size_t> pos;
  for (std::size_t i = 0; i < reversed.size(); ++i) pos[reversed[i]] = reversed.size() - 1 - i;
  for (Node* n : m.g.nodes())
    for (Node* u : n->users()) CHECK(pos.at(n) < pos.at(u));
  CHECK(reversed.front() == m.out);
}

TEST_CASE("a depth-first search over a graft graph finds no cycle") {
  test::ConvBnRelu m;
  {
    auto guard = m.g.inserting_before(m.out);
    Node* skip = m.g.call_function("aten.add.Tensor", {m.relu, m.conv});
    m.g.replace_all_uses_with(m.relu, skip, [&](Node* u) { return u == m.out; });
  }
  std::size_t back_edges = 0;
  BackEdgeRecorder vis;
  vis.back_edges = &back_edges;
  boost::depth_first_search(m.g, boost::visitor(vis));
  CHECK(back_edges == 0);
}

TEST_CASE("the DFS cycle check does detect a cycle on a BGL graph with one") {
  // The same visitor on an adjacency_list proves the check itself can fail; graft graphs cannot
  // hold a cycle (see the misuse tests).
  boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS> cyclic(3);
  boost::add_edge(0, 1, cyclic);
  boost::add_edge(1, 2, cyclic);
  boost::add_edge(2, 0, cyclic);
  std::size_t back_edges = 0;
  BackEdgeRecorder rec;
  rec.back_edges = &back_edges;
  boost::depth_first_search(cyclic, boost::visitor(rec));
  CHECK(back_edges == 1);
}

TEST_CASE("write_graphviz renders a graft graph with node labels") {
  test::ConvBnRelu m;
  std::ostringstream os;
  boost::write_graphviz(os, m.g, [&](std::ostream& out, Node* n) {
    out << "[label=\"" << n->name() << "\"]";
  });
  const std::string dot = os.str();
  CHECK(dot.rfind("digraph G {", 0) == 0);
  CHECK(dot.find("7[label=\"conv2d\"];") != std::string::npos);
  CHECK(dot.find("7->8 ;") != std::string::npos);  // conv2d -> batch_norm
  CHECK(dot.find("0->7 ;") != std::string::npos);  // x -> conv2d
  std::size_t arrows = 0;
  for (std::size_t p = dot.find("->"); p != std::string::npos; p = dot.find("->", p + 2)) ++arrows;
  CHECK(arrows == 10);
}
