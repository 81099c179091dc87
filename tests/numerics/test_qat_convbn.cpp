// nn.intrinsic.qat.ConvBn{1,2,3}d forward goldens: the simulated fold, the weight fake-quant, and
// the whole PT2E-style graph run by the interpreter in training and eval mode.
#include <algorithm>
#include <cmath>

#include <doctest/doctest.h>

#include "convbn_graph.hpp"
#include "golden.hpp"
#include "graft/exec/interpreter.hpp"
#include "graft/tensor/batch_norm.hpp"
#include "graft/tensor/conv.hpp"
#include "graft/tensor/ops.hpp"
#include "graft/tensor/quantize.hpp"

namespace {

namespace k = graft::kernels;
using graft::Tensor;

bool per_channel(const golden::Case& c) { return c.params.at("weight_qscheme").get<std::string>() == "per_channel_symmetric"; }

Tensor channel_shaped(const Tensor& v, std::int64_t nd, bool out_axis_first) {
  return k::reshape(v, convbn::shape_with(nd, out_axis_first));
}

// scaled_weight = weight * (gamma / sqrt(running_var + eps)), all in float32 as PyTorch does.
Tensor scaled_weight(const golden::Case& c, const Tensor& running_var) {
  const auto nd = c.params.at("spatial_dims").get<std::int64_t>();
  Tensor std_ = k::sqrt(k::add(running_var, k::scalar_tensor(running_var, c.params.at("eps").get<double>())));
  Tensor sf = k::div(c["bn_weight"], std_);
  return k::mul(c["weight"], channel_shaped(sf, nd, true));
}

Tensor fake_quant(const golden::Case& c, const Tensor& sw) {
  if (per_channel(c)) return k::fake_quantize_per_channel(sw, c["weight_fq_scale"], c["weight_fq_zero_point"], 0, -128, 127);
  return k::fake_quantize_per_tensor(sw, k::item(c["weight_fq_scale"]),
                                     static_cast<std::int64_t>(k::item(c["weight_fq_zero_point"])), -128, 127);
}

std::vector<golden::Case> approximate_cases() {
  std::vector<golden::Case> out;
  for (auto& c : golden::load_all("qat_convbn"))
    if (c.params.at("forward_path").get<std::string>() == "approximate") out.push_back(std::move(c));
  return out;
}

}  // namespace

TEST_CASE("qat_convbn: the scaled weight equals PyTorch's bit for bit") {
  auto cases = approximate_cases();
  CHECK(cases.size() == 13);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(scaled_weight(c, c["running_var"]) == c["scaled_weight"]);
  }
}

TEST_CASE("qat_convbn: a fresh symmetric observer's scale and the weight fake-quant match PyTorch exactly") {
  for (const auto& c : approximate_cases()) {
    CAPTURE(c.name);
    const Tensor& sw = c["scaled_weight"];
    if (c.params.at("observer_state").get<std::string>() == "fresh_enabled") {
      const Tensor& scale = c["weight_fq_scale"];
      const auto rows = static_cast<std::size_t>(per_channel(c) ? sw.shape()[0] : 1);
      const std::size_t row = sw.numel() / rows;
      for (std::size_t r = 0; r < rows; ++r) {
        const float* p = sw.data<float>() + r * row;
        const float lo = *std::min_element(p, p + row), hi = *std::max_element(p, p + row);
        CHECK(k::symmetric_scale(lo, hi, -128, 127) == scale.data<float>()[r]);
        CHECK(lo == c["observer_min_val"].data<float>()[r]);
        CHECK(hi == c["observer_max_val"].data<float>()[r]);
      }
    }
    CHECK(fake_quant(c, sw) == c["fq_weight"]);
  }
}

TEST_CASE("qat_convbn: kernels reproduce the approximate forward and the running-stat update") {
  for (const auto& c : approximate_cases()) {
    CAPTURE(c.name);
    const auto nd = c.params.at("spatial_dims").get<std::int64_t>();
    Tensor std_ = k::sqrt(k::add(c["running_var"], k::scalar_tensor(c["running_var"], c.params.at("eps").get<double>())));
    Tensor sf = k::div(c["bn_weight"], std_);
    Tensor conv = k::convolution(c["input"], c["fq_weight"], nullptr, golden::conv_params(c));
    Tensor orig = k::div(conv, channel_shaped(sf, nd, false));
    if (c.find("bias")) orig = k::add(orig, channel_shaped(c["bias"], nd, false));
    Tensor rm = c["running_mean"], rv = c["running_var"];
    auto bn = k::batch_norm(orig, &c["bn_weight"], &c["bn_bias"], &rm, &rv, c.params.at("training").get<bool>(),
                            c.params.at("momentum").get<double>(), c.params.at("eps").get<double>());
    CHECK(golden::rel_err(bn.output, c["output"]) < 1e-5);
    CHECK(golden::rel_err(rm, c["running_mean_after"]) < 1e-5);
    CHECK(golden::rel_err(rv, c["running_var_after"]) < 1e-5);
  }
}

TEST_CASE("qat_convbn: the slow path (stats from the unquantized conv, scale from the updated var) matches") {
  auto c = golden::load("qat_convbn2d_per_channel_train_slow_path");
  REQUIRE(c.params.at("forward_path").get<std::string>() == "slow");
  const auto nd = c.params.at("spatial_dims").get<std::int64_t>();
  const double eps = c.params.at("eps").get<double>();
  Tensor conv_out = k::convolution(c["input"], c["weight"], nullptr, golden::conv_params(c));
  Tensor stats_src = k::add(conv_out, channel_shaped(c["bias"], nd, false));
  Tensor rm = c["running_mean"], rv = c["running_var"];
  k::batch_norm(stats_src, nullptr, nullptr, &rm, &rv, true, c.params.at("momentum").get<double>(), eps);
  CHECK(golden::rel_err(rm, c["running_mean_after"]) < 1e-5);
  CHECK(golden::rel_err(rv, c["running_var_after"]) < 1e-5);
  CHECK(golden::rel_err(scaled_weight(c, c["running_var_after"]), c["scaled_weight"]) < 1e-6);
  Tensor conv_q = k::convolution(c["input"], c["fq_weight"], nullptr, golden::conv_params(c));
  auto stats = k::batch_norm(conv_out, nullptr, nullptr, nullptr, nullptr, true, 0.0, eps);  // batch mean / invstd
  Tensor running_std = k::sqrt(k::add(c["running_var_after"], k::scalar_tensor(rm, eps)));
  Tensor ratio = k::mul(running_std, stats.save_invstd);  // running_std / batch_std
  Tensor shift = k::sub(c["bn_bias"], k::mul(k::mul(c["bn_weight"], stats.save_mean), stats.save_invstd));
  Tensor y = k::add(k::mul(conv_q, channel_shaped(ratio, nd, false)), channel_shaped(shift, nd, false));
  CHECK(golden::rel_err(y, c["output"]) < 1e-5);
}

TEST_CASE("qat_convbn: the interpreter runs the fused QAT graph and updates the module's BN buffers") {
  for (const auto& c : approximate_cases()) {
    CAPTURE(c.name);
    convbn::Options o;
    o.qat = true;
    o.per_channel = per_channel(c);
    o.training = c.params.at("training").get<bool>();
    graft::Module m = convbn::build(c, o);
    auto out = graft::run_module(m, {c["input"]});
    REQUIRE(out.size() == 1);
    CHECK(golden::rel_err(out[0], c["output"]) < 1e-5);
    CHECK(golden::rel_err(m.buffers.at("bn.running_mean"), c["running_mean_after"]) < 1e-5);
    CHECK(golden::rel_err(m.buffers.at("bn.running_var"), c["running_var_after"]) < 1e-5);
    CHECK(m.buffers.at("bn.num_batches_tracked") == c["num_batches_tracked_after"]);
  }
}
