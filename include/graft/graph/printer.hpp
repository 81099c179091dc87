// graft/graph/printer.hpp - renders a graph the way `print(gm.graph)` does in torch.fx.
//
//   graph():
//       %x : [num_users=1] = placeholder[target=x]
//       %conv2d : [num_users=1] = call_function[target=torch.ops.aten.conv2d.default](args = (%x, %w), kwargs = {})
//       return (conv2d,)
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>

#include "graft/graph/argument.hpp"
#include "graft/graph/graph.hpp"
#include "graft/graph/node.hpp"

namespace graft {

// Python's repr() of a float: shortest round-trip digits, scientific below 1e-4 and from 1e16.
inline std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e-05"
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  auto e = sci.find('e');
  std::string digits = sci.substr(0, e);
  int exp10 = std::stoi(sci.substr(e + 1));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out;
  if (exp10 < -4 || exp10 >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    out += eb;
  } else if (exp10 < 0) {
    out = "0." + std::string(static_cast<std::size_t>(-exp10 - 1), '0') + digits;
  } else {
    auto int_len = static_cast<std::size_t>(exp10) + 1;
    if (digits.size() <= int_len) {
      out = digits + std::string(int_len - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  }
  return neg ? "-" + out : out;
}

namespace detail {

// torch.fx's _format_arg: nodes as %name, lists as [..], literals as Python's str().
inline void format_arg(std::string& out, const Argument& a, bool node_percent = true) {
  switch (a.kind()) {
    case ArgKind::none: out += "None"; return;
    case ArgKind::boolean: out += a.as_bool() ? "True" : "False"; return;
    case ArgKind::integer: out += std::to_string(a.as_int()); return;
    case ArgKind::real: out += python_float_repr(a.as_double()); return;
    case ArgKind::string: out += a.as_string(); return;
    case ArgKind::dtype: out += "torch." + std::string(dtype_name(a.as_dtype())); return;
    case ArgKind::node:
      if (node_percent) out += '%';
      out += a.as_node()->name();
      return;
    case ArgKind::list: {
      out += '[';
      bool first = true;
      for (const Argument& e : a.as_list()) {
        if (!first) out += ", ";
        first = false;
        format_arg(out, e, node_percent);
      }
      out += ']';
      return;
    }
  }
}

inline std::string pretty_target(const Node& n) {
  if (n.op() && n.op()->ns() == "operator") return std::string(n.target());
  return "torch.ops." + std::string(n.target());
}

}  // namespace detail

// One node as FX prints it (without indentation).
inline std::string format_node(const Node& n) {
  std::string out;
  if (n.is_output()) {
    out = "return ";
    const Argument& v = n.args().empty() ? Argument() : n.args()[0];
    if (v.is_list()) {
      // Exported graphs return tuples: (a,) or (a, b).
      out += '(';
      const auto& l = v.as_list();
      for (std::size_t i = 0; i < l.size(); ++i) {
        if (i) out += ", ";
        detail::format_arg(out, l[i], false);
      }
      out += l.size() == 1 ? ",)" : ")";
    } else {
      detail::format_arg(out, v, false);
    }
    return out;
  }
  out = "%" + n.name() + " : [num_users=" + std::to_string(n.num_users()) + "] = ";
  out += node_kind_name(n.kind());
  out += "[target=";
  out += n.is_call_function() ? detail::pretty_target(n) : std::string(n.target());
  out += ']';
  if (n.is_call_function()) {
    out += "(args = (";
    for (std::size_t i = 0; i < n.args().size(); ++i) {
      if (i) out += ", ";
      detail::format_arg(out, n.args()[i]);
    }
    if (n.args().size() == 1) out += ',';
    out += "), kwargs = {";
    for (std::size_t i = 0; i < n.kwargs().size(); ++i) {
      if (i) out += ", ";
      out += n.kwargs()[i].name + ": ";
      detail::format_arg(out, n.kwargs()[i].value);
    }
    out += "})";
  }
  return out;
}

// The whole graph, one node a line.
inline void print_graph(std::ostream& os, const Graph& g) {
  os << "graph():\n";
  std::string line;
  for (const Node* n : g.nodes()) {
    line = "    ";
    line += format_node(*n);
    line += '\n';
    os << line;
  }
}

// The printout as a string.
inline std::string to_string(const Graph& g) {
  std::ostringstream os;
  print_graph(os, g);
  return os.str();
}

// Prints `g` as torch.fx's print(gm.graph) does.
inline std::ostream& operator<<(std::ostream& os, const Graph& g) {
  print_graph(os, g);
  return os;
}

}  // namespace graft
