#include <doctest/doctest.h>

#include "graft/graph.hpp"
#include "support/graphs.hpp"

using namespace graft;

namespace {
std::vector<Node*> users_of(const Node* n) {
  return std::vector<Node*>(n->users().begin(), n->users().end());
}
}  // namespace

TEST_CASE("replace_all_uses_with re-points every user and updates both user lists") {
  test::ConvBnRelu m;
  Node* conv2 = nullptr;
  {
    auto guard = m.g.inserting_after(m.conv);
    conv2 = m.g.call_function("aten.conv2d.default", {m.x, m.w});
  }
  auto changed = m.g.replace_all_uses_with(m.conv, conv2);
  CHECK(changed == std::vector<Node*>{m.bn});
  CHECK(m.bn->args()[0].as_node() == conv2);
  CHECK(m.conv->num_users() == 0);
  CHECK(users_of(conv2) == std::vector<Node*>{m.bn});
  m.g.lint();
}

TEST_CASE("replace_all_uses_with can be filtered") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* a = g.call_function("aten.relu.default", {x});
  Node* b = g.call_function("aten.sigmoid.default", {x});
  g.output(list({a, b}));
  auto changed = g.replace_all_uses_with(x, y, [&](Node* u) { return u == b; });
  CHECK(changed == std::vector<Node*>{b});
  CHECK(users_of(x) == std::vector<Node*>{a});
  CHECK(users_of(y) == std::vector<Node*>{b});
  g.lint();
}

TEST_CASE("replace_input_with changes one user only") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* a = g.call_function("aten.add.Tensor", {x, x});
  Node* b = g.call_function("aten.relu.default", {x});
  g.replace_input_with(a, x, y);
  CHECK(a->args()[0].as_node() == y);
  CHECK(a->args()[1].as_node() == y);
  CHECK(users_of(x) == std::vector<Node*>{b});
  CHECK(users_of(y) == std::vector<Node*>{a});
}

TEST_CASE("a user that keeps an input keeps its place among that input's users") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* y = g.placeholder("y");
  Node* a = g.call_function("aten.add.Tensor", {x, y});
  Node* b = g.call_function("aten.relu.default", {x});
  g.set_args(a, {x, x});
  CHECK(users_of(x) == std::vector<Node*>{a, b});
  CHECK(y->num_users() == 0);
}

TEST_CASE("set_arg, set_kwarg and set_named_arg write where the argument lives") {
  test::ConvBnRelu m;
  m.g.set_named_arg(m.bn, "eps", 1e-3);  // positional slot 7
  CHECK(m.bn->args()[7] == Argument(1e-3));
  CHECK(m.bn->kwargs().empty());
  m.g.set_named_arg(m.conv, "groups", 2);  // defaulted: becomes a keyword
  CHECK(m.conv->kwarg("groups") != nullptr);
  CHECK(m.conv->arg("groups") == Argument(2));
  m.g.set_kwarg(m.conv, "groups", 4);
  CHECK(m.conv->kwargs().size() == 1);
  CHECK(m.conv->arg("groups") == Argument(4));
  CHECK(m.g.remove_kwarg(m.conv, "groups"));
  CHECK_FALSE(m.g.remove_kwarg(m.conv, "groups"));
  CHECK(m.conv->arg("groups") == Argument(1));
  m.g.set_arg(m.conv, 2, nullptr);
  CHECK(m.conv->arg("bias").is_none());
  CHECK(m.b->num_users() == 0);
}

TEST_CASE("set_arg past the end pads with None") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* c = g.call_function("aten.conv2d.default", {x, x});
  g.set_arg(c, 4, ints({1, 1}));
  CHECK(c->args().size() == 5);
  CHECK(c->args()[2].is_none());
  CHECK(c->args()[3].is_none());
}

TEST_CASE("move_before moves a node and keeps the order topological") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* a = g.call_function("aten.relu.default", {x});
  Node* y = g.placeholder("y");
  Node* b = g.call_function("aten.relu.default", {y});
  g.output(list({a, b}));
  g.move_before(y, a);
  CHECK(x->next() == y);
  CHECK(y->next() == a);
  CHECK(y->is_before(*a));
  g.move_after(x, y);
  CHECK(y->next() == x);
  g.lint();
}

TEST_CASE("erase removes a node without users and drops its uses") {
  test::ConvBnRelu m;
  Node* dead = m.g.call_function("aten.relu.default", {m.conv});
  m.g.erase(dead);
  CHECK(dead->erased());
  CHECK(m.conv->num_users() == 1);
  CHECK(m.g.size() == 11);
  CHECK_FALSE(m.g.contains(dead));
  CHECK(m.g.num_erased() == 1);
  m.g.purge_erased();
  CHECK(m.g.num_erased() == 0);
}

TEST_CASE("dead-code elimination removes unused pure chains in one pass") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* w = g.get_attr("w");
  Node* a = g.call_function("aten.mul.Tensor", {x, w});
  Node* b = g.call_function("aten.relu.default", {a});
  g.call_function("aten.sigmoid.default", {b});  // dead chain: sigmoid <- relu <- mul <- w
  Node* keep = g.call_function("aten.relu.default", {x});
  g.output(keep);
  CHECK(g.eliminate_dead_code() == 4);
  CHECK(g.size() == 3);
  CHECK(g.find("w") == nullptr);
  CHECK(g.find("x") == x);
  g.lint();
}

TEST_CASE("dead-code elimination keeps placeholders, in-place ops and training batch norm") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* unused_input = g.placeholder("unused");
  Node* counter = g.get_attr("bn.num_batches_tracked");
  Node* bump = g.call_function("aten.add_.Tensor", {counter, 1});
  Node* mean = g.get_attr("bn.running_mean");
  Node* var = g.get_attr("bn.running_var");
  Node* train_bn = g.call_function("aten.batch_norm.default",
                                   {x, nullptr, nullptr, mean, var, true, 0.1, 1e-5, false});
  Node* legit = g.call_function("aten._native_batch_norm_legit.default",
                                {x, nullptr, nullptr, mean, var, true, 0.1, 1e-5});
  Node* eval_bn = g.call_function("aten.batch_norm.default",
                                  {x, nullptr, nullptr, mean, var, false, 0.1, 1e-5, false});
  Node* eval_legit = g.call_function("aten._native_batch_norm_legit_no_training.default",
                                     {x, nullptr, nullptr, mean, var, 0.1, 1e-5});
  g.output(x);
  CHECK(g.eliminate_dead_code() == 2);
  CHECK(g.contains(unused_input));
  CHECK(g.contains(bump));
  CHECK(g.contains(train_bn));
  CHECK(g.contains(legit));
  CHECK_FALSE(g.contains(eval_bn));
  CHECK_FALSE(g.contains(eval_legit));
}

TEST_CASE("ops declared with side effects survive dead-code elimination") {
  Graph g;
  OpSchema s = OpSchema::parse("mylib.log.default(Tensor x) -> Tensor");
  s.set_side_effects(true);
  const OpSchema* log = g.register_op(std::move(s));
  Node* x = g.placeholder("x");
  Node* l = g.call_function(log, {x});
  g.output(x);
  CHECK(g.eliminate_dead_code() == 0);
  CHECK(g.contains(l));
}

TEST_CASE("rename sets an exact name and keeps the name index") {
  test::ConvBnRelu m;
  m.g.rename(m.conv, "my_conv");
  CHECK(m.conv->name() == "my_conv");
  CHECK(m.g.find("my_conv") == m.conv);
  CHECK(m.g.find("conv2d") == nullptr);
  m.g.lint();
}

TEST_CASE("exact names are accepted when free") {
  Graph g;
  Node* n = g.create_node(NodeKind::placeholder, "arg0_1", {}, {}, "arg0_1", NameMode::exact);
  CHECK(n->name() == "arg0_1");
}

TEST_CASE("a transaction rolled back restores nodes, arguments, users and their order, and names") {
  test::ConvBnRelu m;
  Node* extra = m.g.call_function("aten.sigmoid.default", {m.conv});  // conv users: bn, sigmoid
  m.g.erase(m.g.output_node());
  m.g.output(list({m.relu, extra}));
  const std::string before = to_string(m.g);
  std::vector<Node*> conv_users(m.conv->users().begin(), m.conv->users().end());
  {
    auto tx = m.g.transaction();
    Node* r2;
    {
      auto guard = m.g.inserting_before(m.bn);
      r2 = m.g.call_function("aten.relu.default", {m.conv});
    }
    m.g.replace_all_uses_with(m.conv, r2, [&](Node* u) { return u != r2; });
    m.g.set_named_arg(m.bn, "eps", 1e-3);
    m.g.rename(m.relu, "act");
    m.g.erase(m.g.call_function("aten.tanh.default", {m.x}));
    Node* dead = m.g.call_function("aten.tanh.default", {m.x});
    m.g.move_before(dead, m.conv);
    CHECK(m.g.in_transaction());
  }  // no commit: rolled back
  CHECK_FALSE(m.g.in_transaction());
  CHECK(to_string(m.g) == before);
  CHECK(std::vector<Node*>(m.conv->users().begin(), m.conv->users().end()) == conv_users);
  CHECK(m.g.find("act") == nullptr);
  CHECK(m.g.find("relu") == m.relu);
  CHECK(m.g.lint_problems().empty());
  // Names handed out inside the rolled-back transaction are free again.
  CHECK(m.g.call_function("aten.relu.default", {m.x})->name() == "relu_1");
}

TEST_CASE("a rollback undoes runs of created nodes interleaved with other changes, last first") {
  // Nodes created one after another share journal entries (three to an entry); anything else
  // logged in between starts a new one. The undo must still go exactly in reverse.
  test::ConvBnRelu m;
  m.g.set_kwarg(m.conv, "groups", 1);
  const std::string before = to_string(m.g);
  std::vector<Node*> relu_users(m.relu->users().begin(), m.relu->users().end());
  {
    auto tx = m.g.transaction();
    Node* cur = m.x;
    std::vector<Node*> chain;
    {
      auto guard = m.g.inserting_before(m.conv);
      for (int i = 0; i < 7; ++i) chain.push_back(cur = m.g.call_function("aten.relu.default", {cur}));
    }
    m.g.replace_input_with(m.conv, m.x, cur);             // an args entry between runs
    m.g.remove_kwarg(m.conv, "groups");                    // keyword arguments go too
    {
      auto guard = m.g.inserting_before(m.conv);
      cur = m.g.call_function("aten.sigmoid.default", {chain[2]});
      Node* t = m.g.call_function("aten.tanh.default", {cur});
      m.g.erase(t);                                        // created and erased inside
    }
    CHECK(m.conv->args()[0].as_node() == chain.back());
    CHECK(m.conv->kwargs().empty());
    CHECK(chain.front()->num_users() == 1);
  }
  CHECK(to_string(m.g) == before);
  CHECK(m.conv->args()[0].as_node() == m.x);
  REQUIRE(m.conv->kwargs().size() == 1);
  CHECK(m.conv->kwargs()[0].name == "groups");
  CHECK(std::vector<Node*>(m.relu->users().begin(), m.relu->users().end()) == relu_users);
  CHECK(m.x->num_users() == 1);
  m.g.lint();
  CHECK(m.g.call_function("aten.relu.default", {m.x})->name() == "relu_1");
}

TEST_CASE("a committed transaction keeps its changes") {
  test::ConvBnRelu m;
  auto tx = m.g.transaction();
  m.g.set_named_arg(m.bn, "eps", 1e-3);
  Node* dead = m.g.call_function("aten.relu.default", {m.x});
  m.g.erase(dead);
  tx.commit();
  CHECK(m.bn->arg("eps").as_double() == 1e-3);
  CHECK(dead->erased());
  m.g.lint();
}

TEST_CASE("transactions do not nest, and purge_erased waits for the end of one") {
  test::ConvBnRelu m;
  auto tx = m.g.transaction();
  CHECK_THROWS_WITH_AS((void)m.g.transaction(), "transaction: a transaction is already open on this graph",
                       GraphError);
  CHECK_THROWS_WITH_AS(m.g.purge_erased(), "purge_erased: not inside a transaction", GraphError);
  tx.commit();
  CHECK_NOTHROW(m.g.purge_erased());
}
