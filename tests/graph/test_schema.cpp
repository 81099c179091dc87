#include <doctest/doctest.h>

#include "graft/graph.hpp"

using namespace graft;

namespace {
const OpSchema& builtin(std::string_view name) {
  const OpSchema* s = OpRegistry::builtin().find(name);
  REQUIRE_MESSAGE(s != nullptr, name);
  return *s;
}
}  // namespace

TEST_CASE("every op of the semantics note has a built-in schema") {
  for (const char* name :
       {"aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default",
        "aten.conv_transpose1d.default", "aten.conv_transpose2d.input",
        "aten.conv_transpose3d.input", "aten.convolution.default", "aten.batch_norm.default",
        "aten._native_batch_norm_legit.default", "aten._native_batch_norm_legit_no_training.default",
        "aten.native_batch_norm.default", "quantized_decomposed.quantize_per_tensor.default",
        "quantized_decomposed.quantize_per_tensor.tensor",
        "quantized_decomposed.dequantize_per_tensor.default",
        "quantized_decomposed.dequantize_per_tensor.tensor",
        "quantized_decomposed.quantize_per_channel.default",
        "quantized_decomposed.dequantize_per_channel.default", "operator.getitem",
        "aten.add_.Tensor", "aten.mul.Tensor", "aten.div.Tensor", "aten.sqrt.default",
        "aten.reshape.default", "aten.zeros_like.default"}) {
    CHECK_MESSAGE(OpRegistry::builtin().find(name) != nullptr, name);
  }
}

TEST_CASE("conv argument positions follow ATen") {
  const OpSchema& conv = builtin("aten.conv2d.default");
  REQUIRE(conv.args().size() == 7);
  CHECK(conv.args()[0].name == "input");
  CHECK(conv.args()[2].name == "bias");
  CHECK(conv.args()[2].optional);
  CHECK(*conv.index_of("groups") == 6);
  const OpSchema& tconv = builtin("aten.conv_transpose2d.input");
  CHECK(*tconv.index_of("output_padding") == 5);
  CHECK(*tconv.index_of("groups") == 6);
  CHECK(*tconv.index_of("dilation") == 7);
  const OpSchema& convolution = builtin("aten.convolution.default");
  CHECK(*convolution.index_of("transposed") == 6);
  CHECK(*convolution.index_of("groups") == 8);
}

TEST_CASE("argument types are classified from the schema text") {
  const OpSchema& conv = builtin("aten.conv2d.default");
  CHECK(conv.args()[0].type == ArgType::tensor);
  CHECK(conv.args()[0].type_text == "Tensor");
  CHECK(conv.args()[2].type_text == "Tensor?");
  CHECK(conv.args()[3].type == ArgType::int_list);
  CHECK(conv.args()[3].fixed_length == 2);
  CHECK(conv.args()[6].type == ArgType::integer);
  const OpSchema& bn = builtin("aten.batch_norm.default");
  CHECK(bn.args()[5].type == ArgType::boolean);
  CHECK(bn.args()[7].type == ArgType::real);
  const OpSchema& q = builtin("quantized_decomposed.quantize_per_tensor.default");
  CHECK(q.args()[5].type == ArgType::scalar_type);
  CHECK(builtin("aten.cat.default").args()[0].type == ArgType::tensor_list);
  CHECK(builtin("aten._native_batch_norm_legit.default").args()[3].type_text == "Tensor(a!)");
}

TEST_CASE("sized int-list defaults are expanded to their length") {
  CHECK(*builtin("aten.conv1d.default").args()[3].default_value == ints({1}));
  CHECK(*builtin("aten.conv2d.default").args()[4].default_value == ints({0, 0}));
  CHECK(*builtin("aten.conv3d.default").args()[5].default_value == ints({1, 1, 1}));
  CHECK(*builtin("aten.max_pool2d.default").args()[2].default_value == Argument(Argument::List{}));
}

TEST_CASE("batch norm schemas expose training, momentum and eps") {
  const OpSchema& bn = builtin("aten.batch_norm.default");
  CHECK(*bn.index_of("momentum") == 6);
  CHECK(*bn.index_of("eps") == 7);
  CHECK(*bn.training_index() == 5);
  const OpSchema& legit = builtin("aten._native_batch_norm_legit.default");
  CHECK(legit.num_outputs() == 3);
  CHECK(legit.returns_tuple());
  CHECK(legit.mutates());
  CHECK(legit.args()[3].mutated);
  const OpSchema& no_training = builtin("aten._native_batch_norm_legit_no_training.default");
  CHECK_FALSE(no_training.training_index().has_value());
  CHECK(*no_training.index_of("eps") == 6);
}

TEST_CASE("keyword-only arguments follow the star") {
  const OpSchema& add = builtin("aten.add.Tensor");
  CHECK(add.num_positional() == 2);
  CHECK(add.args()[2].kwarg_only);
  CHECK(*add.args()[2].default_value == Argument(1));
  const OpSchema& dq = builtin("quantized_decomposed.dequantize_per_tensor.default");
  CHECK(dq.num_positional() == 6);
  CHECK(dq.args()[6].name == "out_dtype");
}

TEST_CASE("in-place ops are mutating by annotation and by name") {
  CHECK(builtin("aten.add_.Tensor").mutates());
  CHECK(builtin("aten.relu_.default").mutates());
  CHECK_FALSE(builtin("aten.relu.default").mutates());
  CHECK_FALSE(builtin("aten.reshape.default").mutates());
}

TEST_CASE("schema names split into namespace, op and overload") {
  const OpSchema& s = builtin("aten.conv_transpose2d.input");
  CHECK(s.ns() == "aten");
  CHECK(s.op() == "conv_transpose2d");
  CHECK(s.overload() == "input");
  const OpSchema& g = builtin("operator.getitem");
  CHECK(g.ns() == "operator");
  CHECK(g.op() == "getitem");
  CHECK(g.overload().empty());
}

TEST_CASE("a custom schema parses with defaults of every literal kind") {
  OpSchema s = OpSchema::parse(
      "mylib.op.default(Tensor(a!) x, int[2] k=3, float eps=1e-05, bool flag=True, "
      "str mode=\"same\", ScalarType? dt=None, *, float[] scales=[0.5, 2.0]) -> (Tensor, Tensor)");
  CHECK(s.args().size() == 7);
  CHECK(*s.args()[1].default_value == ints({3, 3}));
  CHECK(*s.args()[2].default_value == Argument(1e-5));
  CHECK(*s.args()[3].default_value == Argument(true));
  CHECK(*s.args()[4].default_value == Argument("same"));
  CHECK(s.args()[5].default_value->is_none());
  CHECK(s.args()[6].kwarg_only);
  CHECK(*s.args()[6].default_value == list({0.5, 2.0}));
  CHECK(s.num_outputs() == 2);
  CHECK(s.mutates());
}

TEST_CASE("a malformed schema is an error naming the column") {
  CHECK_THROWS_WITH_AS(OpSchema::parse("mylib.op.default(Tensor x -> Tensor"),
                       doctest::Contains("expected ')'"), SchemaError);
  CHECK_THROWS_WITH_AS(OpSchema::parse("noname(Tensor x) -> Tensor"),
                       doctest::Contains("is not of the form namespace.op[.overload]"), SchemaError);
  CHECK_THROWS_WITH_AS(OpSchema::parse("a.b.c(int k=12x) -> Tensor"),
                       doctest::Contains("bad number '12x'"), SchemaError);
}

TEST_CASE("a registry refuses a second schema of the same name") {
  OpRegistry r;
  r.add(OpSchema::parse("mylib.op.default(Tensor x) -> Tensor"));
  CHECK_THROWS_WITH_AS(r.add(OpSchema::parse("mylib.op.default(Tensor y) -> Tensor")),
                       "op 'mylib.op.default' is already registered", SchemaError);
}

TEST_CASE("op names in torch spellings are canonicalised") {
  CHECK(canonical_op_name("aten::conv2d") == "aten.conv2d.default");
  CHECK(canonical_op_name("aten::add.Tensor") == "aten.add.Tensor");
  CHECK(canonical_op_name("torch.ops.aten.relu.default") == "aten.relu.default");
  CHECK(canonical_op_name("operator.getitem") == "operator.getitem");
}

TEST_CASE("a node reads schema arguments given positionally, by keyword, or by default") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* w = g.get_attr("w");
  Node* pos = g.call_function("aten.conv2d.default", {x, w, nullptr, ints({2, 2}), ints({4, 4})});
  Node* kw = g.call_function("aten.conv2d.default", {x, w},
                             {{"padding", ints({4, 4})}, {"stride", ints({2, 2})}});
  for (Node* n : {pos, kw}) {
    CHECK(n->arg("stride") == ints({2, 2}));
    CHECK(n->arg("padding") == ints({4, 4}));
    CHECK(n->arg("dilation") == ints({1, 1}));
    CHECK(n->arg("groups") == Argument(1));
    CHECK(n->arg("bias").is_none());
    CHECK(n->arg(std::size_t{1}).as_node() == w);
  }
  CHECK(pos->has_explicit_arg("stride"));
  CHECK(kw->has_explicit_arg("stride"));
  CHECK_FALSE(kw->has_explicit_arg("dilation"));
  CHECK(pos->normalized_args() == kw->normalized_args());
}

TEST_CASE("reading an unknown or missing argument names the node, op and argument") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* bn = g.call_function("aten.batch_norm.default", {x});
  CHECK_THROWS_WITH_AS(bn->arg("epsilon"),
                       "node 'batch_norm' (aten.batch_norm.default): aten.batch_norm.default has no "
                       "argument named 'epsilon' (its arguments are input, weight, bias, "
                       "running_mean, running_var, training, momentum, eps, cudnn_enabled)",
                       SchemaError);
  CHECK_THROWS_WITH_AS(bn->arg("eps"),
                       "node 'batch_norm' (aten.batch_norm.default): required argument 'eps' is missing",
                       SchemaError);
  CHECK(bn->find_arg("eps") == nullptr);
}

TEST_CASE("an unknown op gets a name-only schema readable by position") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* n = g.call_function("mylib.mystery.default", {x, 3});
  REQUIRE(n->op() != nullptr);
  CHECK_FALSE(n->op()->has_signature());
  CHECK(n->arg(std::size_t{1}) == Argument(3));
  CHECK_THROWS_WITH_AS(n->arg("k"),
                       "node 'mystery' (mylib.mystery.default): no schema is registered for "
                       "mylib.mystery.default, so argument k cannot be read by name",
                       SchemaError);
}

TEST_CASE("a graph resolves custom ops it registered") {
  Graph g;
  const OpSchema* fused = g.register_op("mylib.fused.default(Tensor x, int k=3) -> Tensor");
  Node* x = g.placeholder("x");
  Node* n = g.call_function("mylib::fused", {x});
  CHECK(n->op() == fused);
  CHECK(n->arg("k") == Argument(3));
}

TEST_CASE("index_of tells apart names of one length and first character") {
  const OpSchema s = OpSchema::parse("mylib.op.default(Tensor abc, Tensor abd, Tensor x, int[2] ab, *, int a=1, int xbc=2) -> Tensor");
  CHECK(*s.index_of("abc") == 0);
  CHECK(*s.index_of("abd") == 1);
  CHECK(*s.index_of("ab") == 3);
  CHECK(*s.index_of("a") == 4);
  CHECK(*s.index_of("xbc") == 5);
  CHECK(*s.index_of("x") == 2);
  CHECK_FALSE(s.index_of("abe").has_value());
  CHECK_FALSE(s.index_of("").has_value());
  CHECK_FALSE(s.index_of("abcd").has_value());
}
