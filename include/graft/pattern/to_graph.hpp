// graft/pattern/to_graph.hpp - a pattern instantiated as a graft::Graph, for printing and pictures.
//
// Captures and wildcards become placeholders (a capture used twice is one placeholder), op
// patterns become call_function nodes with their first target (named after their capture when
// bound), literals stay literals, and the root feeds the output.
#pragma once

#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "graft/graph/graph.hpp"
#include "graft/pattern/pattern.hpp"

namespace graft::pattern {

namespace detail {

struct Emitter {
  Graph graph;
  std::unordered_map<std::string, Node*> captures;
  Node* capture(std::string_view name) {
    auto it = captures.find(std::string(name));
    if (it != captures.end()) return it->second;
    Node* n = graph.placeholder(name);
    captures.emplace(std::string(name), n);
    return n;
  }
};

inline Argument emit(Emitter& e, const AnyNode&) { return e.graph.placeholder("any"); }
inline Argument emit(Emitter& e, const AnyLiteral&) { return e.graph.placeholder("any_literal"); }
inline Argument emit(Emitter& e, const Anything&) { return e.graph.placeholder("anything"); }
template <NodeKind K>
Argument emit(Emitter& e, const KindIs<K>&) {
  if constexpr (K == NodeKind::get_attr) return e.graph.get_attr("attr");
  else return e.graph.placeholder("input");
}
template <typename T>
Argument emit(Emitter&, const Lit<T>& l) {
  return l.argument();
}
template <typename Tag>
Argument emit(Emitter& e, const Capture<Tag>&) {
  return e.capture(Tag::name());
}
template <typename Tag>
Argument emit(Emitter& e, const LitCapture<Tag>&) {
  return e.capture(Tag::name());
}
template <typename Cap, typename P>
Argument emit(Emitter& e, const Bind<Cap, P>& b) {
  Argument a = emit(e, b.inner);
  if (a.is_node() && a.as_node()->is_call_function() && !e.graph.find(Cap::name())) {
    e.graph.rename(a.as_node(), Cap::name());
    e.captures.emplace(std::string(Cap::name()), a.as_node());
  }
  return a;
}
template <typename P>
Argument emit(Emitter& e, const OneUser<P>& p) {
  return emit(e, p.inner);
}
template <typename P>
Argument emit(Emitter& e, const AllUsersInside<P>& p) {
  return emit(e, p.inner);
}
template <typename P, typename F>
Argument emit(Emitter& e, const Where<P, F>& p) {
  return emit(e, p.inner);
}
template <typename P>
Argument emit(Emitter& e, const Optional<P>& p) {
  return emit(e, p.inner);
}
template <typename A, typename B>
Argument emit(Emitter& e, const Either<A, B>& p) {
  return emit(e, p.first);
}
template <std::size_t N, typename... Ps>
Argument emit(Emitter& e, const OpPat<N, Ps...>& p) {
  std::vector<Argument> args;
  std::apply([&](const auto&... o) { (args.push_back(emit(e, o)), ...); }, p.operands);
  return e.graph.call_function(p.targets[0], std::move(args));
}

}  // namespace detail

// The pattern as a graph; `std::cout << to_graph(p)` prints it FX-style.
template <typename P>
Graph to_graph(const P& p) {
  detail::Emitter e;
  Argument root = detail::emit(e, p);
  e.graph.output(root);
  return std::move(e.graph);
}

}  // namespace graft::pattern
