// graft/graph/concept.hpp - the graph concept the pattern matcher is written against.
//
// A type G models it by specialising `graft::graph_model<G>` with:
//
//   using node = ...;                                       // cheap handle: copyable, ==, std::hash
//   static Range nodes(const G&);                           // every node, in topological order
//   static NodeKind kind(const G&, node);                   // placeholder/get_attr/call_function/output
//   static std::string_view target(const G&, node);         // "aten.conv2d.default", ...
//   static std::size_t num_operands(const G&, node);        // positional operand count
//   static Operand<node> operand(const G&, node, std::size_t i);   // node, literal or absent
//   static std::size_t num_users(const G&, node);
//   static Range users(const G&, node);                     // each distinct reader once
//
// graft::Graph models it here (operands normalised through the op schemas, so keyword and
// positional arguments look the same); graft/graph/bgl_model.hpp adapts a boost::adjacency_list.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "graft/graph/argument.hpp"
#include "graft/graph/graph.hpp"
#include "graft/graph/node.hpp"

namespace graft {

enum class OperandKind : unsigned char { absent, node, literal };

// One operand of a node as the matcher sees it: a node, a literal, or nothing (an optional
// argument that is not there).
template <typename N>
struct Operand {
  OperandKind kind = OperandKind::absent;
  N node{};
  const Argument* literal = nullptr;  // points into the graph when it can
  Argument owned;                     // holds the literal otherwise

  // An operand that is node `n`.
  static Operand of_node(N n) {
    Operand o;
    o.kind = OperandKind::node;
    o.node = n;
    return o;
  }
  // A literal that lives in the graph (not copied; the graph must outlive the operand).
  static Operand of_literal(const Argument* a) {
    Operand o;
    o.kind = OperandKind::literal;
    o.literal = a;
    return o;
  }
  // A literal held by value: for graphs whose literals are not graft Arguments.
  static Operand of_value(Argument a) {
    Operand o;
    o.kind = OperandKind::literal;
    o.owned = std::move(a);
    return o;
  }
  // Which of the three the operand is.
  bool is_node() const noexcept { return kind == OperandKind::node; }
  bool is_literal() const noexcept { return kind == OperandKind::literal; }
  bool is_absent() const noexcept { return kind == OperandKind::absent; }
  // The literal's value (None for an absent operand).
  const Argument& value() const noexcept { return literal ? *literal : owned; }
};

// Specialise for your graph type; the primary template marks "not a model".
template <typename G, typename = void>
struct graph_model {
  static constexpr bool is_specialised = false;
};

namespace detail {
template <typename G, typename = void>
struct models_graph : std::false_type {};
template <typename G>
struct models_graph<
    G, std::void_t<typename graph_model<G>::node,
                   decltype(graph_model<G>::nodes(std::declval<const G&>())),
                   decltype(graph_model<G>::kind(std::declval<const G&>(),
                                                 std::declval<typename graph_model<G>::node>())),
                   decltype(graph_model<G>::target(std::declval<const G&>(),
                                                   std::declval<typename graph_model<G>::node>())),
                   decltype(graph_model<G>::num_operands(
                       std::declval<const G&>(), std::declval<typename graph_model<G>::node>())),
                   decltype(graph_model<G>::operand(std::declval<const G&>(),
                                                    std::declval<typename graph_model<G>::node>(),
                                                    std::size_t{})),
                   decltype(graph_model<G>::num_users(std::declval<const G&>(),
                                                      std::declval<typename graph_model<G>::node>())),
                   decltype(graph_model<G>::users(std::declval<const G&>(),
                                                  std::declval<typename graph_model<G>::node>())),
                   decltype(std::hash<typename graph_model<G>::node>{}(
                       std::declval<typename graph_model<G>::node>()))>> : std::true_type {};
}  // namespace detail

// True when G models graft's graph concept.
template <typename G>
inline constexpr bool is_graph_model_v = detail::models_graph<std::remove_const_t<G>>::value;

// Use in templates over G to get a readable error instead of a wall of substitution failures.
template <typename G>
constexpr void require_graph_model() {
  static_assert(is_graph_model_v<G>,
                "graft: this graph type does not model graft's graph concept. Specialise "
                "graft::graph_model<G> with: node, nodes(g), kind(g, n), target(g, n), "
                "num_operands(g, n), operand(g, n, i), num_users(g, n), users(g, n) "
                "(see graft/graph/concept.hpp).");
}

// ---- graft::Graph ---------------------------------------------------------------------------

template <>
struct graph_model<Graph> {
  static constexpr bool is_specialised = true;
  using node = Node*;

  // The concept for graft::Graph: each function as described at the top of this file.
  static Graph::NodeRange nodes(const Graph& g) { return g.nodes(); }
  static NodeKind kind(const Graph&, node n) { return n->kind(); }
  static std::string_view target(const Graph&, node n) { return n->target(); }
  // Schema arguments (positional and keyword-only) when the op has a schema, else the args.
  static std::size_t num_operands(const Graph&, node n) {
    const OpSchema* op = n->op();
    return op && op->has_signature() ? op->args().size() : n->args().size();
  }
  static Operand<node> operand(const Graph&, node n, std::size_t i) {
    const Argument* a = n->find_arg(i);
    if (!a) return Operand<node>{};
    if (a->is_node()) return Operand<node>::of_node(a->as_node());
    return Operand<node>::of_literal(a);
  }
  static std::size_t num_users(const Graph&, node n) { return n->num_users(); }
  static Node::UserRange users(const Graph&, node n) { return n->users(); }
  // Optional: names nodes in explain messages.
  static std::string_view name(const Graph&, node n) { return n->name(); }
};

}  // namespace graft
