// fuse_conv_bn_qat keeps the model's numbers: the interpreter gives the same outputs and the same
// running statistics after a training step before and after the rewrite (float64: 1e-12
// relative, float32: 1e-5), for every conv spelling, bias variant, BN spelling, and non-default
// eps and momentum.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "graft/exec/interpreter.hpp"
#include "graft/graph.hpp"
#include "graft/qat/prepare.hpp"
#include "support/models.hpp"

using namespace graft;
using graft::test::BnSpec;
using graft::test::Builder;
using graft::test::ConvSpec;
using graft::test::input_for;
using graft::test::relative_error;

namespace {



Builder single(const ConvSpec& c, const BnSpec& b, DType dtype) {
  Builder t(dtype);
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, c, b, "m");
  t.g.output(t.g.call_function("aten.relu.default", {y}));
  return t;
}


// Runs the original and the fused module in `mode` on the same input and compares outputs and
// (after training) the running statistics.
void check_same_numbers(const ConvSpec& c, const BnSpec& b, DType dtype, graft::ExecMode mode) {
  Builder original = single(c, b, dtype);
  Module fused = original.m;
  auto report = qat::fuse_conv_bn_qat(fused);
  REQUIRE(report.total() == 1);
  fused.lint();
  const Tensor x = input_for(c, dtype);
  const double tol = dtype == DType::float64 ? 1e-12 : 1e-5;
  auto expected = run_module(original.m, {x}, mode);
  auto got = run_module(fused, {x}, mode);
  REQUIRE(expected.size() == 1);
  REQUIRE(got.size() == 1);
  CHECK(relative_error(got[0], expected[0]) <= tol);
  for (const char* stat : {"m.bn.running_mean", "m.bn.running_var"})
    CHECK_MESSAGE(relative_error(fused.buffers.at(stat), original.m.buffers.at(stat)) <= tol, stat);
}

}  // namespace

TEST_CASE("fused conv-bn gives the same outputs and running statistics in training, every conv op") {
  struct Op {
    const char* name;
    std::int64_t dims;
    bool transposed;
  } ops[] = {{"aten.conv1d.default", 1, false},          {"aten.conv2d.default", 2, false},
             {"aten.conv3d.default", 3, false},          {"aten.conv_transpose1d.default", 1, true},
             {"aten.conv_transpose2d.input", 2, true},   {"aten.conv_transpose3d.input", 3, true},
             {"aten.convolution.default", 2, false},     {"aten.convolution.default", 2, true}};
  for (const auto& op : ops)
    for (bool bias : {true, false})
      for (DType dtype : {DType::float64, DType::float32}) {
        ConvSpec c;
        c.op = op.name;
        c.dims = op.dims;
        c.transposed = op.transposed;
        c.in = 3;
        c.out = 5;
        c.bias = bias;
        INFO(op.name, " transposed=", op.transposed, " bias=", bias, " ", dtype_name(dtype));
        check_same_numbers(c, {}, dtype, ExecMode::train);
      }
}

TEST_CASE("fused conv-bn keeps numbers with eps 1e-3 and momentum 0.03") {
  BnSpec b;
  b.eps = 1e-3;
  b.momentum = 0.03;
  for (DType dtype : {DType::float64, DType::float32}) check_same_numbers({}, b, dtype, ExecMode::train);
}

TEST_CASE("fused conv-bn keeps numbers in eval mode") {
  BnSpec b;
  b.eps = 1e-3;
  check_same_numbers({}, b, DType::float64, ExecMode::eval);
}

TEST_CASE("fused conv-bn keeps numbers for every batch norm spelling") {
  for (const char* spelling : {"aten._native_batch_norm_legit.default", "aten.native_batch_norm.default"}) {
    BnSpec b;
    b.op = spelling;
    INFO(spelling);
    check_same_numbers({}, b, DType::float64, ExecMode::train);
  }
  BnSpec eval;
  eval.op = "aten._native_batch_norm_legit_no_training.default";
  check_same_numbers({}, eval, DType::float64, ExecMode::as_graph);
}

TEST_CASE("fused grouped and depthwise convs keep numbers, transposed included") {
  for (const char* op : {"aten.conv2d.default", "aten.conv_transpose2d.input"}) {
    ConvSpec grouped;
    grouped.op = op;
    grouped.in = 4;
    grouped.out = 6;
    grouped.groups = 2;
    INFO(op, " grouped");
    check_same_numbers(grouped, {}, DType::float64, ExecMode::train);
    ConvSpec depthwise;
    depthwise.op = op;
    depthwise.in = 4;
    depthwise.out = 8;  // channel multiplier 2
    depthwise.groups = 4;
    INFO(op, " depthwise x2");
    check_same_numbers(depthwise, {}, DType::float64, ExecMode::train);
  }
}

TEST_CASE("fused conv-bn with a negative batch norm weight keeps numbers") {
  Builder original = single({}, {}, DType::float64);
  original.m.parameters.at("m.bn.weight").data<double>()[1] = -0.75;
  Module fused = original.m;
  REQUIRE(qat::fuse_conv_bn_qat(fused).total() == 1);
  const Tensor x = input_for({}, DType::float64);
  auto expected = run_module(original.m, {x}, ExecMode::train);
  auto got = run_module(fused, {x}, ExecMode::train);
  CHECK(relative_error(got[0], expected[0]) <= 1e-12);
}

namespace {
// Fuses a copy of `original` (expecting `pairs` conv-bn pairs) and compares eval outputs.
void check_network(const Module& original, std::size_t pairs) {
  Module reference = original;
  Module fused = original;
  REQUIRE(qat::fuse_conv_bn_qat(fused).total() == pairs);
  const Tensor x = test::filled({1, 3, 32, 32}, -1.0, 2.0);
  auto expected = run_module(reference, {x}, ExecMode::eval);
  auto got = run_module(fused, {x}, ExecMode::eval);
  CHECK(relative_error(got[0], expected[0]) <= 1e-5);
}
}  // namespace

TEST_CASE("a fused ResNet-18-shaped network gives the same outputs") { check_network(test::resnet18_shaped(16), 20); }

TEST_CASE("a fused MobileNetV2-shaped network gives the same outputs") {
  check_network(test::mobilenet_v2_shaped(8), 52);
}
