// graft/graph/bgl_model.hpp - a boost::adjacency_list as a model of graft's graph concept.
//
// The vertices carry a bundled property with the node's kind, target, name and ordered operands
// (`graft::BglNode` below, or any struct with those members); an edge runs from an operand to
// the node that reads it, once per distinct pair (`add_bgl_node` keeps it so). Vertices must be
// added in topological order, as a traced graph naturally is.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/graph/adjacency_list.hpp>
#include <boost/range/iterator_range.hpp>

#include "graft/graph/argument.hpp"
#include "graft/graph/concept.hpp"
#include "graft/graph/node.hpp"

namespace graft {

// One operand of a BGL-held node: another vertex, or a literal.
template <typename Vertex>
struct BglOperand {
  bool is_node = false;
  Vertex node{};
  Argument literal;
  // An operand that is vertex `v`, or a literal value.
  static BglOperand vertex(Vertex v) { return BglOperand{true, v, Argument()}; }
  static BglOperand value(Argument a) { return BglOperand{false, Vertex{}, std::move(a)}; }
};

// A ready-made bundled vertex property.
struct BglNode {
  NodeKind kind = NodeKind::call_function;
  std::string target;
  std::string name;
  std::vector<BglOperand<std::size_t>> operands;
};

using BglGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, BglNode>;

// Adds a node and its operand edges (one per distinct operand vertex).
template <typename G>
typename boost::graph_traits<G>::vertex_descriptor add_bgl_node(
    G& g, NodeKind kind, std::string target, std::string name,
    std::vector<BglOperand<typename boost::graph_traits<G>::vertex_descriptor>> operands = {}) {
  auto v = boost::add_vertex(g);
  g[v].kind = kind;
  g[v].target = std::move(target);
  g[v].name = std::move(name);
  g[v].operands = std::move(operands);
  std::vector<typename boost::graph_traits<G>::vertex_descriptor> seen;
  for (const auto& o : g[v].operands)
    if (o.is_node && std::find(seen.begin(), seen.end(), o.node) == seen.end()) {
      seen.push_back(o.node);
      boost::add_edge(o.node, v, g);
    }
  return v;
}

template <typename OutEdgeS, typename VertexS, typename Directed, typename Props, typename EdgeProps,
          typename GraphProps, typename EdgeListS>
struct graph_model<boost::adjacency_list<OutEdgeS, VertexS, Directed, Props, EdgeProps, GraphProps, EdgeListS>> {
  using G = boost::adjacency_list<OutEdgeS, VertexS, Directed, Props, EdgeProps, GraphProps, EdgeListS>;
  static constexpr bool is_specialised = true;
  using node = typename boost::graph_traits<G>::vertex_descriptor;

  // The concept over the adjacency_list: each function as graft/graph/concept.hpp describes it.
  static auto nodes(const G& g) { return boost::make_iterator_range(boost::vertices(g)); }
  static NodeKind kind(const G& g, node n) { return g[n].kind; }
  static std::string_view target(const G& g, node n) { return g[n].target; }
  static std::string_view name(const G& g, node n) { return g[n].name; }
  static std::size_t num_operands(const G& g, node n) { return g[n].operands.size(); }
  static Operand<node> operand(const G& g, node n, std::size_t i) {
    const auto& ops = g[n].operands;
    if (i >= ops.size()) return Operand<node>{};
    if (ops[i].is_node) return Operand<node>::of_node(ops[i].node);
    return Operand<node>::of_literal(&ops[i].literal);
  }
  static std::size_t num_users(const G& g, node n) { return boost::out_degree(n, g); }
  static auto users(const G& g, node n) { return boost::make_iterator_range(boost::adjacent_vertices(n, g)); }
};

}  // namespace graft
