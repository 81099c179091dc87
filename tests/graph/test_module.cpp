#include <doctest/doctest.h>

#include "graft/graph.hpp"
#include "support/graphs.hpp"

using namespace graft;

namespace {
Module conv_bn_module() {
  Module mod;
  test::ConvBnRelu m;
  mod.graph = std::move(m.g);
  mod.parameters.add("conv.weight", Tensor(DType::float32, {4, 3, 3, 3}));
  mod.parameters.add("conv.bias", Tensor(DType::float32, {4}));
  mod.parameters.add("bn.weight", Tensor::full<float>({4}, 1.0f));
  mod.parameters.add("bn.bias", Tensor(DType::float32, {4}));
  mod.buffers.add("bn.running_mean", Tensor(DType::float32, {4}));
  mod.buffers.add("bn.running_var", Tensor::full<float>({4}, 1.0f));
  return mod;
}
}  // namespace

TEST_CASE("a module resolves get_attr targets to parameters and buffers") {
  Module mod = conv_bn_module();
  mod.lint();
  CHECK(mod.attr("conv.weight").shape() == Shape{4, 3, 3, 3});
  CHECK(mod.attr("bn.running_var").data<float>()[3] == 1.0f);
  Node* w = mod.graph.find("conv_weight");
  CHECK(&mod.attr_of(*w) == &mod.attr("conv.weight"));
  CHECK(mod.find_attr("nope") == nullptr);
  CHECK_THROWS_WITH_AS(mod.attr("nope"), "no parameter or buffer named 'nope'", GraphError);
}

TEST_CASE("module lint reports a get_attr naming no tensor") {
  Module mod = conv_bn_module();
  mod.parameters.erase("conv.bias");
  CHECK(mod.lint_problems() ==
        std::vector<std::string>{"get_attr node 'conv_bias' (get_attr) names 'conv.bias', which "
                                 "is no parameter or buffer"});
}

TEST_CASE("module lint reports a name that is both a parameter and a buffer") {
  Module mod = conv_bn_module();
  mod.buffers.add("conv.weight", Tensor());
  CHECK(mod.lint_problems() ==
        std::vector<std::string>{"'conv.weight' is both a parameter and a buffer"});
}

TEST_CASE("named tensors keep insertion order across erasures") {
  NamedTensors t;
  for (int i = 0; i < 100; ++i) t.add("t" + std::to_string(i), Tensor(DType::int64, {1}));
  for (int i = 0; i < 100; i += 2) CHECK(t.erase("t" + std::to_string(i)));
  CHECK_FALSE(t.erase("t0"));
  CHECK(t.size() == 50);
  auto names = t.names();
  REQUIRE(names.size() == 50);
  CHECK(names.front() == "t1");
  CHECK(names.back() == "t99");
  CHECK(t.contains("t51"));
  CHECK_FALSE(t.contains("t50"));
  CHECK_THROWS_WITH_AS(t.add("t1", Tensor()), "tensor 't1' already exists", GraphError);
}

TEST_CASE("unique attribute names never collide with parameters or buffers") {
  Module mod = conv_bn_module();
  CHECK(mod.unique_attr_name("conv.weight_bias") == "conv.weight_bias");
  mod.parameters.add("conv.weight_bias", Tensor());
  CHECK(mod.unique_attr_name("conv.weight_bias") == "conv.weight_bias_1");
  CHECK(mod.unique_attr_name("bn.running_mean") == "bn.running_mean_1");
}

TEST_CASE("a module copy is deep") {
  Module mod = conv_bn_module();
  Module copy = mod;
  copy.parameters.at("bn.weight").data<float>()[0] = 5.0f;
  CHECK(mod.parameters.at("bn.weight").data<float>()[0] == 1.0f);
  CHECK_FALSE(copy.parameters == mod.parameters);
  copy.graph.erase(copy.graph.output_node());
  CHECK(mod.graph.output_node() != nullptr);
  Module again = mod;
  CHECK(again.parameters == mod.parameters);
  CHECK(again.buffers == mod.buffers);
}

TEST_CASE("find_attr with a cursor finds what find_attr finds, from any cursor") {
  Module mod = conv_bn_module();
  mod.buffers.add("bn.num_batches_tracked", Tensor(DType::int64, {}));
  mod.parameters.erase("bn.weight");  // an erased entry keeps its slot: the cursor must skip it
  const std::vector<std::string> targets = {"conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean",
                                            "bn.num_batches_tracked", "bn.running_var", "nope", "conv.weight"};
  // In registration order from a fresh cursor, backwards, and from cursors anywhere (past the end too).
  for (std::size_t start : {0, 1, 3, 5, 6, 100}) {
    Module::AttrCursor cursor{start, start};
    for (const auto& t : targets) CHECK(mod.find_attr(t, cursor) == mod.find_attr(t));
    Module::AttrCursor back{start, start};
    for (auto it = targets.rbegin(); it != targets.rend(); ++it) CHECK(mod.find_attr(*it, back) == mod.find_attr(*it));
  }
  CHECK(mod.find_attr("bn.weight") == nullptr);
  CHECK(mod.find_attr("bn.running_var") == &mod.buffers.at("bn.running_var"));
}

TEST_CASE("a cursor read in registration order moves past each tensor it finds") {
  Module mod = conv_bn_module();
  Module::AttrCursor cursor;
  CHECK(mod.find_attr("conv.weight", cursor) == &mod.parameters.at("conv.weight"));
  CHECK(cursor.parameter == 1);
  CHECK(mod.find_attr("bn.weight", cursor) == &mod.parameters.at("bn.weight"));  // skips one: still near
  CHECK(cursor.parameter == 3);
  CHECK(mod.find_attr("bn.running_var", cursor) == &mod.buffers.at("bn.running_var"));
  CHECK(cursor.buffer == 2);
  CHECK(cursor.parameter == 3);  // a buffer leaves the parameter cursor where it was
  CHECK(mod.find_attr("conv.bias", cursor) == &mod.parameters.at("conv.bias"));  // behind it: by hash
  CHECK(cursor.parameter == 2);
  CHECK(mod.find_attr("nope", cursor) == nullptr);
  CHECK(cursor.parameter == 2);
  CHECK(cursor.buffer == 2);
}

TEST_CASE("named tensors compacted by erasure stay findable by name, by cursor and in copies") {
  Module mod;
  auto name = [](int i) { return "a.fairly.long.parameter.name." + std::to_string(i); };  // heap-allocated names
  for (int i = 0; i < 100; ++i) mod.parameters.add(name(i), Tensor::full<float>({1}, static_cast<float>(i)));
  for (int i = 0; i < 100; ++i)
    if (i % 3 != 0) CHECK(mod.parameters.erase(name(i)));  // below half live: compacts
  CHECK(mod.parameters.size() == 34);
  const Module copy = mod;
  for (const Module* m : {static_cast<const Module*>(&mod), &copy}) {
    Module::AttrCursor cursor;
    std::size_t last = 0;
    for (int i = 0; i < 100; ++i) {
      const Tensor* t = m->find_attr(name(i), cursor);
      CHECK(t == m->find_attr(name(i)));
      if (i % 3 == 0) {
        REQUIRE(t != nullptr);
        CHECK(t->data<float>()[0] == static_cast<float>(i));
        CHECK(cursor.parameter > last);  // in registration order: always forward
        last = cursor.parameter;
      } else {
        CHECK(t == nullptr);
        CHECK(cursor.parameter == last);  // a miss leaves it
      }
    }
  }
  mod.parameters.add(name(1), Tensor::full<float>({1}, -1.0f));  // a new entry after compaction
  Module::AttrCursor cursor;
  const Tensor* last_live = mod.find_attr(name(99), cursor);
  REQUIRE(last_live != nullptr);
  CHECK(mod.find_attr(name(1), cursor)->data<float>()[0] == -1.0f);  // the next entry: found near
  CHECK(mod.find_attr(name(1)) == &mod.parameters.at(name(1)));
}
