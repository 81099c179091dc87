#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <utility>

#include "graft/graph.hpp"

using namespace graft;

TEST_CASE("argument literals keep their kind and value") {
  CHECK(Argument().is_none());
  CHECK(Argument(nullptr).is_none());
  CHECK(Argument(true).as_bool() == true);
  CHECK(Argument(7).as_int() == 7);
  CHECK(Argument(std::int64_t{-3}).as_int() == -3);
  CHECK(Argument(1e-5).as_double() == 1e-5);
  CHECK(Argument("valid").as_string() == "valid");
  CHECK(Argument(DType::int8).as_dtype() == DType::int8);
  CHECK(Argument(true).kind() == ArgKind::boolean);
  CHECK(Argument(3).kind() == ArgKind::integer);
}

TEST_CASE("a null node pointer argument is None") {
  Node* none = nullptr;
  CHECK(Argument(none).is_none());
}

TEST_CASE("an int argument reads as a float, as Python widens it") {
  CHECK(Argument(2).as_double() == 2.0);
}

TEST_CASE("reading an argument as the wrong kind names both kinds") {
  CHECK_THROWS_WITH_AS(Argument(1.5).as_int(), "argument is float, expected int", SchemaError);
  CHECK_THROWS_WITH_AS(Argument("x").as_bool(), "argument is str, expected bool", SchemaError);
}

TEST_CASE("int lists read back, and a single int broadcasts to a requested length") {
  CHECK(ints({2, 1}).as_int_list() == std::vector<std::int64_t>{2, 1});
  CHECK(Argument(3).as_int_list(2) == std::vector<std::int64_t>{3, 3});
  CHECK_THROWS_WITH_AS(list({1, 2.5}).as_int_list(), "int list element 1 is float, expected int",
                       SchemaError);
}

TEST_CASE("argument equality is structural and treats NaN as equal to NaN") {
  CHECK(ints({1, 1}) == ints({1, 1}));
  CHECK(ints({1, 1}) != ints({1, 2}));
  CHECK(Argument(1) != Argument(1.0));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(Argument(nan) == Argument(nan));
  CHECK(list({1, list({nan})}) == list({1, list({nan})}));
}

TEST_CASE("node references are found and replaced inside nested lists") {
  Graph g;
  Node* a = g.placeholder("a");
  Node* b = g.placeholder("b");
  Argument arg = list({a, list({b, 3}), a});
  std::vector<Node*> seen;
  arg.for_each_node([&](Node* n) { seen.push_back(n); });
  CHECK(seen == std::vector<Node*>{a, b, a});
  CHECK_FALSE(arg.is_literal());
  CHECK(ints({1, 2}).is_literal());
  arg.map_nodes([&](Node* n) { return n == a ? b : n; });
  CHECK(arg == list({b, list({b, 3}), b}));
}

TEST_CASE("mapping a node reference to null turns it into None") {
  Graph g;
  Node* a = g.placeholder("a");
  Argument arg = list({a});
  arg.map_nodes([](Node*) -> Node* { return nullptr; });
  CHECK(arg == list({Argument()}));
}

// Lists are copy on write: copies share one block until one of them changes.
TEST_CASE("a copied list shares its elements, and each copy still changes alone") {
  Argument a = ints({1, 2});
  Argument b = a;
  const Argument c = b;
  CHECK(&std::as_const(a).as_list() == &std::as_const(b).as_list());  // shared: no allocation
  CHECK(&std::as_const(a).as_list() == &c.as_list());
  b.as_list().push_back(Argument(3));  // b takes its own copy first
  CHECK(b == ints({1, 2, 3}));
  CHECK(a == ints({1, 2}));
  CHECK(c == ints({1, 2}));
  CHECK(&std::as_const(a).as_list() == &c.as_list());  // the other two still share
}

TEST_CASE("a list reference handed out for writing is not shared by later copies") {
  Argument a = ints({1, 2});
  Argument::List& items = a.as_list();
  const Argument copy = a;  // made after the reference escaped: must not see writes through it
  items.push_back(Argument(3));
  CHECK(a == ints({1, 2, 3}));
  CHECK(copy == ints({1, 2}));
  CHECK(&copy.as_list() != &items);
}

TEST_CASE("mapping the nodes of a shared list changes only the mapped copy") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  const Argument original = list({x, list({x, 1})});
  Argument mapped = original;
  mapped.map_nodes([&](Node*) { return y; });
  CHECK(mapped == list({y, list({y, 1})}));
  CHECK(original == list({x, list({x, 1})}));
  Argument literal = ints({4, 5});
  const Argument literal_copy = literal;
  literal.map_nodes([&](Node*) { return y; });  // no node inside: nothing to copy
  CHECK(&std::as_const(literal).as_list() == &literal_copy.as_list());
}

TEST_CASE("a shared list outlives the argument it was copied from") {
  auto* first = new Argument(list({ints({7}), 8}));
  const Argument kept = *first;
  delete first;
  CHECK(kept == list({ints({7}), 8}));
}
