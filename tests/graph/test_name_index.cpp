// The graph's name index (graph/detail/name_index.hpp): numbered names in per-base arrays,
// everything else in the hash table, and the graph behaviours that rest on it.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "graft/graph.hpp"

using namespace graft;
using graft::detail::NameIndex;

namespace {
// Distinct fake node addresses (never dereferenced by the index).
Node* fake(int i) {
  static std::vector<char> storage(4096);
  return reinterpret_cast<Node*>(storage.data() + 16 * i);
}
// A graph input called exactly `name` (no FX renaming, no effect on FX's counters).
Node* exact(Graph& g, const std::string& name) {
  return g.create_node(NodeKind::placeholder, name, {}, {}, name, NameMode::exact);
}
// Indexes `name`; the index keeps pointers to the characters, so they are kept here.
void put(NameIndex& idx, const std::string& name, Node* n) {
  static std::deque<std::string> kept;
  kept.push_back(name);
  idx.insert(kept.back(), n);
}
}  // namespace

TEST_CASE("split_numbered accepts only <base>_<n> with n written without a leading zero") {
  std::string_view base;
  std::uint32_t num = 0;
  CHECK(NameIndex::split_numbered("mul_17", base, num));
  CHECK(base == "mul");
  CHECK(num == 17);
  CHECK(NameIndex::split_numbered("layer1_conv_3", base, num));
  CHECK(base == "layer1_conv");
  CHECK(num == 3);
  CHECK_FALSE(NameIndex::split_numbered("mul", base, num));
  CHECK_FALSE(NameIndex::split_numbered("mul_0", base, num));
  CHECK_FALSE(NameIndex::split_numbered("mul_07", base, num));
  CHECK_FALSE(NameIndex::split_numbered("_5", base, num));
  CHECK_FALSE(NameIndex::split_numbered("mul5", base, num));
  CHECK_FALSE(NameIndex::split_numbered("mul_1234567890", base, num));  // 10 digits
  CHECK(NameIndex::split_numbered("mul_123456789", base, num));
  CHECK(num == 123456789u);
}

TEST_CASE("the name index finds numbered and plain names, live and reserved") {
  NameIndex idx;
  put(idx, "mul", fake(1));
  put(idx, "mul_1", fake(2));
  put(idx, "mul_2", nullptr);  // reserved
  put(idx, "x_weight", fake(3));
  CHECK(idx.size() == 4);
  CHECK(idx.find("mul") == fake(1));
  CHECK(idx.find("mul_1") == fake(2));
  Node* n = fake(9);
  CHECK(idx.lookup("mul_2", &n));
  CHECK(n == nullptr);
  CHECK(idx.find("x_weight") == fake(3));
  CHECK_FALSE(idx.lookup("mul_3"));
  CHECK_FALSE(idx.lookup("add_1"));
  CHECK_FALSE(idx.lookup("mul_01"));
}

TEST_CASE("a number far beyond its base's array goes to the hash table and is still found") {
  NameIndex idx;
  put(idx, "mul_1", fake(1));
  put(idx, "mul_900000000", fake(2));  // would need a 7 GB array
  put(idx, "mul_2", fake(3));
  CHECK(idx.find("mul_900000000") == fake(2));
  CHECK(idx.find("mul_2") == fake(3));
  CHECK_FALSE(idx.lookup("mul_899999999"));
  CHECK(idx.erase("mul_900000000"));
  CHECK_FALSE(idx.lookup("mul_900000000"));
  CHECK_FALSE(idx.erase("mul_900000000"));
  CHECK(idx.size() == 2);
}

TEST_CASE("names that skip numbers cannot grow a base's array far beyond the names it holds") {
  NameIndex idx;
  // Each name doubles the number: an array indexed by number would need 2^29 slots.
  std::vector<std::string> names;
  for (std::uint32_t n = 7; n < 600000000u; n = 2 * n + 1) {
    names.push_back("w_" + std::to_string(n));
    put(idx, names.back(), fake(1));
  }
  for (const std::string& name : names) CHECK(idx.find(name) == fake(1));
  CHECK(idx.size() == names.size());
  CHECK(idx.array_slots() < 4 * names.size() + 16);  // the rest sit in the hash table
}

TEST_CASE("set re-points a name in either store, and erase frees it for a later insert") {
  NameIndex idx;
  put(idx, "relu_4", fake(1));
  put(idx, "relu_500000", fake(2));
  put(idx, "relu", fake(3));
  idx.set("relu_4", nullptr);
  idx.set("relu_500000", fake(5));
  idx.set("relu", nullptr);
  Node* n = fake(9);
  CHECK(idx.lookup("relu_4", &n));
  CHECK(n == nullptr);
  CHECK(idx.find("relu_500000") == fake(5));
  CHECK(idx.lookup("relu", &n));
  CHECK(n == nullptr);
  CHECK(idx.erase("relu_4"));
  CHECK_FALSE(idx.lookup("relu_4"));
  idx.reinsert("relu_4", fake(6));  // indexed before: cannot allocate
  CHECK(idx.find("relu_4") == fake(6));
}

TEST_CASE("for_each_reserved lists the reserved names of both stores") {
  NameIndex idx;
  put(idx, "add_3", nullptr);
  put(idx, "add_4", fake(1));
  put(idx, "add_700000000", nullptr);
  put(idx, "bias", nullptr);
  put(idx, "weight", fake(2));
  std::vector<std::string> seen;
  idx.for_each_reserved([&](std::string_view s) { seen.emplace_back(s); });
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"add_3", "add_700000000", "bias"});
}

TEST_CASE("a graph names thousands of nodes of one base in order and finds each by name") {
  Graph g;
  Node* x = g.placeholder("x");
  std::vector<Node*> made;
  for (int i = 0; i < 5000; ++i) made.push_back(g.call_function("aten.relu.default", {x}));
  CHECK(made[0]->name() == "relu");
  CHECK(made[1]->name() == "relu_1");
  CHECK(made[4999]->name() == "relu_4999");
  for (int i : {1, 7, 8, 9, 63, 64, 1000, 4999}) CHECK(g.find("relu_" + std::to_string(i)) == made[static_cast<std::size_t>(i)]);
  g.output(made.back());
  CHECK(g.lint_problems() == std::vector<std::string>{});
}

TEST_CASE("an exact name with a huge number or a leading zero does not block FX's numbering") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* far = exact(g, "relu_400000000");
  Node* zero = exact(g, "relu_01");
  Node* a = g.call_function("aten.relu.default", {x});
  Node* b = g.call_function("aten.relu.default", {x});
  CHECK(a->name() == "relu");
  CHECK(b->name() == "relu_1");  // "relu_01" is another name
  CHECK(g.find("relu_400000000") == far);
  CHECK(g.find("relu_01") == zero);
  CHECK_THROWS_AS(exact(g, "relu_400000000"), GraphError);
  g.output(b);
  CHECK(g.lint_problems() == std::vector<std::string>{});
}

TEST_CASE("FX counting skips a numbered name taken by an exact name") {
  Graph g;
  Node* x = g.placeholder("x");
  exact(g, "relu_2");
  Node* a = g.call_function("aten.relu.default", {x});
  Node* b = g.call_function("aten.relu.default", {x});
  Node* c = g.call_function("aten.relu.default", {x});
  CHECK(a->name() == "relu");
  CHECK(b->name() == "relu_1");
  CHECK(c->name() == "relu_3");
}

TEST_CASE("numbered names of erased nodes stay reserved, also in a copy of the graph") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten.relu.default", {x});
  Node* b = g.call_function("aten.relu.default", {x});
  g.output(a);
  REQUIRE(b->name() == "relu_1");
  g.erase(b);
  g.purge_erased();
  Graph copy(g);
  for (Graph* h : {&g, &copy}) {
    Node* c = h->call_function("aten.relu.default", {h->find("x")});
    CHECK(c->name() == "relu_2");
    CHECK_THROWS_WITH_AS(exact(*h, "relu_1"), "duplicate node name 'relu_1': used by an erased node", GraphError);
  }
}

TEST_CASE("a rolled-back transaction frees the numbered names it took and restores a rename") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten.relu.default", {x});
  Node* b = g.call_function("aten.relu.default", {x});
  g.output(b);
  {
    auto tx = g.transaction();
    for (int i = 0; i < 200; ++i) g.call_function("aten.relu.default", {x});
    g.rename(a, "relu_9000000");
    g.rename(b, "act");
  }  // rolled back
  CHECK(g.find("relu") == a);
  CHECK(g.find("relu_1") == b);
  CHECK(g.find("relu_2") == nullptr);
  CHECK(g.find("relu_9000000") == nullptr);
  CHECK(g.find("act") == nullptr);
  CHECK(g.lint_problems() == std::vector<std::string>{});
  CHECK(g.call_function("aten.relu.default", {x})->name() == "relu_2");
}
