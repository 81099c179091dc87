// graft/graph/bgl.hpp - graft::Graph as a Boost.Graph graph.
//
// Models VertexListGraph, EdgeListGraph, IncidenceGraph, BidirectionalGraph and AdjacencyGraph,
// with a vertex index property map, so BGL algorithms (topological_sort, depth_first_search,
// dominator trees, write_graphviz, ...) run on a graft graph directly. Vertices are `Node*`;
// an edge runs from an input to a node that reads it (data flow), once per distinct pair.
#pragma once

#include <cstddef>
#include <functional>
#include <iterator>
#include <utility>

#include <boost/graph/graph_traits.hpp>
#include <boost/graph/properties.hpp>
#include <boost/property_map/property_map.hpp>

#include "graft/graph/graph.hpp"

namespace graft {
namespace bgl {

struct Edge {
  Node* from = nullptr;
  Node* to = nullptr;
  friend bool operator==(const Edge& a, const Edge& b) { return a.from == b.from && a.to == b.to; }
  friend bool operator!=(const Edge& a, const Edge& b) { return !(a == b); }
  friend bool operator<(const Edge& a, const Edge& b) {
    return a.from != b.from ? std::less<Node*>()(a.from, b.from) : std::less<Node*>()(a.to, b.to);
  }
};

// Out-edges: node -> each user.
class OutEdgeIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = Edge;
  using difference_type = std::ptrdiff_t;
  using pointer = const Edge*;
  using reference = Edge;
  OutEdgeIterator() = default;
  OutEdgeIterator(Node* from, Node::UserIterator it) : from_(from), it_(it) {}
  Edge operator*() const { return Edge{from_, *it_}; }
  OutEdgeIterator& operator++() {
    ++it_;
    return *this;
  }
  OutEdgeIterator operator++(int) {
    auto t = *this;
    ++it_;
    return t;
  }
  friend bool operator==(const OutEdgeIterator& a, const OutEdgeIterator& b) { return a.it_ == b.it_; }
  friend bool operator!=(const OutEdgeIterator& a, const OutEdgeIterator& b) { return a.it_ != b.it_; }

 private:
  Node* from_ = nullptr;
  Node::UserIterator it_;
};

// In-edges: each distinct input -> node.
class InEdgeIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = Edge;
  using difference_type = std::ptrdiff_t;
  using pointer = const Edge*;
  using reference = Edge;
  InEdgeIterator() = default;
  InEdgeIterator(Node* to, Node::InputIterator it) : to_(to), it_(it) {}
  Edge operator*() const { return Edge{*it_, to_}; }
  InEdgeIterator& operator++() {
    ++it_;
    return *this;
  }
  InEdgeIterator operator++(int) {
    auto t = *this;
    ++it_;
    return t;
  }
  friend bool operator==(const InEdgeIterator& a, const InEdgeIterator& b) { return a.it_ == b.it_; }
  friend bool operator!=(const InEdgeIterator& a, const InEdgeIterator& b) { return a.it_ != b.it_; }

 private:
  Node* to_ = nullptr;
  Node::InputIterator it_;
};

// All edges: for each node in graph order, its out-edges.
class EdgeIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = Edge;
  using difference_type = std::ptrdiff_t;
  using pointer = const Edge*;
  using reference = Edge;
  EdgeIterator() = default;
  EdgeIterator(Graph::NodeIterator node, Graph::NodeIterator end) : node_(node), end_(end) { settle(); }
  Edge operator*() const { return Edge{*node_, *user_}; }
  EdgeIterator& operator++() {
    ++user_;
    if (user_ == Node::UserIterator()) {
      ++node_;
      settle();
    }
    return *this;
  }
  EdgeIterator operator++(int) {
    auto t = *this;
    ++*this;
    return t;
  }
  friend bool operator==(const EdgeIterator& a, const EdgeIterator& b) {
    return a.node_ == b.node_ && a.user_ == b.user_;
  }
  friend bool operator!=(const EdgeIterator& a, const EdgeIterator& b) { return !(a == b); }

 private:
  void settle() {
    while (node_ != end_ && (*node_)->num_users() == 0) ++node_;
    user_ = node_ != end_ ? (*node_)->users().begin() : Node::UserIterator();
  }
  Graph::NodeIterator node_, end_;
  Node::UserIterator user_;
};

// (bidirectional_graph_tag already derives from incidence_graph_tag.)
struct TraversalCategory : boost::vertex_list_graph_tag,
                           boost::edge_list_graph_tag,
                           boost::bidirectional_graph_tag,
                           boost::adjacency_graph_tag {};

// Readable property map Node* -> dense index in graph order.
struct NodeIndexMap {
  using key_type = Node*;
  using value_type = std::size_t;
  using reference = std::size_t;
  using category = boost::readable_property_map_tag;
  const Graph* graph = nullptr;
};
// The index of node `n`: its position in graph order.
inline std::size_t get(const NodeIndexMap& m, Node* n) { return m.graph->index_of(n); }

}  // namespace bgl

// ---- The BGL free functions, found by argument-dependent lookup on graft::Graph ------------

// Every node, in graph order; their number.
inline std::pair<Graph::NodeIterator, Graph::NodeIterator> vertices(const Graph& g) {
  auto r = g.nodes();
  return {r.begin(), r.end()};
}
inline std::size_t num_vertices(const Graph& g) { return g.size(); }

// Every (input -> reader) edge, once per distinct pair; their number.
inline std::pair<bgl::EdgeIterator, bgl::EdgeIterator> edges(const Graph& g) {
  auto r = g.nodes();
  return {bgl::EdgeIterator(r.begin(), r.end()), bgl::EdgeIterator(r.end(), r.end())};
}
inline std::size_t num_edges(const Graph& g) {
  std::size_t e = 0;
  for (const Node* n : g.nodes()) e += n->num_users();
  return e;
}

// Edges to the users of `n`, and from its inputs, with their counts.
inline std::pair<bgl::OutEdgeIterator, bgl::OutEdgeIterator> out_edges(Node* n, const Graph&) {
  return {bgl::OutEdgeIterator(n, n->users().begin()), bgl::OutEdgeIterator(n, n->users().end())};
}
inline std::size_t out_degree(Node* n, const Graph&) { return n->num_users(); }
inline std::pair<bgl::InEdgeIterator, bgl::InEdgeIterator> in_edges(Node* n, const Graph&) {
  auto r = n->input_nodes();
  return {bgl::InEdgeIterator(n, r.begin()), bgl::InEdgeIterator(n, r.end())};
}
inline std::size_t in_degree(Node* n, const Graph&) { return n->num_input_nodes(); }
inline std::size_t degree(Node* n, const Graph& g) { return in_degree(n, g) + out_degree(n, g); }
// The users of `n`.
inline std::pair<Node::UserIterator, Node::UserIterator> adjacent_vertices(Node* n, const Graph&) {
  return {n->users().begin(), n->users().end()};
}
// The ends of an edge: the input, and the node that reads it.
inline Node* source(const bgl::Edge& e, const Graph&) { return e.from; }
inline Node* target(const bgl::Edge& e, const Graph&) { return e.to; }

// The vertex index map (dense, in graph order), and one node's index.
inline bgl::NodeIndexMap get(boost::vertex_index_t, const Graph& g) { return bgl::NodeIndexMap{&g}; }
inline std::size_t get(boost::vertex_index_t, const Graph& g, Node* n) { return g.index_of(n); }

}  // namespace graft

namespace boost {

template <>
struct graph_traits<graft::Graph> {
  using vertex_descriptor = graft::Node*;
  using edge_descriptor = graft::bgl::Edge;
  using vertex_iterator = graft::Graph::NodeIterator;
  using edge_iterator = graft::bgl::EdgeIterator;
  using out_edge_iterator = graft::bgl::OutEdgeIterator;
  using in_edge_iterator = graft::bgl::InEdgeIterator;
  using adjacency_iterator = graft::Node::UserIterator;
  using directed_category = bidirectional_tag;
  using edge_parallel_category = disallow_parallel_edge_tag;
  using traversal_category = graft::bgl::TraversalCategory;
  using vertices_size_type = std::size_t;
  using edges_size_type = std::size_t;
  using degree_size_type = std::size_t;
  static vertex_descriptor null_vertex() { return nullptr; }
};
template <>
struct graph_traits<const graft::Graph> : graph_traits<graft::Graph> {};

template <>
struct property_map<graft::Graph, vertex_index_t> {
  using type = graft::bgl::NodeIndexMap;
  using const_type = graft::bgl::NodeIndexMap;
};
template <>
struct property_map<const graft::Graph, vertex_index_t> : property_map<graft::Graph, vertex_index_t> {};

}  // namespace boost
