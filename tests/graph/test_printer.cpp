#include <doctest/doctest.h>

#include <sstream>

#include "graft/graph.hpp"
#include "support/graphs.hpp"

using namespace graft;

TEST_CASE("a graph prints like torch.fx's print(graph)") {
  test::ConvBnRelu m;
  m.g.set_kwarg(m.conv, "groups", 1);
  CHECK(to_string(m.g) ==
        "graph():\n"
        "    %x : [num_users=1] = placeholder[target=x]\n"
        "    %conv_weight : [num_users=1] = get_attr[target=conv.weight]\n"
        "    %conv_bias : [num_users=1] = get_attr[target=conv.bias]\n"
        "    %bn_weight : [num_users=1] = get_attr[target=bn.weight]\n"
        "    %bn_bias : [num_users=1] = get_attr[target=bn.bias]\n"
        "    %bn_running_mean : [num_users=1] = get_attr[target=bn.running_mean]\n"
        "    %bn_running_var : [num_users=1] = get_attr[target=bn.running_var]\n"
        "    %conv2d : [num_users=1] = call_function[target=torch.ops.aten.conv2d.default](args = "
        "(%x, %conv_weight, %conv_bias, [1, 1], [0, 0]), kwargs = {groups: 1})\n"
        "    %batch_norm : [num_users=1] = call_function[target=torch.ops.aten.batch_norm.default]("
        "args = (%conv2d, %bn_weight, %bn_bias, %bn_running_mean, %bn_running_var, True, 0.1, "
        "1e-05, False), kwargs = {})\n"
        "    %relu : [num_users=1] = call_function[target=torch.ops.aten.relu.default](args = "
        "(%batch_norm,), kwargs = {})\n"
        "    return (relu,)\n");
}

TEST_CASE("getitem, dtypes, strings and lists print as FX does") {
  Graph g;
  Node* x = g.placeholder("x");
  Node* bn = g.call_function("aten._native_batch_norm_legit_no_training.default",
                             {x, nullptr, nullptr, x, x, 0.1, 1e-3});
  Node* item = g.call_function("operator.getitem", {bn, 0});
  Node* q = g.call_function("quantized_decomposed.quantize_per_tensor.default",
                            {item, 0.5, 0, -128, 127, DType::int8});
  Node* c = g.call_function("aten.conv2d.padding", {q, x, nullptr, ints({1, 1}), "same"});
  g.output(list({c, item}));
  std::ostringstream os;
  os << g;
  CHECK(os.str() ==
        "graph():\n"
        "    %x : [num_users=2] = placeholder[target=x]\n"
        "    %_native_batch_norm_legit_no_training : [num_users=1] = call_function[target=torch.ops."
        "aten._native_batch_norm_legit_no_training.default](args = (%x, None, None, %x, %x, 0.1, "
        "0.001), kwargs = {})\n"
        "    %getitem : [num_users=2] = call_function[target=operator.getitem](args = "
        "(%_native_batch_norm_legit_no_training, 0), kwargs = {})\n"
        "    %quantize_per_tensor : [num_users=1] = call_function[target=torch.ops."
        "quantized_decomposed.quantize_per_tensor.default](args = (%getitem, 0.5, 0, -128, 127, "
        "torch.int8), kwargs = {})\n"
        "    %conv2d : [num_users=1] = call_function[target=torch.ops.aten.conv2d.padding](args = "
        "(%quantize_per_tensor, %x, None, [1, 1], same), kwargs = {})\n"
        "    return (conv2d, getitem)\n");
}

TEST_CASE("floats print as Python's repr") {
  CHECK(python_float_repr(0.1) == "0.1");
  CHECK(python_float_repr(1e-5) == "1e-05");
  CHECK(python_float_repr(1e-3) == "0.001");
  CHECK(python_float_repr(0.0001) == "0.0001");
  CHECK(python_float_repr(1.0) == "1.0");
  CHECK(python_float_repr(-2.5) == "-2.5");
  CHECK(python_float_repr(123456.0) == "123456.0");
  CHECK(python_float_repr(1e16) == "1e+16");
  CHECK(python_float_repr(1.5e300) == "1.5e+300");
  CHECK(python_float_repr(0.30000000000000004) == "0.30000000000000004");
  CHECK(python_float_repr(-0.0) == "-0.0");
  CHECK(python_float_repr(1.0 / 0.0) == "inf");
  CHECK(python_float_repr(std::numeric_limits<double>::quiet_NaN()) == "nan");
}

TEST_CASE("a single output node prints without a tuple") {
  Graph g;
  Node* x = g.placeholder("x");
  g.output(x);
  CHECK(to_string(g) == "graph():\n    %x : [num_users=1] = placeholder[target=x]\n    return x\n");
}
