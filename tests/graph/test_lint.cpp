#include <doctest/doctest.h>

#include "graft/graph.hpp"
#include "support/graphs.hpp"

using namespace graft;

TEST_CASE("a well-formed graph lints clean") {
  test::ConvBnRelu m;
  CHECK(m.g.lint_problems().empty());
  CHECK_NOTHROW(m.g.lint());
}

TEST_CASE("lint reports a missing output node") {
  Graph g;
  g.placeholder("x");
  CHECK(g.lint_problems() == std::vector<std::string>{"graph has no output node"});
  CHECK_THROWS_WITH_AS(g.lint(), "graph lint failed (1 problem):\n  - graph has no output node",
                       GraphError);
}

TEST_CASE("lint reports an output node that is not last") {
  test::ConvBnRelu m;
  m.g.call_function("aten.relu.default", {m.relu});  // appended after the output
  CHECK(m.g.lint_problems() ==
        std::vector<std::string>{"output node 'output' (output) is not the last node"});
}

TEST_CASE("lint reports two output nodes") {
  test::ConvBnRelu m;
  m.g.output(m.relu);
  auto problems = m.g.lint_problems();
  CHECK(std::find(problems.begin(), problems.end(), "graph has 2 output nodes") != problems.end());
}

TEST_CASE("lint reports a metadata reference to an erased node") {
  test::ConvBnRelu m;
  Node* dead = m.g.call_function("aten.relu.default", {m.x});
  {
    auto& qa = m.relu->meta().quantization_annotation.emplace();
    qa.output_qspec = SharedQuantizationSpec{EdgeOrNode::node(dead)};
  }
  m.g.erase(dead);
  CHECK(m.g.lint_problems() ==
        std::vector<std::string>{"node 'relu' (aten.relu.default) meta quantization_annotation "
                                 "refers to erased node 'relu_1' (aten.relu.default)"});
}

TEST_CASE("lint reports a metadata reference to a node of no graph of ours") {
  test::ConvBnRelu m;
  Graph other;
  Node* foreign = other.placeholder("foreign");
  m.bn->meta().quantization_annotation.emplace().input_qspec_map.emplace_back(
      foreign, QuantizationSpec{});
  CHECK(m.g.lint_problems() ==
        std::vector<std::string>{"node 'batch_norm' (aten.batch_norm.default) meta "
                                 "quantization_annotation refers to a node that is not in this "
                                 "graph (dangling reference)"});
}

TEST_CASE("lint reports a null metadata reference") {
  test::ConvBnRelu m;
  DerivedQuantizationSpec d;
  d.derived_from = {EdgeOrNode::edge(m.x, nullptr), EdgeOrNode::node(nullptr)};
  m.conv->meta().quantization_annotation.emplace().output_qspec = d;
  CHECK(m.g.lint_problems() ==
        std::vector<std::string>{"node 'conv2d' (aten.conv2d.default) meta quantization_annotation "
                                 "refers to no node (null)"});
}
