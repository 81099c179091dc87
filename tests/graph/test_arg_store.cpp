// Where nodes' positional arguments live (graph/detail/arg_store.hpp), the read-only view
// Node::args() returns, and the graph operations that move argument arrays around: creation
// from a caller's buffer, changes inside and outside transactions, copies, long argument lists.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "graft/graph.hpp"

using namespace graft;
using graft::detail::ArgStore;

TEST_CASE("the arg store hands out arrays back to back and reuses a freed one of the same length") {
  ArgStore store;
  Argument* a = store.allocate(2);
  Argument* b = store.allocate(3);
  Argument* c = store.allocate(1);
  CHECK(b == a + 2);  // creation order is memory order
  CHECK(c == b + 3);
  store.deallocate(b, 3);
  CHECK(store.allocate(2) == c + 1);  // another length: fresh room
  CHECK(store.allocate(3) == b);      // the freed array of three
  CHECK(store.allocate(0) == nullptr);
}

TEST_CASE("the arg store moves values in, destroys them, and takes long arrays from the heap") {
  ArgStore store;
  std::vector<Argument> values;
  for (int i = 0; i < 40; ++i) values.emplace_back(std::string(40, static_cast<char>('a' + i % 26)));  // heap strings
  Argument* longer = store.take(values.data(), values.size());  // over kMaxPooled: its own block
  REQUIRE(values.size() > ArgStore::kMaxPooled);
  CHECK(values[0].is_none());  // moved out
  CHECK(longer[0].as_string() == std::string(40, 'a'));
  CHECK(longer[39].as_string() == std::string(40, 'a' + 39 % 26));
  std::vector<Argument> few{Argument(1), Argument("x"), ints({1, 2})};
  Argument* shorter = store.take(few.data(), few.size());
  CHECK(shorter[1].as_string() == "x");
  CHECK(shorter[2].as_int_list() == std::vector<std::int64_t>{1, 2});
  store.destroy(longer, 40);  // the strings are freed (AddressSanitizer checks for leaks)
  store.destroy(shorter, 3);
  CHECK(store.allocate(3) == shorter);
}

TEST_CASE("args() reads like the vector it replaces: size, index, at, range, comparison, copy") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* add = g.call_function("aten.add.Tensor", {x, 2});
  g.output(add);
  ArgList args = add->args();
  REQUIRE(args.size() == 2);
  CHECK_FALSE(args.empty());
  CHECK(args[0].as_node() == x);
  CHECK(args.at(1).as_int() == 2);
  CHECK(args.front().as_node() == x);
  CHECK(args.back().as_int() == 2);
  CHECK_THROWS_WITH_AS(args.at(2), "argument 2 of 2 positional arguments", SchemaError);
  int seen = 0;
  for (const Argument& a : args) seen += a.is_node() ? 1 : 10;
  CHECK(seen == 11);
  const std::vector<Argument> copy = add->args();  // converts, as the vector did
  CHECK(copy == std::vector<Argument>{x, 2});
  CHECK(add->args() == copy);
  CHECK(add->args() != std::vector<Argument>{x, 3});
  CHECK(x->args().empty());
  CHECK(x->args().data() == nullptr);
}

TEST_CASE("call_function_moved takes the arguments out of the caller's buffer") {
  Graph g;
  Node* x = g.placeholder("x");
  Argument buffer[3] = {x, ints({2, 3}), Argument("note")};
  Node* n = g.call_function_moved(g.resolve_op("aten.reshape.default"), buffer, 2);
  g.output(n);
  g.lint();
  CHECK(n->args() == std::vector<Argument>{x, ints({2, 3})});
  CHECK(x->num_users() == 1);
  CHECK(buffer[0].is_none());
  CHECK(buffer[1].is_none());
  CHECK(buffer[2].as_string() == "note");  // past the count: untouched
}

TEST_CASE("call_function_moved leaves the buffer and the graph as they were when it refuses") {
  Graph g;
  Graph other;
  Node* x = g.placeholder("x");
  Node* foreign = other.placeholder("y");
  g.output(x);
  const std::string before = to_string(g);
  Argument buffer[2] = {foreign, ints({2})};
  CHECK_THROWS_WITH_AS(g.call_function_moved(g.resolve_op("aten.reshape.default"), buffer, 2),
                       doctest::Contains("belongs to another graph"), GraphError);
  CHECK(buffer[0].as_node() == foreign);  // nothing was moved
  CHECK(buffer[1].as_int_list() == std::vector<std::int64_t>{2});
  CHECK(to_string(g) == before);
  CHECK_THROWS_AS(g.call_function_moved(nullptr, buffer, 2), GraphError);
}

TEST_CASE("argument changes in a transaction are undone by a rollback and kept by a commit") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* cat = g.call_function("aten.cat.default", {list({x, y}), 0});
  g.output(cat);
  const std::string before = to_string(g);
  {
    auto tx = g.transaction();
    g.set_args(cat, {list({y, x, y}), 1});
    g.set_arg(cat, 1, -1);
    Node* z = nullptr;
    {
      auto guard = g.inserting_before(cat);
      z = g.call_function("aten.relu.default", {x});
    }
    g.replace_input_with(cat, x, z);
    CHECK(cat->args()[1].as_int() == -1);
    CHECK(cat->args()[0] == list({y, z, y}));
  }  // rolled back
  CHECK(to_string(g) == before);
  CHECK(cat->args() == std::vector<Argument>{list({x, y}), 0});
  g.lint();
  {
    auto tx = g.transaction();
    g.set_args(cat, {list({y, x}), 1});
    tx.commit();
  }
  CHECK(cat->args() == std::vector<Argument>{list({y, x}), 1});
  g.lint();
}

TEST_CASE("nodes with more arguments than the store pools are created, changed, copied and undone") {
  Graph g;
  std::vector<Argument> inputs;
  for (int i = 0; i < 20; ++i) inputs.emplace_back(g.placeholder("x" + std::to_string(i)));
  std::vector<Argument> args = inputs;
  args.emplace_back(std::string("a string argument longer than the small-string buffer"));
  Node* n = g.create_node(NodeKind::call_function, "mylib.many.default", args);
  g.output(n);
  CHECK(n->args().size() == 21);
  CHECK(n->num_input_nodes() == 20);
  {
    auto tx = g.transaction();
    g.set_arg(n, 20, 7);
    CHECK(n->args()[20].as_int() == 7);
  }
  CHECK(n->args()[20].as_string() == "a string argument longer than the small-string buffer");
  Graph copy(g);
  const Node* c = copy.find(n->name());
  REQUIRE(c);
  CHECK(c->args().size() == 21);
  CHECK(c->args()[3].as_node() == copy.find("x3"));
  CHECK(c->args()[20] == n->args()[20]);
  copy.lint();
  g.lint();
}

TEST_CASE("a node's arguments survive erase and purge of other nodes, and are freed with their node") {
  Graph g;
  Node* x = g.placeholder("x");
  std::vector<Node*> kept;
  for (int i = 0; i < 50; ++i) {
    Node* dead = g.call_function("aten.mul.Tensor", {x, Argument(std::string(30, 'd'))});
    kept.push_back(g.call_function("aten.add.Tensor", {x, i}));
    g.erase(dead);
  }
  g.output(list({kept.front(), kept.back()}));
  g.purge_erased();
  for (int i = 0; i < 50; ++i) CHECK(kept[static_cast<std::size_t>(i)]->args()[1].as_int() == i);
  g.lint();
}
