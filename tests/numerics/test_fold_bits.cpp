// scale_conv_weight against the scalar formula static_cast<float>(double(w) * f), bit for bit,
// on every element: odd row lengths (the vector loop's remainders), conv and grouped
// conv-transpose layouts, special values, and in place; and bn_fold_scale's factors against
// g / std::sqrt(var + eps). Built up to three times: in graft_numerics_tests (the portable
// loop), where the host runs AVX2 in graft_fold_avx2_tests with -mavx2 -mfma (the explicit AVX2
// loop), and where it runs AVX-512F in graft_fold_avx512_tests with -mavx512f (the AVX-512 loop,
// with the AVX2 one for remainders).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "graft/tensor/fold.hpp"

#ifndef GRAFT_EXPECT_FOLD_AVX2
#define GRAFT_EXPECT_FOLD_AVX2 0
#endif
#ifndef GRAFT_EXPECT_FOLD_AVX512
#define GRAFT_EXPECT_FOLD_AVX512 0
#endif

namespace {

using graft::DType;
using graft::Shape;
using graft::Tensor;

// Random normal weights with a sprinkling of values that stress the rounding: subnormals,
// signed zeros, infinities, NaN, huge and tiny magnitudes.
Tensor random_weight(const Shape& shape, unsigned seed) {
  Tensor t(DType::float32, shape);
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 40);
  const float special[] = {0.0f,
                           -0.0f,
                           std::numeric_limits<float>::denorm_min(),
                           -1.5e-39f,
                           std::numeric_limits<float>::max(),
                           -std::numeric_limits<float>::max(),
                           std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::quiet_NaN(),
                           1.0f + std::numeric_limits<float>::epsilon(),
                           3.0f};
  float* p = t.data<float>();
  for (std::size_t i = 0; i < t.numel(); ++i) {
    int k = pick(gen);
    p[i] = k < static_cast<int>(std::size(special)) ? special[k] : normal(gen) * 8.0f;
  }
  return t;
}

// Factors with inexact products: thirds, ones that overflow or underflow float32 when applied,
// a negative one and a random spread.
std::vector<double> factors(std::int64_t c_out, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-4.0, 4.0);
  const double fixed[] = {1.0 / 3.0, 1e30, 1e-40, -0.7, 0.1, 1.0};
  std::vector<double> s(static_cast<std::size_t>(c_out));
  for (std::size_t c = 0; c < s.size(); ++c) s[c] = c < std::size(fixed) ? fixed[c] : u(gen) / 3.0;
  return s;
}

// The output channel of flat element `idx` (see fold.hpp).
std::int64_t channel_of(const Shape& shape, std::int64_t idx, bool transposed, std::int64_t groups) {
  std::int64_t k = 1;
  for (std::size_t d = 2; d < shape.size(); ++d) k *= shape[d];
  if (!transposed) return idx / (shape[1] * k);
  const std::int64_t i = idx / (shape[1] * k), j = (idx / k) % shape[1];
  return (i / (shape[0] / groups)) * shape[1] + j;
}

void check_bits(const Shape& shape, bool transposed, std::int64_t groups, unsigned seed) {
  CAPTURE(graft::shape_to_string(shape));
  CAPTURE(transposed);
  CAPTURE(groups);
  const Tensor w = random_weight(shape, seed);
  const std::vector<double> s = factors(graft::kernels::conv_out_channels(w, transposed, groups), seed + 1);
  std::vector<float> expected(w.numel());
  for (std::size_t i = 0; i < w.numel(); ++i) {
    const double f = s[static_cast<std::size_t>(channel_of(shape, static_cast<std::int64_t>(i), transposed, groups))];
    expected[i] = static_cast<float>(static_cast<double>(w.data<float>()[i]) * f);
  }
  auto same_bits = [&](const Tensor& out) {
    std::size_t bad = 0, first = 0;
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (std::memcmp(&out.data<float>()[i], &expected[i], sizeof(float)) != 0 && bad++ == 0) first = i;
    CAPTURE(first);
    CHECK(bad == 0);
  };
  Tensor out;
  graft::kernels::scale_conv_weight(w, s, transposed, groups, out);
  same_bits(out);
  Tensor in_place = w;
  graft::kernels::scale_conv_weight(in_place, s, transposed, groups, in_place);
  same_bits(in_place);
}

}  // namespace

TEST_CASE("fold bits: the float32 weight scaling is the scalar double product rounded once, element by element") {
  CHECK(graft::kernels::detail::kFoldAvx2 == (GRAFT_EXPECT_FOLD_AVX2 != 0));
  CHECK(graft::kernels::detail::kFoldAvx512 == (GRAFT_EXPECT_FOLD_AVX512 != 0));
  unsigned seed = 11;
  // conv [C_out, C_in/g, k...]: rows of 45, 1, 2, 335, 17 and 4608 elements.
  check_bits({7, 5, 3, 3}, false, 1, seed++);
  check_bits({3, 1, 1, 1}, false, 1, seed++);
  check_bits({5, 2, 1}, false, 1, seed++);
  check_bits({9, 67, 5}, false, 1, seed++);
  check_bits({6, 17}, false, 3, seed++);
  check_bits({16, 512, 3, 3}, false, 1, seed++);
  check_bits({4, 3, 2, 3, 5}, false, 2, seed++);
  // conv-transpose [C_in, C_out/g, k...]: rows of 9, 1, 7 and 35 elements, grouped and not.
  check_bits({6, 5, 3, 3}, true, 3, seed++);
  check_bits({6, 5, 3, 3}, true, 1, seed++);
  check_bits({4, 1, 1, 1}, true, 4, seed++);
  check_bits({8, 3, 7}, true, 2, seed++);
  check_bits({10, 4, 5, 7}, true, 5, seed++);
}

namespace {

// bn_fold_scale's factors against the scalar formula, bit for bit, for `c` channels (vector
// bodies and remainders), with gamma in `gdtype` or without gamma (1 / sqrt(var + eps)).
void check_scale_bits(std::int64_t c, const DType* gdtype, double eps, unsigned seed) {
  CAPTURE(c);
  CAPTURE(eps);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0.0, 3.0);
  std::normal_distribution<double> normal(0.0, 2.0);
  Tensor var(DType::float32, {c});
  for (std::int64_t i = 0; i < c; ++i) {
    const double v = u(gen);
    // Zero variances (the factor is then gamma / sqrt(eps)), tiny ones and a huge one.
    var.data<float>()[i] = static_cast<float>(i % 7 == 0 ? 0.0 : i % 11 == 0 ? 1e-30 : i == 5 ? 3e38 : v * v);
  }
  Tensor gamma;
  if (gdtype) {
    gamma = Tensor(*gdtype, {c});
    for (std::int64_t i = 0; i < c; ++i) {
      const double g = i % 13 == 0 ? -0.0 : normal(gen);
      if (*gdtype == DType::float64) gamma.data<double>()[i] = g;
      else gamma.data<float>()[i] = static_cast<float>(g);
    }
  }
  const std::vector<double> s = graft::kernels::bn_fold_scale(var, eps, gdtype ? &gamma : nullptr, c);
  REQUIRE(s.size() == static_cast<std::size_t>(c));
  std::size_t bad = 0, first = 0;
  for (std::int64_t i = 0; i < c; ++i) {
    double g = 1.0;
    if (gdtype)
      g = *gdtype == DType::float64 ? gamma.data<double>()[i] : static_cast<double>(gamma.data<float>()[i]);
    const double expected = g / std::sqrt(static_cast<double>(var.data<float>()[i]) + eps);
    if (std::memcmp(&s[static_cast<std::size_t>(i)], &expected, sizeof(double)) != 0 && bad++ == 0)
      first = static_cast<std::size_t>(i);
  }
  CAPTURE(first);
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("fold bits: the BN factors are g / sqrt(var + eps) in double, bit for bit, with and without gamma") {
  const DType f32 = DType::float32, f64 = DType::float64;
  unsigned seed = 41;
  for (std::int64_t c : {1, 3, 8, 17, 64, 1000}) {
    check_scale_bits(c, &f32, 1e-5, seed++);
    check_scale_bits(c, &f64, 1e-3, seed++);
    check_scale_bits(c, nullptr, 1e-5, seed++);
  }
}
