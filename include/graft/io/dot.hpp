// graft/io/dot.hpp - a graph as Graphviz DOT text, with chosen nodes highlighted.
//
//   graft::io::write_dot(std::cout, m.graph, {{"conv2d_1", graft::io::Highlight::created}});
//
// Nodes are boxes labelled with their name and op (inputs and parameters as ellipses), edges go
// from each input to its reader, in graph order. (graft/graph/bgl.hpp offers Boost's
// write_graphviz too; this writer needs no Boost and can colour nodes.)
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>

#include "graft/graph/graph.hpp"

namespace graft::io {

enum class Highlight { none, created, changed };

namespace detail {
inline std::string dot_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}
}  // namespace detail

// Writes `g` as a DOT digraph; `highlight` maps node names to how they are drawn (created: green,
// changed: yellow).
inline void write_dot(std::ostream& os, const Graph& g, const std::unordered_map<std::string, Highlight>& highlight = {},
                      std::string_view title = "graft") {
  os << "digraph \"" << detail::dot_escape(title) << "\" {\n"
     << "  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
     << "  edge [arrowsize=0.6];\n";
  for (const Node* n : g.nodes()) {
    std::string label(n->name());
    if (n->is_call_function() || n->is_get_attr()) label += "\\n" + detail::dot_escape(n->target());
    os << "  \"" << detail::dot_escape(n->name()) << "\" [label=\"" << label << '"';
    if (n->is_placeholder() || n->is_get_attr()) os << ", shape=ellipse";
    if (n->is_output()) os << ", shape=doubleoctagon";
    auto it = highlight.find(std::string(n->name()));
    if (it != highlight.end() && it->second == Highlight::created) os << ", style=filled, fillcolor=\"#b7e4a7\"";
    if (it != highlight.end() && it->second == Highlight::changed) os << ", style=filled, fillcolor=\"#fbe29a\"";
    os << "];\n";
  }
  for (const Node* n : g.nodes())
    for (const Node* in : n->input_nodes())
      os << "  \"" << detail::dot_escape(in->name()) << "\" -> \"" << detail::dot_escape(n->name()) << "\";\n";
  os << "}\n";
}

}  // namespace graft::io
