// graft/tensor/pool.hpp - 2-d max / average / adaptive average pooling, PyTorch semantics.
//
// The kernels behind aten.max_pool2d, avg_pool2d and adaptive_avg_pool2d for the interpreter:
// NCHW or CHW input, kernel, stride, padding, dilation and ceil_mode as PyTorch reads them
// (`Pool2dParams`), count_include_pad and divisor_override for the average. A TensorError names
// the bad shape or parameter.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "graft/error.hpp"
#include "graft/tensor/ops.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft::kernels {

struct Pool2dParams {
  std::vector<std::int64_t> kernel_size;
  std::vector<std::int64_t> stride;  // empty: the kernel size
  std::vector<std::int64_t> padding{0};
  std::vector<std::int64_t> dilation{1};
  bool ceil_mode = false;
};

namespace detail {

inline std::int64_t pick2(const std::vector<std::int64_t>& v, std::size_t i, std::int64_t dflt, const char* name,
                          const char* what) {
  if (v.empty()) return dflt;
  if (v.size() != 1 && v.size() != 2)
    throw TensorError(std::string(what) + ": " + name + " must have 1 or 2 entries, got " + std::to_string(v.size()));
  return v.size() == 1 ? v[0] : v[i];
}

// PyTorch's pooling_output_shape.
inline std::int64_t pool_out_size(std::int64_t in, std::int64_t k, std::int64_t pad, std::int64_t stride, std::int64_t dil,
                                  bool ceil_mode) {
  const std::int64_t span = dil * (k - 1) + 1;
  const std::int64_t num = in + 2 * pad - span + (ceil_mode ? stride - 1 : 0);
  std::int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

struct Pool2dGeometry {
  std::int64_t outer, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oH, oW;
};

inline Pool2dGeometry pool2d_geometry(const Tensor& x, const Pool2dParams& p, const char* what) {
  if (x.dim() != 3 && x.dim() != 4)
    throw TensorError(std::string(what) + ": expected a 3-d or 4-d input, got shape " + shape_to_string(x.shape()));
  if (p.kernel_size.empty()) throw TensorError(std::string(what) + ": kernel_size is required");
  Pool2dGeometry g{};
  g.H = x.shape()[x.dim() - 2];
  g.W = x.shape()[x.dim() - 1];
  g.outer = (g.H > 0 && g.W > 0) ? static_cast<std::int64_t>(x.numel()) / (g.H * g.W) : 0;
  g.kh = pick2(p.kernel_size, 0, 1, "kernel_size", what);
  g.kw = pick2(p.kernel_size, 1, 1, "kernel_size", what);
  g.sh = pick2(p.stride, 0, g.kh, "stride", what);
  g.sw = pick2(p.stride, 1, g.kw, "stride", what);
  g.ph = pick2(p.padding, 0, 0, "padding", what);
  g.pw = pick2(p.padding, 1, 0, "padding", what);
  g.dh = pick2(p.dilation, 0, 1, "dilation", what);
  g.dw = pick2(p.dilation, 1, 1, "dilation", what);
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.ph < 0 || g.pw < 0)
    throw TensorError(std::string(what) + ": kernel, stride and dilation must be positive, padding non-negative");
  if (g.ph * 2 > g.kh || g.pw * 2 > g.kw)
    throw TensorError(std::string(what) + ": padding must be at most half the kernel size");
  g.oH = pool_out_size(g.H, g.kh, g.ph, g.sh, g.dh, p.ceil_mode);
  g.oW = pool_out_size(g.W, g.kw, g.pw, g.sw, g.dw, p.ceil_mode);
  if (g.oH <= 0 || g.oW <= 0)
    throw TensorError(std::string(what) + ": output size " + std::to_string(g.oH) + "x" + std::to_string(g.oW) +
                      " is too small for input " + shape_to_string(x.shape()));
  return g;
}

inline Shape with_spatial(const Shape& s, std::int64_t oh, std::int64_t ow) {
  Shape r = s;
  r[r.size() - 2] = oh;
  r[r.size() - 1] = ow;
  return r;
}

}  // namespace detail

struct MaxPoolResult {
  Tensor values;
  Tensor indices;  // int64, flat index of the maximum within its H x W input plane (as PyTorch)
};

// max_pool2d_with_indices over the last two dimensions; NaN propagates.
inline MaxPoolResult max_pool2d_with_indices(const Tensor& x, const Pool2dParams& p) {
  auto g = detail::pool2d_geometry(x, p, "max_pool2d");
  MaxPoolResult r{Tensor(x.dtype(), detail::with_spatial(x.shape(), g.oH, g.oW)),
                  Tensor(DType::int64, detail::with_spatial(x.shape(), g.oH, g.oW))};
  detail::dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* o = r.values.data<T>();
    std::int64_t* oi = r.indices.data<std::int64_t>();
    for (std::int64_t c = 0; c < g.outer; ++c) {
      const T* plane = in + c * g.H * g.W;
      for (std::int64_t oh = 0; oh < g.oH; ++oh)
        for (std::int64_t ow = 0; ow < g.oW; ++ow) {
          T best = -std::numeric_limits<T>::infinity();
          std::int64_t best_i = -1;
          for (std::int64_t a = 0; a < g.kh && !std::isnan(best); ++a) {
            const std::int64_t ih = oh * g.sh - g.ph + a * g.dh;
            if (ih < 0 || ih >= g.H) continue;
            for (std::int64_t b = 0; b < g.kw; ++b) {
              const std::int64_t iw = ow * g.sw - g.pw + b * g.dw;
              if (iw < 0 || iw >= g.W) continue;
              const T v = plane[ih * g.W + iw];
              if (v > best || std::isnan(v) || best_i < 0) {
                best = v;
                best_i = ih * g.W + iw;
              }
              if (std::isnan(best)) break;
            }
          }
          *o++ = best;
          *oi++ = best_i;
        }
    }
  });
  return r;
}

// max_pool2d over the last two dimensions; NaN propagates.
inline Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) { return max_pool2d_with_indices(x, p).values; }

// avg_pool2d (no dilation in PyTorch's avg_pool2d).
inline Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p, bool count_include_pad = true,
                         std::int64_t divisor_override = 0) {
  auto g = detail::pool2d_geometry(x, p, "avg_pool2d");
  if (g.dh != 1 || g.dw != 1) throw TensorError("avg_pool2d: dilation is not supported");
  Tensor out(x.dtype(), detail::with_spatial(x.shape(), g.oH, g.oW));
  detail::dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t c = 0; c < g.outer; ++c) {
      const T* plane = in + c * g.H * g.W;
      for (std::int64_t oh = 0; oh < g.oH; ++oh)
        for (std::int64_t ow = 0; ow < g.oW; ++ow) {
          std::int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
          std::int64_t h1 = std::min(h0 + g.kh, g.H + g.ph), w1 = std::min(w0 + g.kw, g.W + g.pw);
          const std::int64_t pool_size = (h1 - h0) * (w1 - w0);
          h0 = std::max<std::int64_t>(h0, 0);
          w0 = std::max<std::int64_t>(w0, 0);
          h1 = std::min(h1, g.H);
          w1 = std::min(w1, g.W);
          T sum = 0;
          for (std::int64_t ih = h0; ih < h1; ++ih)
            for (std::int64_t iw = w0; iw < w1; ++iw) sum += plane[ih * g.W + iw];
          std::int64_t div = divisor_override ? divisor_override
                                              : (count_include_pad ? pool_size : (h1 - h0) * (w1 - w0));
          *o++ = div > 0 ? sum / static_cast<T>(div) : T(0);
        }
    }
  });
  return out;
}

// adaptive_avg_pool2d: output cell i averages input [floor(i*H/oH), ceil((i+1)*H/oH)).
inline Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t oH, std::int64_t oW) {
  if (x.dim() != 3 && x.dim() != 4)
    throw TensorError("adaptive_avg_pool2d: expected a 3-d or 4-d input, got shape " + shape_to_string(x.shape()));
  if (oH < 1 || oW < 1)
    throw TensorError("adaptive_avg_pool2d: output size must be positive, got " + std::to_string(oH) + "x" + std::to_string(oW));
  const std::int64_t H = x.shape()[x.dim() - 2], W = x.shape()[x.dim() - 1];
  if (H < 1 || W < 1) throw TensorError("adaptive_avg_pool2d: empty input " + shape_to_string(x.shape()));
  const std::int64_t outer = static_cast<std::int64_t>(x.numel()) / (H * W);
  Tensor out(x.dtype(), detail::with_spatial(x.shape(), oH, oW));
  detail::dispatch_float(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t c = 0; c < outer; ++c) {
      const T* plane = in + c * H * W;
      for (std::int64_t i = 0; i < oH; ++i) {
        const std::int64_t h0 = i * H / oH, h1 = ((i + 1) * H + oH - 1) / oH;
        for (std::int64_t j = 0; j < oW; ++j) {
          const std::int64_t w0 = j * W / oW, w1 = ((j + 1) * W + oW - 1) / oW;
          T sum = 0;
          for (std::int64_t ih = h0; ih < h1; ++ih)
            for (std::int64_t iw = w0; iw < w1; ++iw) sum += plane[ih * W + iw];
          *o++ = sum / static_cast<T>((h1 - h0) * (w1 - w0));
        }
      }
    }
  });
  return out;
}

}  // namespace graft::kernels
