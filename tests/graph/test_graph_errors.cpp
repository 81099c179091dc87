// Misuse of the graph API: each is refused with a message naming the node and the rule, and
// leaves the graph as it was.
#include <doctest/doctest.h>

#include "graft/graph.hpp"
#include "support/graphs.hpp"

using namespace graft;

TEST_CASE("erasing a node that still has users is refused") {
  test::ConvBnRelu m;
  std::string before = to_string(m.g);
  CHECK_THROWS_WITH_AS(m.g.erase(m.conv),
                       "cannot erase node 'conv2d' (aten.conv2d.default): it still has 1 user "
                       "('batch_norm' (aten.batch_norm.default))",
                       GraphError);
  CHECK(to_string(m.g) == before);
  CHECK(m.g.contains(m.conv));
}

TEST_CASE("erasing a node twice is refused") {
  test::ConvBnRelu m;
  Node* dead = m.g.call_function("aten.relu.default", {m.x});
  m.g.erase(dead);
  CHECK_THROWS_WITH_AS(m.g.erase(dead), "erase: node 'relu_1' (aten.relu.default) was erased",
                       GraphError);
}

TEST_CASE("reading a node that comes later is refused: no cycle can be built") {
  test::ConvBnRelu m;
  std::string before = to_string(m.g);
  CHECK_THROWS_WITH_AS(m.g.set_args(m.conv, {m.relu, m.w}),
                       "node 'conv2d' cannot read 'relu' (aten.relu.default): 'relu' "
                       "(aten.relu.default) comes after it, so the graph would have a cycle or a "
                       "use before definition",
                       GraphError);
  CHECK(to_string(m.g) == before);
  m.g.lint();
}

TEST_CASE("a node reading itself is refused") {
  test::ConvBnRelu m;
  CHECK_THROWS_WITH_AS(m.g.set_args(m.relu, {m.relu}),
                       "node 'relu' cannot read itself: that would be a cycle", GraphError);
}

TEST_CASE("creating a node before its input is refused") {
  test::ConvBnRelu m;
  auto guard = m.g.inserting_before(m.conv);
  CHECK_THROWS_WITH_AS(m.g.call_function("aten.relu.default", {m.bn}),
                       doctest::Contains("node 'relu_1' cannot read 'batch_norm' (aten.batch_norm.default)"),
                       GraphError);
  CHECK(m.g.size() == 11);
}

TEST_CASE("replace_all_uses_with refuses a replacement placed after a user, changing nothing") {
  test::ConvBnRelu m;
  Node* late = m.g.call_function("aten.relu.default", {m.x});  // appended after the output
  std::string before = to_string(m.g);
  CHECK_THROWS_WITH_AS(m.g.replace_all_uses_with(m.x, late),
                       doctest::Contains("cannot read 'relu_1' (aten.relu.default) instead of 'x' "
                                         "(placeholder)"),
                       GraphError);
  CHECK(to_string(m.g) == before);
}

TEST_CASE("a node of another graph cannot be read") {
  test::ConvBnRelu m;
  Graph other;
  Node* foreign = other.placeholder("foreign");
  CHECK_THROWS_WITH_AS(m.g.call_function("aten.relu.default", {foreign}),
                       "node 'relu_1' cannot read 'foreign' (placeholder): it belongs to another graph",
                       GraphError);
  CHECK_THROWS_WITH_AS(m.g.erase(foreign),
                       "erase: node 'foreign' (placeholder) belongs to another graph", GraphError);
}

TEST_CASE("an erased node cannot be read") {
  test::ConvBnRelu m;
  Node* dead = m.g.call_function("aten.relu.default", {m.x});
  m.g.erase(dead);
  CHECK_THROWS_WITH_AS(m.g.call_function("aten.sigmoid.default", {dead}),
                       "node 'sigmoid' cannot read 'relu_1' (aten.relu.default): that node was erased",
                       GraphError);
}

TEST_CASE("a duplicate exact name is refused") {
  test::ConvBnRelu m;
  CHECK_THROWS_WITH_AS(m.g.create_node(NodeKind::placeholder, "x", {}, {}, "x", NameMode::exact),
                       "duplicate node name 'x': already used by 'x' (placeholder)", GraphError);
  CHECK_THROWS_WITH_AS(m.g.rename(m.relu, "conv2d"),
                       "duplicate node name 'conv2d': already used by 'conv2d' (aten.conv2d.default)",
                       GraphError);
  Node* dead = m.g.call_function("aten.relu.default", {m.x});
  m.g.erase(dead);
  CHECK_THROWS_WITH_AS(m.g.rename(m.relu, "relu_1"),
                       "duplicate node name 'relu_1': used by an erased node", GraphError);
}

TEST_CASE("moving a node before its input or after its user is refused") {
  test::ConvBnRelu m;
  CHECK_THROWS_WITH_AS(m.g.move_before(m.conv, m.w),
                       "cannot move 'conv2d' (aten.conv2d.default) before 'conv_weight' (get_attr): "
                       "it reads 'conv_weight' (get_attr), which would then come after it",
                       GraphError);
  CHECK_THROWS_WITH_AS(m.g.move_after(m.conv, m.bn),
                       "cannot move 'conv2d' (aten.conv2d.default) before 'relu' (aten.relu.default): "
                       "its user 'batch_norm' (aten.batch_norm.default) would then come before it",
                       GraphError);
  m.g.lint();
}

TEST_CASE("an insertion point that was erased is refused") {
  test::ConvBnRelu m;
  Node* dead = m.g.call_function("aten.relu.default", {m.x});
  m.g.erase(dead);
  CHECK_THROWS_WITH_AS((void)m.g.inserting_before(dead),
                       "insertion point: node 'relu_1' (aten.relu.default) was erased", GraphError);
}

TEST_CASE("a refused node creation leaves names as they were") {
  test::ConvBnRelu m;
  auto guard = m.g.inserting_before(m.conv);
  CHECK_THROWS_AS(m.g.call_function("aten.relu.default", {m.bn}), GraphError);
  CHECK_THROWS_AS(m.g.call_function("aten.relu.default", {m.bn}), GraphError);
  CHECK(m.g.call_function("aten.relu.default", {m.x})->name() == "relu_1");
  m.g.lint();
}
