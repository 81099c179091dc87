// BN folding (fuse_conv_bn_weights semantics) against the fold goldens, including grouped
// conv-transpose where graft is right and PyTorch's function is not.
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include "golden.hpp"
#include "graft/tensor/batch_norm.hpp"
#include "graft/tensor/conv.hpp"
#include "graft/tensor/fold.hpp"

namespace {

graft::kernels::FoldedConvBn fold_golden(const golden::Case& c) {
  return graft::kernels::fold_conv_bn_weights(c["weight"], c.find("bias"), c["running_mean"], c["running_var"],
                                              c.params.at("eps").get<double>(), &c["bn_weight"], &c["bn_bias"],
                                              c.params.at("transposed").get<bool>(),
                                              c.params.at("groups").get<std::int64_t>());
}

}  // namespace

TEST_CASE("fold: folded weight and bias match fuse_conv_bn_weights (float64 reference for float32)") {
  auto cases = golden::load_all("fold_");
  CHECK(cases.size() == 22);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto f = fold_golden(c);
    if (c.f64()) {
      CHECK(golden::rel_err(f.weight, c["fused_weight"]) < 1e-14);
      CHECK(golden::rel_err(f.bias, c["fused_bias"]) < 1e-14);
    } else {
      // Computed in double and rounded once: within float32 rounding of the float64 reference.
      CHECK(golden::rel_err(f.weight, c["fused_weight_f64"]) < 1e-7);
      CHECK(golden::rel_err(f.bias, c["fused_bias_f64"]) < 1e-7);
      CHECK(golden::rel_err(f.weight, c["fused_weight"]) < 1e-6);
    }
  }
}

TEST_CASE("fold: grouped and depthwise conv-transpose scale per absolute output channel") {
  int n = 0;
  for (const auto& c : golden::load_all("fold_conv_transpose")) {
    if (c.params.at("groups").get<std::int64_t>() == 1) continue;
    ++n;
    CAPTURE(c.name);
    CHECK(c.params.at("method").get<std::string>().find("hand-computed") != std::string::npos);
    auto f = fold_golden(c);
    CHECK(f.weight.shape() == c["weight"].shape());
    CHECK(golden::rel_err(f.weight, c["fused_weight"]) < (c.f64() ? 1e-14 : 1e-7));
  }
  CHECK(n == 7);
}

TEST_CASE("fold: conv with the folded parameters reproduces conv -> batch_norm(eval)") {
  for (const auto& c : golden::load_all("fold_")) {
    CAPTURE(c.name);
    auto f = fold_golden(c);
    graft::Tensor y = graft::kernels::convolution(c["input"], f.weight, &f.bias, golden::conv_params(c));
    CHECK(golden::rel_err(y, c["reference_output"]) < golden::tol(c) * (c.f64() ? 100 : 1));
    // And graft's own conv -> BN chain agrees with it.
    graft::Tensor conv = graft::kernels::convolution(c["input"], c["weight"], c.find("bias"), golden::conv_params(c));
    graft::Tensor rm = c["running_mean"], rv = c["running_var"];
    auto bn = graft::kernels::batch_norm(conv, &c["bn_weight"], &c["bn_bias"], &rm, &rv, false, 0.1,
                                         c.params.at("eps").get<double>());
    CHECK(golden::rel_err(y, bn.output) < golden::tol(c) * (c.f64() ? 100 : 1));
  }
}

TEST_CASE("fold: negative gamma folds exactly per channel") {
  auto c = golden::load("fold_conv2d");
  CHECK(c["bn_weight"].data<float>()[1] < 0);
  auto f = fold_golden(c);
  const auto w = golden::as_doubles(c["weight"]);
  const auto fw = golden::as_doubles(f.weight);
  const std::size_t row = w.size() / static_cast<std::size_t>(c["weight"].shape()[0]);
  const double s1 = static_cast<double>(c["bn_weight"].data<float>()[1]) /
                    std::sqrt(static_cast<double>(c["running_var"].data<float>()[1]) + c.params.at("eps").get<double>());
  for (std::size_t k = 0; k < row; ++k) CHECK(fw[row + k] == static_cast<double>(static_cast<float>(w[row + k] * s1)));
}

TEST_CASE("fold: missing conv bias, gamma and beta mean 0, 1 and 0") {
  graft::Tensor w = graft::Tensor::from<float>({1, 2, 3, 4}, {2, 2, 1});
  graft::Tensor rm = graft::Tensor::from<float>({0.5f, -1.0f}, {2});
  graft::Tensor rv = graft::Tensor::from<float>({3.0f, 0.0f}, {2});
  auto f = graft::kernels::fold_conv_bn_weights(w, nullptr, rm, rv, 1.0, nullptr, nullptr);
  // s = 1/sqrt(var + 1) = 0.5, 1
  CHECK(f.weight == graft::Tensor::from<float>({0.5f, 1.0f, 3.0f, 4.0f}, {2, 2, 1}));
  CHECK(f.bias == graft::Tensor::from<float>({-0.25f, 1.0f}, {2}));
}

TEST_CASE("fold: negative or NaN running variance is an error naming the channel") {
  graft::Tensor w(graft::DType::float32, {3, 1, 1});
  graft::Tensor rm(graft::DType::float32, {3});
  graft::Tensor rv = graft::Tensor::from<float>({1.0f, 1.0f, -0.5f}, {3});
  CHECK_THROWS_WITH_AS(graft::kernels::fold_conv_bn_weights(w, nullptr, rm, rv, 1e-5, nullptr, nullptr),
                       doctest::Contains("running_var of channel 2 is -0.5"), graft::TensorError);
  graft::Tensor rvn = graft::Tensor::from<float>({1.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f}, {3});
  CHECK_THROWS_WITH_AS(graft::kernels::fold_conv_bn_weights(w, nullptr, rm, rvn, 1e-5, nullptr, nullptr),
                       doctest::Contains("running_var of channel 1 is nan"), graft::TensorError);
}

TEST_CASE("fold: var + eps <= 0 (zero variance with eps 0) is an error naming the channel") {
  graft::Tensor w(graft::DType::float64, {2, 1, 1});
  graft::Tensor rm(graft::DType::float64, {2});
  graft::Tensor rv = graft::Tensor::from<double>({1.0, 0.0}, {2});
  CHECK_THROWS_WITH_AS(graft::kernels::fold_conv_bn_weights(w, nullptr, rm, rv, 0.0, nullptr, nullptr),
                       doctest::Contains("running_var + eps of channel 1 is 0"), graft::TensorError);
}

TEST_CASE("fold: a grouped conv-transpose weight keeps its [C_in, C_out/groups, k] shape (PyTorch breaks it)") {
  // depthwise transpose: C_in = C_out = groups = 4, weight [4, 1, 3, 3]; PyTorch returns [4, 4, 3, 3].
  auto c = golden::load("fold_conv_transpose2d_depthwise");
  CHECK(c.params.at("torch_fuse_conv_bn_weights_behaviour").get<std::string>().size() > 0);
  auto f = fold_golden(c);
  CHECK(f.weight.shape() == graft::Shape{4, 1, 3, 3});
}

TEST_CASE("fold: shape mismatches between weight and BN vectors are errors") {
  graft::Tensor w(graft::DType::float32, {4, 2, 3, 3});
  graft::Tensor v3(graft::DType::float32, {3});
  CHECK_THROWS_WITH_AS(graft::kernels::fold_conv_bn_weights(w, nullptr, v3, v3, 1e-5, nullptr, nullptr),
                       doctest::Contains("running_var of shape [3] does not fit 4 output channels"), graft::TensorError);
}
