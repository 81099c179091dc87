// The graph concept: graft::Graph and a boost::adjacency_list model it; the matcher runs on both.
#include <doctest/doctest.h>

#include "graft/graph.hpp"
#include "graft/graph/bgl_model.hpp"
#include "graft/pattern.hpp"

using namespace graft;
using namespace graft::pattern;

namespace {
GRAFT_CAPTURE(x);
GRAFT_CAPTURE(w);
GRAFT_CAPTURE(conv);
GRAFT_LITERAL_CAPTURE(eps);

struct NotAGraph {};

constexpr auto conv_any = op("aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default");
constexpr auto batch_norm = op("aten.batch_norm.default");

using V = std::size_t;
BglOperand<V> node(V v) { return BglOperand<V>::vertex(v); }
BglOperand<V> value(Argument a) { return BglOperand<V>::value(std::move(a)); }
}  // namespace

static_assert(is_graph_model_v<Graph>);
static_assert(is_graph_model_v<BglGraph>);
static_assert(!is_graph_model_v<NotAGraph>);
static_assert(!is_graph_model_v<int>);

TEST_CASE("graft::Graph operands are read through the op schemas") {
  Graph g;
  Node* in = g.placeholder("x");
  Node* weight = g.get_attr("w");
  Node* c = g.call_function("aten.conv2d.default", {in}, {{"weight", weight}, {"groups", 2}});
  using M = graph_model<Graph>;
  CHECK(M::num_operands(g, c) == 7);
  CHECK(M::operand(g, c, 0).node == in);
  CHECK(M::operand(g, c, 1).node == weight);  // given by keyword
  CHECK(M::operand(g, c, 2).value().is_none());  // default
  CHECK(M::operand(g, c, 6).value() == Argument(2));
  CHECK(M::operand(g, c, 7).is_absent());
  CHECK(M::target(g, c) == "aten.conv2d.default");
  CHECK(M::num_users(g, in) == 1);
}

TEST_CASE("a pattern matches a boost::adjacency_list with bundled node properties") {
  BglGraph g;
  V in = add_bgl_node(g, NodeKind::placeholder, "x", "x");
  V weight = add_bgl_node(g, NodeKind::get_attr, "w", "w");
  V c = add_bgl_node(g, NodeKind::call_function, "aten.conv2d.default", "conv",
                     {node(in), node(weight), value(Argument())});
  V bn = add_bgl_node(g, NodeKind::call_function, "aten.batch_norm.default", "bn",
                      {node(c), value(Argument()), value(Argument()), value(Argument()),
                       value(Argument()), value(false), value(0.1), value(1e-3), value(false)});
  add_bgl_node(g, NodeKind::output, "output", "output", {node(bn)});

  auto p = batch_norm(conv_any(x, w).bind(conv), anything(), anything(), anything(), anything(),
                      false, any_literal(), eps);
  auto matches = find_matches(g, p);
  REQUIRE(matches.size() == 1);
  CHECK(matches[0].root == bn);
  CHECK(matches[0][conv] == c);
  CHECK(matches[0][x] == in);
  CHECK(matches[0][w] == weight);
  CHECK(matches[0][eps].as_double() == 1e-3);
}

TEST_CASE("containment holds on the BGL model too") {
  BglGraph g;
  V in = add_bgl_node(g, NodeKind::placeholder, "x", "x");
  V c = add_bgl_node(g, NodeKind::call_function, "aten.conv2d.default", "conv", {node(in), node(in)});
  V bn = add_bgl_node(g, NodeKind::call_function, "aten.batch_norm.default", "bn", {node(c)});
  V other = add_bgl_node(g, NodeKind::call_function, "aten.relu.default", "relu", {node(c)});
  add_bgl_node(g, NodeKind::output, "output", "output", {node(bn), node(other)});
  CHECK(find_matches(g, batch_norm(conv_any(x, x))).empty());
  MatchOptions loose;
  loose.containment = false;
  CHECK(find_matches(g, batch_norm(conv_any(x, x)), loose).size() == 1);
}
