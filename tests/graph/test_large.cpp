// Graphs of a million nodes: every walk is iterative, nothing is quadratic.
#include <doctest/doctest.h>

#include <sstream>

#include "graft/graph.hpp"
#include "support/graphs.hpp"

using namespace graft;

namespace {
constexpr std::size_t kChain = 1000000;
}

TEST_CASE("a 10^6-node chain builds, lints, prints and is copied") {
  Graph g = test::make_chain(kChain);
  CHECK(g.size() == kChain + 2);
  CHECK(g.lint_problems().empty());
  std::ostringstream os;
  os << g;
  const std::string text = os.str();
  CHECK(text.find("%add_999999 : [num_users=1]") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == static_cast<long>(kChain + 3));
  Graph copy(g);
  CHECK(copy.size() == g.size());
  CHECK(copy.lint_problems().empty());
}

TEST_CASE("dead-code elimination removes a 10^6-node dead chain") {
  Graph g = test::make_chain(kChain);
  Node* x = g.find("x");
  g.set_args(g.output_node(), {x});
  CHECK(g.eliminate_dead_code() == kChain);
  CHECK(g.size() == 2);
  g.lint();
}

TEST_CASE("10^5 insertions at one spot keep the order labels consistent") {
  Graph g = test::make_chain(10);
  Node* anchor = g.find("add_5");
  Node* prev = g.find("add_4");
  auto guard = g.inserting_before(anchor);
  for (int i = 0; i < 100000; ++i) prev = g.call_function("aten.relu.default", {prev});
  g.set_args(anchor, {prev, 1});
  CHECK(g.lint_problems().empty());
  CHECK(g.find("add_4")->is_before(*g.find("relu_99999")));
  CHECK(g.find("relu_99999")->is_before(*anchor));
}

TEST_CASE("a node with 10^5 users can lose them all") {
  Graph g;
  Node* x = g.placeholder("x");
  std::vector<Node*> users;
  for (int i = 0; i < 100000; ++i) users.push_back(g.call_function("aten.relu.default", {x}));
  g.output(x);
  CHECK(x->num_users() == 100001);
  CHECK(g.eliminate_dead_code() == 100000);
  CHECK(x->num_users() == 1);
  g.lint();
}

TEST_CASE("a node reading 10^5 inputs keeps one use per distinct input") {
  Graph g;
  std::vector<Node*> inputs;
  Argument::List items;
  for (int i = 0; i < 100000; ++i) {
    inputs.push_back(g.placeholder("x"));
    items.emplace_back(inputs.back());
    items.emplace_back(inputs.back());
  }
  Node* cat = g.call_function("aten.cat.default", {Argument(std::move(items))});
  g.output(cat);
  CHECK(cat->num_input_nodes() == 100000);
  CHECK(inputs[500]->num_users() == 1);
  g.set_args(cat, {list({inputs[0], inputs[1]})});
  CHECK(cat->num_input_nodes() == 2);
  CHECK(inputs[500]->num_users() == 0);
  g.lint();
}
