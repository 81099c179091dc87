// The strong exception guarantee of prepare, quantize and convert, tested by injecting a failure
// (graft/fault.hpp: an out-of-memory-like std::bad_alloc) at every fault point each pass
// reaches, one run per point: node creation, a use added, metadata created, a tensor allocated
// (the weight fold's included), a tensor added to the module. After every failed run the module
// must be bit-identical to before (graph, meta, annotations, parameters and buffers) and pass
// lint(); the run without a fault must give the normal result.
// This program is built with GRAFT_FAULT_INJECTION (tests/fault/CMakeLists.txt).
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "graft/fault.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"
#include "graft/qat/weight_qdq.hpp"
#include "support/models.hpp"
#include "support/module_state.hpp"

#ifndef GRAFT_FAULT_INJECTION
#error "tests/fault must be built with GRAFT_FAULT_INJECTION"
#endif

namespace graft::test {
namespace {

// Every conv and BN spelling prepare and convert handle, with and without conv bias, a grouped
// transposed conv, non-default eps and momentum, a weight shared by two convs (copy on write),
// a BN counter, module-stack meta and quantization annotations to re-point.
Module mixed_model() {
  Builder t;
  Node* x2 = t.g.placeholder("x2");
  Node* x1 = t.g.placeholder("x1");
  Node* x3 = t.g.placeholder("x3");
  ConvSpec c2;
  c2.in = 3;
  c2.out = 4;
  Node* a = t.conv_bn(x2, c2, {}, "a");
  Node* relu = t.g.call_function("aten.relu.default", {a});
  ConvSpec c2b = c2;
  c2b.in = 4;
  c2b.bias = false;
  Node* b = t.conv_bn(relu, c2b, {"aten._native_batch_norm_legit.default", true, 0.03, 1e-3}, "b");
  // The second conv of the pair below reads b's weight: convert must copy it, not fold it twice.
  Node* shared_conv = t.conv(b, c2b, "s.conv");
  Node* b_weight = nullptr;
  for (Node* n : t.g.nodes())
    if (n->target() == "b.conv.weight") b_weight = n;
  REQUIRE(b_weight);
  t.g.set_arg(shared_conv, 1, b_weight);
  Node* s = t.g.call_function("aten.batch_norm.default",
                              {shared_conv, t.param("s.bn.weight", filled({4}, 0.5, 1.0)),
                               t.param("s.bn.bias", filled({4}, -0.3, 0.6)),
                               t.param("s.bn.running_mean", filled({4}, -0.1, 0.2), true),
                               t.param("s.bn.running_var", filled({4}, 0.7, 1.0), true), true, 0.1, 1e-5, false});
  Node* counter = t.param("s.bn.num_batches_tracked", Tensor(DType::int64, {}), true);
  t.g.call_function("aten.add_.Tensor", {counter, 1});
  ConvSpec ct;
  ct.op = "aten.conv_transpose2d.input";
  ct.in = 4;
  ct.out = 4;
  ct.groups = 2;
  Node* tr = t.conv_bn(s, ct, {"aten.native_batch_norm.default"}, "t");
  ConvSpec c1;
  c1.op = "aten.conv1d.default";
  c1.dims = 1;
  Node* one = t.conv_bn(x1, c1, {"aten._native_batch_norm_legit_no_training.default", false, 0.1, 1e-5}, "one");
  ConvSpec c3;
  c3.op = "aten.conv3d.default";
  c3.dims = 3;
  c3.kernel = 1;
  Node* three = t.conv_bn(x3, c3, {}, "three");
  Node* act = t.g.call_function("aten.hardtanh.default", {tr, 0.0, 6.0});
  t.g.output(list({act, one, three}));

  for (Node* n : t.g.nodes())
    if (n->target().find("conv") != std::string_view::npos && n->is_call_function()) {
      const std::string name(n->name());
      n->meta().nn_module_stack = std::vector<ModuleStackEntry>{{name, name, "torch.nn.Conv2d"}};
    }
  // The activation shares the BN output's qparams; the conv a's input and weight are annotated.
  QuantizationAnnotation qa;
  qa.input_qspec_map.emplace_back(tr, SharedQuantizationSpec{EdgeOrNode{tr, nullptr}});
  qa.output_qspec = SharedQuantizationSpec{EdgeOrNode{tr, act}};
  act->meta().quantization_annotation = qa;
  Node* conv_a = a->args()[0].as_node();
  QuantizationAnnotation ca;
  ca.input_qspec_map.emplace_back(x2, QuantizationSpec{});
  ca.input_qspec_map.emplace_back(conv_a->args()[1].as_node(), QuantizationSpec{});
  conv_a->meta().quantization_annotation = ca;
  t.m.lint();
  return std::move(t.m);
}

// The line where two states first differ, both versions.
std::string first_difference(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const std::size_t start = a.rfind('\n', i) == std::string::npos ? 0 : a.rfind('\n', i) + 1;
  auto line = [&](const std::string& s) { return s.substr(start, s.find('\n', start) - start); };
  return "\n  before: " + line(a) + "\n  after:  " + line(b);
}

struct FaultSweep {
  long runs = 0;                 // runs that failed at an injected fault
  std::set<std::string> points;  // the kinds of point that failed
};

// Runs `pass` on a copy of `before` once per fault point it reaches, failing at that point; each
// failed run must leave the copy bit-identical to `before` and lint-clean. The run that reaches
// no armed point must give `expected_after`. Returns what was injected.
FaultSweep sweep(const Module& before, std::size_t (*pass)(Module&), const std::string& expected_after) {
  const std::string original = state_of(before);
  FaultSweep out;
  for (long k = 0;; ++k) {
    Module m = before;
    bool failed = false;
    fault::arm(k);
    try {
      pass(m);
    } catch (const fault::InjectedFault& e) {
      failed = true;
      out.points.insert(e.what());
    }
    const long seen = fault::points_seen();
    fault::disarm();
    if (!failed) {
      CHECK_MESSAGE(seen <= k, "a fault point was reached but did not fail");
      CHECK(state_of(m) == expected_after);
      break;
    }
    ++out.runs;
    CAPTURE(k);
    CAPTURE(*out.points.rbegin());
    const std::string now = state_of(m);
    if (now != original) FAIL("the module changed; first difference at: ", first_difference(original, now));
    REQUIRE(m.lint_problems().empty());
    REQUIRE(k < 1'000'000);
  }
  return out;
}


// The passes, as the sweep runs them: no doctest assertion inside (one would catch the injected
// fault); `after` checks what they did.
std::size_t prepare(Module& m) { return qat::fuse_conv_bn_qat(m).total(); }
std::size_t quantize(Module& m) {
  qat::QuantizeSpec spec;
  spec.per_channel = true;
  spec.quantize_bias = true;
  return static_cast<std::size_t>(qat::insert_weight_qdq(m, spec));
}
std::size_t convert(Module& m) { return qat::fold_conv_bn_qat(m).total(); }

// The state after running `pass` without faults, which must act on all six pairs.
std::string after(Module m, std::size_t (*pass)(Module&)) {
  REQUIRE(pass(m) == 6);
  m.lint();
  return state_of(m);
}

}  // namespace

TEST_CASE("prepare leaves the module bit-identical when any allocation in it fails") {
  const Module m = mixed_model();
  const FaultSweep s = sweep(m, prepare, after(m, prepare));
  MESSAGE("prepare: ", s.runs, " injected failures");
  CHECK(s.runs > 100);
  CHECK(s.points.count("graph: node created") == 1);
  CHECK(s.points.count("graph: use added") == 1);
  CHECK(s.points.count("node: metadata created") == 1);
}

TEST_CASE("inserting weight q/dq leaves the module bit-identical when any allocation in it fails") {
  Module m = mixed_model();
  REQUIRE(prepare(m) == 6);
  const FaultSweep s = sweep(m, quantize, after(m, quantize));
  MESSAGE("quantize: ", s.runs, " injected failures");
  CHECK(s.runs > 50);
  CHECK(s.points.count("module: tensor added") == 1);
  CHECK(s.points.count("tensor: allocation") == 1);
}

TEST_CASE("convert leaves the module bit-identical when any allocation in it fails, weight folding included") {
  Module m = mixed_model();
  REQUIRE(prepare(m) == 6);
  REQUIRE(quantize(m) == 6);
  const FaultSweep s = sweep(m, convert, after(m, convert));
  MESSAGE("convert: ", s.runs, " injected failures");
  CHECK(s.runs > 20);
  // Failures inside the fold math (the folded tensors' allocations) and while adding the new and
  // copied-on-write parameters: the parameters must be unchanged after each.
  CHECK(s.points.count("tensor: allocation") == 1);
  CHECK(s.points.count("module: tensor added") == 1);
  CHECK(s.points.count("graph: node created") == 1);
}

TEST_CASE("a fault point fails once: the pass succeeds when it is run again") {
  Module m = mixed_model();
  fault::arm(0);
  CHECK_THROWS_AS(prepare(m), fault::InjectedFault);
  // disarmed by the throw: the same call now succeeds
  CHECK(prepare(m) == 6);
  CHECK(fault::points_seen() > 1);
  fault::disarm();
}

}  // namespace graft::test
