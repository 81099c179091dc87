// graft/tensor/fold.hpp - folding batch norm into the preceding convolution's weight and bias.
//
// `fuse_conv_bn_weights` semantics, per absolute output channel c:
//   s[c]  = gamma[c] / sqrt(running_var[c] + eps)
//   W_f   = W * s   (broadcast over the out-channel axis of the weight)
//   b_f   = (b - running_mean) * s + beta
// The factors are computed in double and each weight element is multiplied in double and rounded
// once to the weight dtype. The out-channel axis is 0 for conv ([C_out, C_in/g, k...]); for
// conv-transpose ([C_in, C_out/g, k...]) weight[i, j] belongs to output channel
// (i / (C_in/g)) * (C_out/g) + j, which PyTorch's own function gets wrong for groups > 1.
// Missing bias / gamma / beta mean 0 / 1 / 0. A negative or NaN variance, or var + eps <= 0, is an
// error naming the channel.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "graft/error.hpp"
#include "graft/tensor/dispatch.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft::kernels {

struct FoldedConvBn {
  Tensor weight;
  Tensor bias;  // always present, [C_out]
};

namespace detail {

inline std::string fmt_double(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

// Throws unless `t` holds one value per output channel (a scalar when c_out is 1).
inline void check_per_channel(const Tensor& t, std::int64_t c_out, const char* name) {
  if (t.numel() != static_cast<std::size_t>(c_out) || t.dim() > 1)
    throw TensorError(std::string("fold_conv_bn_weights: ") + name + " of shape " + shape_to_string(t.shape()) +
                      " does not fit " + std::to_string(c_out) + " output channels");
}

inline std::vector<double> bn_vector_as_double(const Tensor* t, std::int64_t c_out, double dflt, const char* name) {
  std::vector<double> v(static_cast<std::size_t>(c_out), dflt);
  if (!t) return v;
  check_per_channel(*t, c_out, name);
  dispatch_float(t->dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* p = t->data<T>();
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(p[i]);
  });
  return v;
}

// Which float32 loop scale_conv_weight compiles to: kFoldAvx512 when built with -mavx512f (or
// -march=native on such a machine), then kFoldAvx2 (-mavx2), else the portable Eigen loop. The
// AVX-512 loop runs its remainder through the AVX2 one (-mavx512f implies -mavx2).
#if defined(__AVX512F__)
inline constexpr bool kFoldAvx512 = true;
#else
inline constexpr bool kFoldAvx512 = false;
#endif
#if defined(__AVX2__)
inline constexpr bool kFoldAvx2 = true;
#else
inline constexpr bool kFoldAvx2 = false;
#endif

// o[i] = float(double(w[i]) * f) for i < n, exactly: widening is exact, the product is the
// IEEE double product, and the narrowing rounds once in the current rounding mode, as the
// scalar cast does, so every element is bit-identical to static_cast<float>(double(w) * f).
inline void scale_row(const float* w, float* o, std::int64_t n, double f) {
  std::int64_t i = 0;
#if defined(__AVX512F__)
  // Eight floats widen to one 512-bit register of doubles: per 16 elements 2 widenings, 2
  // multiplies, 2 narrowings and 2 stores, half the conversion instructions of the AVX2 loop,
  // whose conversions are what bounds it on an L2-resident weight.
  // The zero-masking forms with a full mask are the plain instructions; g++ 12 warns
  // (-Wmaybe-uninitialized) on the unmasked intrinsics' undefined pass-through operand.
  const __m512d f8 = _mm512_set1_pd(f);
  auto eight = [&](std::int64_t k) {
    const __m512d wide = _mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(w + k));
    return _mm512_maskz_cvtpd_ps(0xFF, _mm512_mul_pd(wide, f8));
  };
  for (; i + 16 <= n; i += 16) {
    const __m256 a = eight(i), b = eight(i + 8);
    _mm256_storeu_ps(o + i, a);
    _mm256_storeu_ps(o + i + 8, b);
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, eight(i));
#endif
#if defined(__AVX2__)
  // Four floats widen straight from memory (vcvtps2pd with a memory operand needs no shuffle),
  // and two rounded halves make one 32-byte store: 4 conversions, 4 multiplies, 1 shuffle and
  // 2 stores per 16 elements, which keeps up with a plain copy.
  const __m256d fv = _mm256_set1_pd(f);
  auto four = [&](std::int64_t k) { return _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(w + k)), fv)); };
  for (; i + 16 <= n; i += 16) {
    const __m128 a = four(i), b = four(i + 4), c = four(i + 8), d = four(i + 12);
    _mm256_storeu_ps(o + i, _mm256_set_m128(b, a));
    _mm256_storeu_ps(o + i + 8, _mm256_set_m128(d, c));
  }
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(o + i, four(i));
  for (; i < n; ++i) o[i] = static_cast<float>(static_cast<double>(w[i]) * f);
#else
  using Row = Eigen::Map<const Eigen::Array<float, Eigen::Dynamic, 1>>;
  using RowOut = Eigen::Map<Eigen::Array<float, Eigen::Dynamic, 1>>;
  RowOut(o, n) = (Row(w, n).cast<double>() * f).cast<float>();
  i = n;
#endif
  (void)i;
}

}  // namespace detail

// Number of output channels of a conv (transposed: C_out/groups * groups) weight.
inline std::int64_t conv_out_channels(const Tensor& weight, bool transposed, std::int64_t groups) {
  if (weight.dim() < 2) throw TensorError("conv weight of shape " + shape_to_string(weight.shape()) + " has no channel axes");
  if (groups < 1) throw TensorError("groups must be positive, got " + std::to_string(groups));
  if (transposed && weight.shape()[0] % groups != 0)
    throw TensorError("conv_transpose weight " + shape_to_string(weight.shape()) + ": in channels not divisible by groups " +
                      std::to_string(groups));
  if (!transposed && weight.shape()[0] % groups != 0)
    throw TensorError("conv weight " + shape_to_string(weight.shape()) + ": out channels not divisible by groups " +
                      std::to_string(groups));
  return transposed ? weight.shape()[1] * groups : weight.shape()[0];
}

// Per-output-channel factors gamma / sqrt(var + eps) in double; checks the variance.
// One allocation: the variances are widened into the result, checked, and turned into factors
// in place. The square root is std::sqrt, correctly rounded, not Eigen's: under EIGEN_FAST_MATH
// (its default) Eigen's AVX-512 double sqrt is rsqrt14 plus Newton steps, which is not.
inline std::vector<double> bn_fold_scale(const Tensor& running_var, double eps, const Tensor* gamma, std::int64_t c_out) {
  std::vector<double> s = detail::bn_vector_as_double(&running_var, c_out, 0.0, "running_var");
  if (gamma) detail::check_per_channel(*gamma, c_out, "bn_weight");
  for (std::size_t c = 0; c < s.size(); ++c) {
    const double var = s[c];
    if (std::isnan(var) || var < 0.0)
      throw TensorError("fold_conv_bn_weights: running_var of channel " + std::to_string(c) + " is " +
                        detail::fmt_double(var) + "; a variance must be a non-negative number");
    const double denom = var + eps;
    if (!(denom > 0.0))
      throw TensorError("fold_conv_bn_weights: running_var + eps of channel " + std::to_string(c) + " is " +
                        detail::fmt_double(denom) + " (running_var " + detail::fmt_double(var) + ", eps " +
                        detail::fmt_double(eps) + "); it must be positive");
    s[c] = std::sqrt(denom);
  }
  if (!gamma) {
    for (double& v : s) v = 1.0 / v;
    return s;
  }
  detail::dispatch_float(gamma->dtype(), "bn_weight", [&](auto tag) {
    using T = decltype(tag);
    const T* g = gamma->data<T>();
    for (std::size_t c = 0; c < s.size(); ++c) s[c] = static_cast<double>(g[c]) / s[c];
  });
  return s;
}

// Multiplies every weight element by the factor of its absolute output channel, in double,
// rounding once. `out` may alias `weight`; it is reallocated only when its dtype or shape differ.
inline void scale_conv_weight(const Tensor& weight, const std::vector<double>& scale, bool transposed, std::int64_t groups,
                              Tensor& out) {
  const std::int64_t c_out = conv_out_channels(weight, transposed, groups);
  if (static_cast<std::int64_t>(scale.size()) != c_out)
    throw TensorError("fold: " + std::to_string(scale.size()) + " channel factors for a weight of shape " +
                      shape_to_string(weight.shape()) + " with " + std::to_string(c_out) + " output channels");
  if (&out != &weight && (out.dtype() != weight.dtype() || out.shape() != weight.shape()))
    out = Tensor::uninitialized(weight.dtype(), weight.shape());  // every element is written below
  // Rows of the weight that share one factor: [C_out, rest] for conv, [C_in * C_out/g, k...] for
  // conv-transpose.
  const std::int64_t rows = transposed ? weight.shape()[0] * weight.shape()[1] : weight.shape()[0];
  const std::int64_t cols = rows ? static_cast<std::int64_t>(weight.numel()) / rows : 0;
  const std::int64_t cg_in = transposed ? weight.shape()[0] / groups : 0;
  const std::int64_t cg_out = transposed ? weight.shape()[1] : 0;
  detail::dispatch_float(weight.dtype(), "fold", [&](auto tag) {
    using T = decltype(tag);
    using Row = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
    using RowOut = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
    const T* w = weight.data<T>();
    T* o = out.data<T>();
    for (std::int64_t r = 0; r < rows; ++r) {
      std::int64_t c = r;
      if (transposed) {
        const std::int64_t i = r / cg_out, j = r % cg_out;
        c = (i / cg_in) * cg_out + j;
      }
      const double f = scale[static_cast<std::size_t>(c)];
      if constexpr (std::is_same_v<T, float>) {
        detail::scale_row(w + r * cols, o + r * cols, cols, f);
      } else {
        RowOut dst(o + r * cols, cols);
        Row src(w + r * cols, cols);
        if constexpr (std::is_same_v<T, double>) dst = src * f;
        else dst = (src.template cast<double>() * f).template cast<T>();
      }
    }
  });
}

// The folded bias (b - running_mean) * scale + beta per output channel, in double, rounded once
// to `dtype`, for the factors `scale` of bn_fold_scale. conv_bias and bn_bias may be null (zero).
inline Tensor fold_conv_bn_bias(const Tensor* conv_bias, const Tensor& running_mean, const std::vector<double>& scale,
                                const Tensor* bn_bias, DType dtype) {
  const auto c_out = static_cast<std::int64_t>(scale.size());
  const std::vector<double> mean = detail::bn_vector_as_double(&running_mean, c_out, 0.0, "running_mean");
  const std::vector<double> b = detail::bn_vector_as_double(conv_bias, c_out, 0.0, "conv bias");
  const std::vector<double> beta = detail::bn_vector_as_double(bn_bias, c_out, 0.0, "bn_bias");
  Tensor out(dtype, {c_out});
  detail::dispatch_float(dtype, "fold", [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    for (std::size_t c = 0; c < scale.size(); ++c) o[c] = static_cast<T>((b[c] - mean[c]) * scale[c] + beta[c]);
  });
  return out;
}

// The folded conv weight and bias. conv_bias, bn_weight and bn_bias may be null.
inline FoldedConvBn fold_conv_bn_weights(const Tensor& conv_weight, const Tensor* conv_bias, const Tensor& running_mean,
                                         const Tensor& running_var, double eps, const Tensor* bn_weight,
                                         const Tensor* bn_bias, bool transposed = false, std::int64_t groups = 1) {
  const std::int64_t c_out = conv_out_channels(conv_weight, transposed, groups);
  if (conv_bias && conv_bias->dtype() != conv_weight.dtype())
    throw TensorError("fold_conv_bn_weights: conv bias is " + detail::dt(conv_bias->dtype()) + ", weight is " +
                      detail::dt(conv_weight.dtype()));
  std::vector<double> s = bn_fold_scale(running_var, eps, bn_weight, c_out);
  FoldedConvBn r;
  r.bias = fold_conv_bn_bias(conv_bias, running_mean, s, bn_bias, conv_weight.dtype());
  scale_conv_weight(conv_weight, s, transposed, groups, r.weight);
  return r;
}

}  // namespace graft::kernels
