// Elementwise, broadcasting, shape, pooling and linear-algebra kernels on hand-computed values.
#include <cmath>
#include <cstdint>
#include <limits>

#include <doctest/doctest.h>

#include "graft/tensor/ops.hpp"
#include "graft/tensor/pool.hpp"

namespace {
namespace k = graft::kernels;
using graft::DType;
using graft::Tensor;
}  // namespace

TEST_CASE("ops: binary ops broadcast like PyTorch (row, column, scalar and 0-d operands)") {
  Tensor a = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = Tensor::from<float>({10, 20, 30}, {3});
  Tensor col = Tensor::from<float>({100, 200}, {2, 1});
  CHECK(k::add(a, row) == Tensor::from<float>({11, 22, 33, 14, 25, 36}, {2, 3}));
  CHECK(k::sub(a, col, 0.5) == Tensor::from<float>({-49, -48, -47, -96, -95, -94}, {2, 3}));
  CHECK(k::mul(col, row) == Tensor::from<float>({1000, 2000, 3000, 2000, 4000, 6000}, {2, 3}));
  CHECK(k::div(a, k::scalar_tensor(a, 2.0)) == Tensor::from<float>({0.5f, 1, 1.5f, 2, 2.5f, 3}, {2, 3}));
  Tensor b3 = Tensor::from<double>({1, 2}, {2, 1, 1});
  Tensor c3 = Tensor::from<double>({1, 2, 3}, {1, 3, 1});
  Tensor r3 = k::add(b3, c3);
  CHECK(r3.shape() == graft::Shape{2, 3, 1});
  CHECK(r3 == Tensor::from<double>({2, 3, 4, 3, 4, 5}, {2, 3, 1}));
}

TEST_CASE("ops: integer tensors add int scalars in their own dtype, and divide to float32") {
  Tensor n = Tensor::from<std::int64_t>({5}, {});
  CHECK(k::add(n, k::scalar_tensor(n, 1, false)) == Tensor::from<std::int64_t>({6}, {}));
  Tensor i = Tensor::from<std::int32_t>({3, 4}, {2});
  CHECK(k::div(i, k::scalar_tensor(i, 2, false)) == Tensor::from<float>({1.5f, 2}, {2}));
  CHECK(k::mul(i, k::scalar_tensor(i, 0.5, true)).dtype() == DType::float32);
}

TEST_CASE("ops: mismatched shapes and dtypes are errors naming both") {
  Tensor a(DType::float32, {2, 3}), b(DType::float32, {2}), d(DType::float64, {2, 3});
  CHECK_THROWS_WITH_AS(k::add(a, b), doctest::Contains("shapes [2, 3] and [2] do not broadcast"), graft::TensorError);
  CHECK_THROWS_WITH_AS(k::mul(a, d), doctest::Contains("dtype mismatch, float32 [2, 3] vs float64 [2, 3]"), graft::TensorError);
}

TEST_CASE("ops: activations follow PyTorch's definitions") {
  Tensor x = Tensor::from<float>({-4, -1, 0, 1, 4}, {5});
  CHECK(k::relu(x) == Tensor::from<float>({0, 0, 0, 1, 4}, {5}));
  CHECK(k::hardtanh(x, 0, 6) == Tensor::from<float>({0, 0, 0, 1, 4}, {5}));
  CHECK(k::hardtanh(x) == Tensor::from<float>({-1, -1, 0, 1, 1}, {5}));
  CHECK(k::hardswish(x) == Tensor::from<float>({-0.0f, -1.0f * 2 / 6, 0, 1.0f * 4 / 6, 4}, {5}));
  CHECK(k::hardsigmoid(x) == Tensor::from<float>({0, 2.0f / 6, 0.5f, 4.0f / 6, 1}, {5}));
  Tensor s = k::sigmoid(x), si = k::silu(x);
  for (int i = 0; i < 5; ++i) {
    const double v = x.data<float>()[i];
    CHECK(s.data<float>()[i] == doctest::Approx(1 / (1 + std::exp(-v))).epsilon(1e-6));
    CHECK(si.data<float>()[i] == doctest::Approx(v / (1 + std::exp(-v))).epsilon(1e-6));
  }
  Tensor q = Tensor::from<double>({4, 0.25}, {2});
  CHECK(k::sqrt(q) == Tensor::from<double>({2, 0.5}, {2}));
  CHECK(k::rsqrt(q) == Tensor::from<double>({0.5, 2}, {2}));
}

TEST_CASE("ops: reshape infers -1, flatten merges a dimension range, t transposes") {
  Tensor a = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  CHECK(k::reshape(a, {3, -1}).shape() == graft::Shape{3, 2});
  CHECK_THROWS_WITH_AS(k::reshape(a, {4, -1}), doctest::Contains("cannot reshape a tensor of shape [1, 2, 3] to [4, -1]"),
                       graft::TensorError);
  CHECK(k::flatten(a, 1).shape() == graft::Shape{1, 6});
  CHECK(k::flatten(a, 0, 1).shape() == graft::Shape{2, 3});
  CHECK(k::t(k::reshape(a, {2, 3})) == Tensor::from<float>({1, 4, 2, 5, 3, 6}, {3, 2}));
}

TEST_CASE("ops: cat joins along any dimension and checks the others") {
  Tensor a = Tensor::from<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from<float>({5, 6}, {2, 1});
  CHECK(k::cat({&a, &b}, 1) == Tensor::from<float>({1, 2, 5, 3, 4, 6}, {2, 3}));
  CHECK(k::cat({&a, &a}, 0).shape() == graft::Shape{4, 2});
  CHECK_THROWS_WITH_AS(k::cat({&a, &b}, 0), doctest::Contains("does not match tensor 0"), graft::TensorError);
}

TEST_CASE("ops: mean over dims with and without keepdim") {
  Tensor a = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  CHECK(k::mean_dim(a, {-1}) == Tensor::from<float>({2, 5}, {1, 2}));
  CHECK(k::mean_dim(a, {1, 2}, true) == Tensor::from<float>({3.5f}, {1, 1, 1}));
}

TEST_CASE("ops: linear, mm and addmm use Eigen's GEMM with PyTorch's layouts") {
  Tensor x = Tensor::from<double>({1, 2, 3, 4}, {2, 2});
  Tensor w = Tensor::from<double>({1, 0, 1, 1, 0, 2}, {3, 2});
  Tensor b = Tensor::from<double>({0, 1, 2}, {3});
  CHECK(k::linear(x, w, &b) == Tensor::from<double>({1, 4, 6, 3, 8, 10}, {2, 3}));
  CHECK(k::mm(x, x) == Tensor::from<double>({7, 10, 15, 22}, {2, 2}));
  CHECK(k::addmm(x, x, x, 0.5, 2) == Tensor::from<double>({14.5, 21, 31.5, 46}, {2, 2}));
}

TEST_CASE("ops: max_pool2d and avg_pool2d with padding, stride and ceil_mode") {
  Tensor x = Tensor::from<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  k::Pool2dParams p;
  p.kernel_size = {2};
  p.stride = {2};
  CHECK(k::max_pool2d(x, p) == Tensor::from<float>({5}, {1, 1, 1, 1}));
  p.ceil_mode = true;
  CHECK(k::max_pool2d(x, p) == Tensor::from<float>({5, 6, 8, 9}, {1, 1, 2, 2}));
  // avg with ceil_mode: the last windows are clipped to the input (divisor counts only inside)
  CHECK(k::avg_pool2d(x, p) == Tensor::from<float>({3, 4.5f, 7.5f, 9}, {1, 1, 2, 2}));
  k::Pool2dParams q;
  q.kernel_size = {3};
  q.stride = {1};
  q.padding = {1};
  Tensor avg = k::avg_pool2d(x, q, true);  // count_include_pad: corner = (1+2+4+5)/9
  CHECK(avg.data<float>()[0] == doctest::Approx(12.0 / 9));
  Tensor avg2 = k::avg_pool2d(x, q, false);  // corner = (1+2+4+5)/4
  CHECK(avg2.data<float>()[0] == doctest::Approx(3.0));
  CHECK(k::max_pool2d(x, q).data<float>()[0] == 5);
}

TEST_CASE("ops: adaptive_avg_pool2d splits uneven inputs into overlapping windows") {
  Tensor x = Tensor::from<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3});
  CHECK(k::adaptive_avg_pool2d(x, 1, 1) == Tensor::from<float>({5}, {1, 1, 1}));
  // 3 -> 2: windows [0, 2) and [1, 3)
  CHECK(k::adaptive_avg_pool2d(x, 2, 2) == Tensor::from<float>({3, 4, 6, 7}, {1, 2, 2}));
}

TEST_CASE("ops: zeros_like and ones_like keep shape and dtype") {
  Tensor a(DType::int32, {2, 2});
  CHECK(k::ones_like(a) == Tensor::from<std::int32_t>({1, 1, 1, 1}, {2, 2}));
  CHECK(k::zeros_like(Tensor::full<double>({3}, 7.0)) == Tensor(DType::float64, {3}));
}

TEST_CASE("ops: converting a NaN or out-of-range float to an integer dtype is an error, not undefined behaviour") {
  Tensor f = Tensor::from<float>({1.5f, std::numeric_limits<float>::quiet_NaN()}, {2});
  CHECK_THROWS_WITH_AS(k::to_dtype(f, DType::int32), doctest::Contains("element 1 (nan) does not fit int32"), graft::TensorError);
  CHECK_THROWS_WITH_AS(k::to_dtype(Tensor::from<double>({300.0}, {1}), DType::int8), doctest::Contains("does not fit int8"),
                       graft::TensorError);
  CHECK(k::to_dtype(Tensor::from<double>({-2.75, 127.9}, {2}), DType::int8) == Tensor::from<std::int8_t>({-2, 127}, {2}));
}

TEST_CASE("ops: max_pool2d_with_indices gives the flat index of each maximum in its plane") {
  Tensor x = Tensor::from<float>({1, 9, 3, 4, 5, 6, 7, 8, 2}, {1, 1, 3, 3});
  k::Pool2dParams p;
  p.kernel_size = {2};
  p.stride = {1};
  auto r = k::max_pool2d_with_indices(x, p);
  CHECK(r.values == Tensor::from<float>({9, 9, 8, 8}, {1, 1, 2, 2}));
  CHECK(r.indices == Tensor::from<std::int64_t>({1, 1, 7, 7}, {1, 1, 2, 2}));
}
