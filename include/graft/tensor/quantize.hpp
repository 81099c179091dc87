// graft/tensor/quantize.hpp - quantized_decomposed quantize / dequantize, per tensor and per
// channel, and the fake-quantize equivalent.
//
//   q  = clamp(round_half_to_even(x * T(1 / scale)) + zero_point, quant_min, quant_max) -> dtype
//   dq = (float(q) - float(zero_point)) * float(scale)
//
// The product is a multiplication by the inverse scale rounded to the input's type (as PyTorch's
// `input * (1.0 / scale)` on a float32 tensor), not a division: the two differ on a few elements.
// Rounding is std::nearbyint under the default mode (half to even). The + zero_point and the clamp
// are exact (double), so int32 saturates instead of overflowing. NaN quantizes to the zero point.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "graft/error.hpp"
#include "graft/tensor/ops.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft::kernels {

namespace detail {

// Element i of a numeric tensor as double.
inline double element_as_double(const Tensor& t, std::size_t i) {
  return dispatch_numeric(t.dtype(), "element", [&](auto tag) {
    using T = decltype(tag);
    return static_cast<double>(t.data<T>()[i]);
  });
}

inline void check_quant_range(std::int64_t qmin, std::int64_t qmax, DType dtype, const char* what) {
  std::int64_t lo = 0, hi = 0;
  switch (dtype) {
    case DType::int8: lo = -128; hi = 127; break;
    case DType::uint8: lo = 0; hi = 255; break;
    case DType::int32: lo = std::numeric_limits<std::int32_t>::min(); hi = std::numeric_limits<std::int32_t>::max(); break;
    default:
      throw TensorError(std::string(what) + ": quantized dtype must be int8, uint8 or int32, got " + dt(dtype));
  }
  if (qmin > qmax || qmin < lo || qmax > hi)
    throw TensorError(std::string(what) + ": quant range [" + std::to_string(qmin) + ", " + std::to_string(qmax) +
                      "] does not fit " + dt(dtype) + " [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

// The integer code of x, as a double in [qmin, qmax].
template <typename T>
inline double quantize_value(T x, T inv_scale, double zp, double qmin, double qmax) {
  const T prod = x * inv_scale;
  double r = std::nearbyint(static_cast<double>(prod));
  if (std::isnan(r)) r = 0.0;
  r += zp;
  return r < qmin ? qmin : (r > qmax ? qmax : r);
}

template <typename Q>
inline void store_codes(Tensor& out, std::size_t i, double v) {
  out.data<Q>()[i] = static_cast<Q>(v);
}

inline void store_code(Tensor& out, std::size_t i, double v) {
  switch (out.dtype()) {
    case DType::int8: store_codes<std::int8_t>(out, i, v); break;
    case DType::uint8: store_codes<std::uint8_t>(out, i, v); break;
    default: store_codes<std::int32_t>(out, i, v); break;
  }
}

// Per-channel layout: outer x channels x inner around `axis`.
struct ChannelLayout {
  std::size_t outer = 1, channels = 1, inner = 1;
};
inline ChannelLayout channel_layout(const Tensor& x, std::int64_t axis, std::size_t nscales, const char* what) {
  auto nd = static_cast<std::int64_t>(x.dim());
  if (nd == 0) throw TensorError(std::string(what) + ": per-channel quantization needs a tensor with dimensions");
  std::int64_t a = wrap_dim(axis, nd, what);
  ChannelLayout l;
  l.channels = static_cast<std::size_t>(x.shape()[static_cast<std::size_t>(a)]);
  for (std::int64_t i = 0; i < a; ++i) l.outer *= static_cast<std::size_t>(x.shape()[static_cast<std::size_t>(i)]);
  for (std::int64_t i = a + 1; i < nd; ++i) l.inner *= static_cast<std::size_t>(x.shape()[static_cast<std::size_t>(i)]);
  if (nscales != l.channels)
    throw TensorError(std::string(what) + ": " + std::to_string(nscales) + " scales for " + std::to_string(l.channels) +
                      " channels on axis " + std::to_string(axis) + " of shape " + shape_to_string(x.shape()));
  return l;
}

inline void check_scale(double s, const char* what) {
  if (!(s > 0.0) || !std::isfinite(s))
    throw TensorError(std::string(what) + ": scale must be positive and finite, got " + std::to_string(s));
}

}  // namespace detail

// The value of a one-element tensor (a `.tensor` overload's scale or zero point).
inline double item(const Tensor& t, const char* what = "item") {
  if (t.numel() != 1)
    throw TensorError(std::string(what) + ": expected a one-element tensor, got shape " + shape_to_string(t.shape()));
  return detail::element_as_double(t, 0);
}

// clamp(round_half_to_even(x * (1 / scale)) + zero_point, quant_min, quant_max), stored as `dtype`.
inline Tensor quantize_per_tensor(const Tensor& input, double scale, std::int64_t zero_point, std::int64_t quant_min,
                                  std::int64_t quant_max, DType dtype) {
  detail::check_quant_range(quant_min, quant_max, dtype, "quantize_per_tensor");
  detail::check_scale(scale, "quantize_per_tensor");
  Tensor out(dtype, input.shape());
  detail::dispatch_float(input.dtype(), "quantize_per_tensor", [&](auto tag) {
    using T = decltype(tag);
    const T inv = static_cast<T>(1.0 / scale);
    const T* x = input.data<T>();
    const auto zp = static_cast<double>(zero_point), lo = static_cast<double>(quant_min), hi = static_cast<double>(quant_max);
    for (std::size_t i = 0; i < input.numel(); ++i) detail::store_code(out, i, detail::quantize_value(x[i], inv, zp, lo, hi));
  });
  return out;
}

// (q - zero_point) * scale, in `out_dtype` (float32 by default). `dtype` must be input's dtype.
inline Tensor dequantize_per_tensor(const Tensor& input, double scale, std::int64_t zero_point, std::int64_t quant_min,
                                    std::int64_t quant_max, DType dtype, DType out_dtype = DType::float32) {
  detail::check_quant_range(quant_min, quant_max, dtype, "dequantize_per_tensor");
  if (input.dtype() != dtype)
    throw TensorError("dequantize_per_tensor: input is " + detail::dt(input.dtype()) + ", expected dtype " + detail::dt(dtype));
  if (!is_floating(out_dtype) || !is_storage_dtype(out_dtype))
    throw TensorError("dequantize_per_tensor: out_dtype must be float32 or float64, got " + detail::dt(out_dtype));
  Tensor out = to_dtype(input, out_dtype);  // float(q)
  detail::dispatch_float(out_dtype, "dequantize_per_tensor", [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T zp = static_cast<T>(zero_point), s = static_cast<T>(scale);
    for (std::size_t i = 0; i < out.numel(); ++i) o[i] = (o[i] - zp) * s;
  });
  return out;
}

// quantize then dequantize, in the input's float type.
inline Tensor fake_quantize_per_tensor(const Tensor& input, double scale, std::int64_t zero_point, std::int64_t quant_min,
                                       std::int64_t quant_max) {
  detail::check_scale(scale, "fake_quantize_per_tensor");
  if (quant_min > quant_max) throw TensorError("fake_quantize_per_tensor: quant_min > quant_max");
  Tensor out(input.dtype(), input.shape());
  detail::dispatch_float(input.dtype(), "fake_quantize_per_tensor", [&](auto tag) {
    using T = decltype(tag);
    const T inv = static_cast<T>(1.0 / scale), s = static_cast<T>(scale), zpt = static_cast<T>(zero_point);
    const auto zp = static_cast<double>(zero_point), lo = static_cast<double>(quant_min), hi = static_cast<double>(quant_max);
    const T* x = input.data<T>();
    T* o = out.data<T>();
    for (std::size_t i = 0; i < input.numel(); ++i)
      o[i] = (static_cast<T>(detail::quantize_value(x[i], inv, zp, lo, hi)) - zpt) * s;
  });
  return out;
}

// quantize_per_tensor with one scale and zero point per index along `axis`.
inline Tensor quantize_per_channel(const Tensor& input, const Tensor& scales, const Tensor& zero_points, std::int64_t axis,
                                   std::int64_t quant_min, std::int64_t quant_max, DType dtype) {
  detail::check_quant_range(quant_min, quant_max, dtype, "quantize_per_channel");
  auto l = detail::channel_layout(input, axis, scales.numel(), "quantize_per_channel");
  if (zero_points.numel() != l.channels)
    throw TensorError("quantize_per_channel: " + std::to_string(zero_points.numel()) + " zero points for " +
                      std::to_string(l.channels) + " channels");
  Tensor out(dtype, input.shape());
  detail::dispatch_float(input.dtype(), "quantize_per_channel", [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data<T>();
    const auto lo = static_cast<double>(quant_min), hi = static_cast<double>(quant_max);
    for (std::size_t c = 0; c < l.channels; ++c) {
      const double s = detail::element_as_double(scales, c);
      detail::check_scale(s, "quantize_per_channel");
      const T inv = static_cast<T>(1.0 / s);
      const double zp = detail::element_as_double(zero_points, c);
      for (std::size_t o = 0; o < l.outer; ++o) {
        const std::size_t base = (o * l.channels + c) * l.inner;
        for (std::size_t k = 0; k < l.inner; ++k)
          detail::store_code(out, base + k, detail::quantize_value(x[base + k], inv, zp, lo, hi));
      }
    }
  });
  return out;
}

// zero_points may be null (all zero).
inline Tensor dequantize_per_channel(const Tensor& input, const Tensor& scales, const Tensor* zero_points, std::int64_t axis,
                                     std::int64_t quant_min, std::int64_t quant_max, DType dtype,
                                     DType out_dtype = DType::float32) {
  detail::check_quant_range(quant_min, quant_max, dtype, "dequantize_per_channel");
  if (input.dtype() != dtype)
    throw TensorError("dequantize_per_channel: input is " + detail::dt(input.dtype()) + ", expected dtype " + detail::dt(dtype));
  auto l = detail::channel_layout(input, axis, scales.numel(), "dequantize_per_channel");
  if (zero_points && zero_points->numel() != l.channels)
    throw TensorError("dequantize_per_channel: " + std::to_string(zero_points->numel()) + " zero points for " +
                      std::to_string(l.channels) + " channels");
  if (!is_floating(out_dtype) || !is_storage_dtype(out_dtype))
    throw TensorError("dequantize_per_channel: out_dtype must be float32 or float64, got " + detail::dt(out_dtype));
  Tensor out = to_dtype(input, out_dtype);  // float(q)
  detail::dispatch_float(out_dtype, "dequantize_per_channel", [&](auto tag) {
    using T = decltype(tag);
    T* y = out.data<T>();
    for (std::size_t c = 0; c < l.channels; ++c) {
      const T s = static_cast<T>(detail::element_as_double(scales, c));
      const T zp = zero_points ? static_cast<T>(detail::element_as_double(*zero_points, c)) : T(0);
      for (std::size_t o = 0; o < l.outer; ++o) {
        const std::size_t base = (o * l.channels + c) * l.inner;
        for (std::size_t k = 0; k < l.inner; ++k)
          y[base + k] = (y[base + k] - zp) * s;
      }
    }
  });
  return out;
}

// quantize then dequantize per channel, in the input's float type.
inline Tensor fake_quantize_per_channel(const Tensor& input, const Tensor& scales, const Tensor& zero_points,
                                        std::int64_t axis, std::int64_t quant_min, std::int64_t quant_max) {
  if (quant_min > quant_max) throw TensorError("fake_quantize_per_channel: quant_min > quant_max");
  auto l = detail::channel_layout(input, axis, scales.numel(), "fake_quantize_per_channel");
  if (zero_points.numel() != l.channels)
    throw TensorError("fake_quantize_per_channel: " + std::to_string(zero_points.numel()) + " zero points for " +
                      std::to_string(l.channels) + " channels");
  Tensor out(input.dtype(), input.shape());
  detail::dispatch_float(input.dtype(), "fake_quantize_per_channel", [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data<T>();
    T* y = out.data<T>();
    const auto lo = static_cast<double>(quant_min), hi = static_cast<double>(quant_max);
    for (std::size_t c = 0; c < l.channels; ++c) {
      const double sd = detail::element_as_double(scales, c);
      detail::check_scale(sd, "fake_quantize_per_channel");
      const T inv = static_cast<T>(1.0 / static_cast<double>(static_cast<T>(sd))), s = static_cast<T>(sd);
      const double zp = detail::element_as_double(zero_points, c);
      const T zpt = static_cast<T>(zp);
      for (std::size_t o = 0; o < l.outer; ++o) {
        const std::size_t base = (o * l.channels + c) * l.inner;
        for (std::size_t k = 0; k < l.inner; ++k)
          y[base + k] = (static_cast<T>(detail::quantize_value(x[base + k], inv, zp, lo, hi)) - zpt) * s;
      }
    }
  });
  return out;
}

// Symmetric qparams from observed min / max, as torch's MinMax observers (per_tensor_symmetric /
// per_channel_symmetric with a signed dtype): scale = max(amax / ((qmax - qmin) / 2), eps_f32),
// in float32, zero point 0.
inline float symmetric_scale(float min_val, float max_val, std::int64_t quant_min, std::int64_t quant_max) {
  const float amax = std::max(-std::min(min_val, 0.0f), std::max(max_val, 0.0f));
  const float s = amax / static_cast<float>(static_cast<double>(quant_max - quant_min) / 2.0);
  return std::max(s, std::numeric_limits<float>::epsilon());
}

}  // namespace graft::kernels
