// Batch norm against nn.BatchNorm{1,2,3}d goldens: outputs and running-statistics updates.
#include <doctest/doctest.h>

#include "golden.hpp"
#include "graft/tensor/batch_norm.hpp"

namespace {

struct BnRun {
  graft::kernels::BatchNormResult r;
  graft::Tensor running_mean, running_var;
};

BnRun run_golden_bn(const golden::Case& c) {
  BnRun out{{}, c["running_mean"], c["running_var"]};
  out.r = graft::kernels::batch_norm(c["input"], &c["bn_weight"], &c["bn_bias"], &out.running_mean, &out.running_var,
                                     c.params.at("training").get<bool>(),
                                     c.params.at("exponential_average_factor").get<double>(), c.params.at("eps").get<double>());
  return out;
}

}  // namespace

TEST_CASE("batch_norm: training-mode outputs (biased batch variance) match PyTorch") {
  int n = 0;
  for (const auto& c : golden::load_all("bn_")) {
    if (!c.params.at("training").get<bool>()) continue;
    ++n;
    CAPTURE(c.name);
    BnRun b = run_golden_bn(c);
    CHECK(golden::rel_err(b.r.output, c["output"]) < golden::tol(c));
    CHECK(golden::rel_err(b.r.save_mean, c["batch_mean"]) < golden::tol(c));
  }
  CHECK(n == 11);
}

TEST_CASE("batch_norm: training updates running mean and the unbiased running variance with momentum") {
  for (const auto& c : golden::load_all("bn_")) {
    if (!c.params.at("training").get<bool>()) continue;
    CAPTURE(c.name);
    BnRun b = run_golden_bn(c);
    CHECK(golden::rel_err(b.running_mean, c["running_mean_after"]) < golden::tol(c));
    CHECK(golden::rel_err(b.running_var, c["running_var_after"]) < golden::tol(c));
  }
}

TEST_CASE("batch_norm: eval mode uses and keeps the running statistics") {
  int n = 0;
  for (const auto& c : golden::load_all("bn_")) {
    if (c.params.at("training").get<bool>()) continue;
    ++n;
    CAPTURE(c.name);
    BnRun b = run_golden_bn(c);
    CHECK(golden::rel_err(b.r.output, c["output"]) < golden::tol(c));
    CHECK(b.running_mean == c["running_mean"]);
    CHECK(b.running_var == c["running_var"]);
    CHECK(b.r.save_mean.numel() == 0);
  }
  CHECK(n == 5);
}

TEST_CASE("batch_norm: the cumulative-average factor 1/(num_batches_tracked+1) reproduces momentum=None") {
  auto c = golden::load("bn_input4d_train_cumavg");
  CHECK(c.params.at("momentum").is_null());
  const auto nbt = c["num_batches_tracked"].data<std::int64_t>()[0];
  CHECK(c.params.at("exponential_average_factor").get<double>() == doctest::Approx(1.0 / static_cast<double>(nbt + 1)));
  BnRun b = run_golden_bn(c);
  CHECK(golden::rel_err(b.running_var, c["running_var_after"]) < 1e-5);
}

TEST_CASE("batch_norm: missing gamma/beta mean 1/0 and bad shapes are errors") {
  auto c = golden::load("bn_input4d_eval");
  graft::Tensor rm = c["running_mean"], rv = c["running_var"];
  auto plain = graft::kernels::batch_norm(c["input"], nullptr, nullptr, &rm, &rv, false, 0.1, 1e-5);
  graft::Tensor ones = graft::kernels::ones_like(c["bn_weight"]);
  graft::Tensor zeros = graft::kernels::zeros_like(c["bn_bias"]);
  auto explicit_affine = graft::kernels::batch_norm(c["input"], &ones, &zeros, &rm, &rv, false, 0.1, 1e-5);
  CHECK(plain.output == explicit_affine.output);
  graft::Tensor short_w(graft::DType::float32, {2});
  CHECK_THROWS_WITH_AS(graft::kernels::batch_norm(c["input"], &short_w, nullptr, &rm, &rv, false, 0.1, 1e-5),
                       doctest::Contains("weight of shape [2] does not fit 5 channels"), graft::TensorError);
  graft::Tensor one(graft::DType::float32, {1, 5});
  CHECK_THROWS_WITH_AS(graft::kernels::batch_norm(one, nullptr, nullptr, &rm, &rv, true, 0.1, 1e-5),
                       doctest::Contains("more than 1 value per channel"), graft::TensorError);
}
