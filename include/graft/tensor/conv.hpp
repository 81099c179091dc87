// graft/tensor/conv.hpp - convolution and transposed convolution, 1-d/2-d/3-d, PyTorch semantics.
//
// Both are im2col (col2im for the transpose) plus Eigen GEMMs per (batch, group): the convolution
// im2cols a block of output rows at a time, sized to stay in the L2 cache, and multiplies it into
// its columns of the output. The column buffer is allocated once per call; the inner loops do not
// allocate. 1-d and 2-d convolutions run through the 3-d code with unit leading spatial
// dimensions.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "graft/error.hpp"
#include "graft/tensor/ops.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft::kernels {

// Hyperparameters of `aten.convolution`. A list of length 1 applies to every spatial dimension;
// an empty list takes the default (stride 1, padding 0, dilation 1, output_padding 0).
struct ConvParams {
  std::vector<std::int64_t> stride{1};
  std::vector<std::int64_t> padding{0};
  std::vector<std::int64_t> dilation{1};
  bool transposed = false;
  std::vector<std::int64_t> output_padding{0};
  std::int64_t groups = 1;
};

namespace detail {

template <typename T>
using RowMajorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <typename T>
using ConstRowMajorMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// Geometry normalised to three spatial dimensions (leading ones padded with size 1).
struct ConvGeometry {
  std::int64_t n = 0, c_in = 0, c_out = 0, groups = 1;
  std::array<std::int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, out{1, 1, 1};
  std::array<std::int64_t, 3> stride{1, 1, 1}, pad{0, 0, 0}, dil{1, 1, 1}, out_pad{0, 0, 0};
  std::int64_t in_size() const { return in[0] * in[1] * in[2]; }
  std::int64_t k_size() const { return k[0] * k[1] * k[2]; }
  std::int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

inline std::array<std::int64_t, 3> spatial_param(const std::vector<std::int64_t>& v, std::size_t nsp, std::int64_t dflt,
                                                 const char* name, const std::string& where) {
  std::array<std::int64_t, 3> out{dflt, dflt, dflt};
  if (v.empty()) return out;
  if (v.size() != 1 && v.size() != nsp)
    throw TensorError(where + ": " + name + " has " + std::to_string(v.size()) + " entries for " +
                      std::to_string(nsp) + " spatial dimensions");
  for (std::size_t i = 0; i < nsp; ++i) out[3 - nsp + i] = v.size() == 1 ? v[0] : v[i];
  return out;
}

inline std::string conv_where(const Tensor& input, const Tensor& weight, const ConvParams& p) {
  return std::string(p.transposed ? "conv_transpose" : "conv") + " (input " + shape_to_string(input.shape()) +
         ", weight " + shape_to_string(weight.shape()) + ")";
}

inline ConvGeometry conv_geometry(const Tensor& input, const Tensor& weight, const Tensor* bias, const ConvParams& p) {
  const std::string where = conv_where(input, weight, p);
  if (weight.dim() < 3 || weight.dim() > 5)
    throw TensorError(where + ": weight must be 3-d, 4-d or 5-d");
  const std::size_t nsp = weight.dim() - 2;
  if (input.dim() != nsp + 2)
    throw TensorError(where + ": expected a " + std::to_string(nsp + 2) + "-d input for a " + std::to_string(nsp + 2) +
                      "-d weight");
  if (input.dtype() != weight.dtype())
    throw TensorError(where + ": dtype mismatch, input " + dt(input.dtype()) + " vs weight " + dt(weight.dtype()));
  if (bias && bias->dtype() != input.dtype())
    throw TensorError(where + ": dtype mismatch, bias " + dt(bias->dtype()) + " vs input " + dt(input.dtype()));
  ConvGeometry g;
  g.groups = p.groups;
  if (g.groups < 1) throw TensorError(where + ": groups must be positive, got " + std::to_string(p.groups));
  g.n = input.shape()[0];
  g.c_in = input.shape()[1];
  g.stride = spatial_param(p.stride, nsp, 1, "stride", where);
  g.pad = spatial_param(p.padding, nsp, 0, "padding", where);
  g.dil = spatial_param(p.dilation, nsp, 1, "dilation", where);
  g.out_pad = spatial_param(p.transposed ? p.output_padding : std::vector<std::int64_t>{}, nsp, 0, "output_padding", where);
  for (std::size_t i = 0; i < nsp; ++i) {
    g.in[3 - nsp + i] = input.shape()[2 + i];
    g.k[3 - nsp + i] = weight.shape()[2 + i];
  }
  for (int i = 0; i < 3; ++i) {
    if (g.stride[i] < 1 || g.dil[i] < 1 || g.pad[i] < 0 || g.out_pad[i] < 0)
      throw TensorError(where + ": stride and dilation must be positive, padding and output_padding non-negative");
    if (p.transposed && g.out_pad[i] >= g.stride[i] && g.out_pad[i] >= g.dil[i])
      throw TensorError(where + ": output_padding must be smaller than either stride or dilation");
  }
  if (!p.transposed) {
    if (weight.shape()[1] * g.groups != g.c_in)
      throw TensorError(where + ": expected input with " + std::to_string(weight.shape()[1] * g.groups) +
                        " channels (weight in-channels " + std::to_string(weight.shape()[1]) + " x groups " +
                        std::to_string(g.groups) + "), got " + std::to_string(g.c_in));
    g.c_out = weight.shape()[0];
    if (g.c_out % g.groups != 0)
      throw TensorError(where + ": out channels " + std::to_string(g.c_out) + " not divisible by groups " + std::to_string(g.groups));
    for (int i = 0; i < 3; ++i) {
      std::int64_t span = g.dil[i] * (g.k[i] - 1) + 1;
      std::int64_t padded = g.in[i] + 2 * g.pad[i];
      if (padded < span)
        throw TensorError(where + ": kernel extent " + std::to_string(span) + " larger than the padded input " +
                          std::to_string(padded));
      g.out[i] = (padded - span) / g.stride[i] + 1;
    }
  } else {
    if (weight.shape()[0] != g.c_in)
      throw TensorError(where + ": expected input with " + std::to_string(weight.shape()[0]) + " channels, got " +
                        std::to_string(g.c_in));
    if (g.c_in % g.groups != 0)
      throw TensorError(where + ": in channels " + std::to_string(g.c_in) + " not divisible by groups " + std::to_string(g.groups));
    g.c_out = weight.shape()[1] * g.groups;
    for (int i = 0; i < 3; ++i) {
      g.out[i] = (g.in[i] - 1) * g.stride[i] - 2 * g.pad[i] + g.dil[i] * (g.k[i] - 1) + g.out_pad[i] + 1;
      if (g.out[i] <= 0) throw TensorError(where + ": output size " + std::to_string(g.out[i]) + " is not positive");
    }
  }
  if (bias && (bias->dim() != 1 || bias->shape()[0] != g.c_out))
    throw TensorError(where + ": bias of shape " + shape_to_string(bias->shape()) + " does not fit " +
                      std::to_string(g.c_out) + " output channels");
  return g;
}

inline Shape conv_output_shape(const ConvGeometry& g, std::size_t nsp) {
  Shape s{g.n, g.c_out};
  for (std::size_t i = 0; i < nsp; ++i) s.push_back(g.out[3 - nsp + i]);
  return s;
}

// col[(c, a, b, e), (od, oh, ow)] = x[c, od*s - p + a*d, ...] (0 outside), for `channels` channels
// and the output rows (od, oh) numbered r0 <= od * oH + oh < r1: a K x ((r1 - r0) * oW) block.
template <typename T>
void im2col(const T* x, std::int64_t channels, const ConvGeometry& g, std::int64_t r0, std::int64_t r1, T* col) {
  const std::int64_t iD = g.in[0], iH = g.in[1], iW = g.in[2];
  const std::int64_t oH = g.out[1], oW = g.out[2];
  const std::int64_t cols = (r1 - r0) * oW;
  T* dst = col;
  for (std::int64_t c = 0; c < channels; ++c) {
    const T* xc = x + c * g.in_size();
    for (std::int64_t a = 0; a < g.k[0]; ++a)
      for (std::int64_t b = 0; b < g.k[1]; ++b)
        for (std::int64_t e = 0; e < g.k[2]; ++e, dst += cols) {
          // valid ow range: 0 <= ow*sw - pw + e*dw < iW
          const std::int64_t off_w = e * g.dil[2] - g.pad[2];
          std::int64_t lo = off_w >= 0 ? 0 : (-off_w + g.stride[2] - 1) / g.stride[2];
          std::int64_t hi = iW - off_w <= 0 ? 0 : (iW - off_w - 1) / g.stride[2] + 1;
          lo = std::min(lo, oW);
          hi = std::min(std::max(hi, lo), oW);
          T* d = dst;
          for (std::int64_t r = r0; r < r1; ++r, d += oW) {
            const std::int64_t od = r / oH, oh = r % oH;
            const std::int64_t id = od * g.stride[0] - g.pad[0] + a * g.dil[0];
            const std::int64_t ih = oh * g.stride[1] - g.pad[1] + b * g.dil[1];
            if (id < 0 || id >= iD || ih < 0 || ih >= iH) {
              std::fill_n(d, oW, T(0));
              continue;
            }
            const T* row = xc + (id * iH + ih) * iW;
            std::fill_n(d, lo, T(0));
            if (g.stride[2] == 1) {
              if (hi > lo) std::copy(row + lo + off_w, row + hi + off_w, d + lo);
            } else {
              for (std::int64_t ow = lo; ow < hi; ++ow) d[ow] = row[ow * g.stride[2] + off_w];
            }
            std::fill(d + hi, d + oW, T(0));
          }
        }
  }
}

// out[co, od*s - p + a*d, ...] += col[(co, a, b, e), (id, ih, iw)] for the transposed conv.
template <typename T>
void col2im(const T* col, std::int64_t channels, const ConvGeometry& g, T* out) {
  const std::int64_t Pin = g.in_size();
  const std::int64_t iD = g.in[0], iH = g.in[1], iW = g.in[2];
  const std::int64_t oD = g.out[0], oH = g.out[1], oW = g.out[2];
  const T* src = col;
  for (std::int64_t c = 0; c < channels; ++c) {
    T* oc = out + c * g.out_size();
    for (std::int64_t a = 0; a < g.k[0]; ++a)
      for (std::int64_t b = 0; b < g.k[1]; ++b)
        for (std::int64_t e = 0; e < g.k[2]; ++e, src += Pin) {
          const T* s = src;
          for (std::int64_t id = 0; id < iD; ++id) {
            const std::int64_t od = id * g.stride[0] - g.pad[0] + a * g.dil[0];
            if (od < 0 || od >= oD) {
              s += iH * iW;
              continue;
            }
            for (std::int64_t ih = 0; ih < iH; ++ih, s += iW) {
              const std::int64_t oh = ih * g.stride[1] - g.pad[1] + b * g.dil[1];
              if (oh < 0 || oh >= oH) continue;
              T* drow = oc + (od * oH + oh) * oW;
              for (std::int64_t iw = 0; iw < iW; ++iw) {
                const std::int64_t ow = iw * g.stride[2] - g.pad[2] + e * g.dil[2];
                if (ow >= 0 && ow < oW) drow[ow] += s[iw];
              }
            }
          }
        }
  }
}

template <typename T>
void add_channel_bias(T* out, const T* bias, std::int64_t n, std::int64_t c_out, std::int64_t spatial) {
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < c_out; ++c) {
      T* o = out + (i * c_out + c) * spatial;
      const T bv = bias[c];
      for (std::int64_t k = 0; k < spatial; ++k) o[k] += bv;
    }
}

// The convolution im2cols blocks of whole output rows (od, oh) of about kConvBlockBytes, so a
// block stays in the L2 cache between im2col writing it and the GEMM packing it, instead of
// streaming a K x P matrix (7.4 MB for ResNet's first conv) out to memory and back. A block has
// at least kConvBlockMinCols columns: every GEMM re-packs the weight, which must stay a small
// share of its work (a deep layer's weight is megabytes and its K x P matrix fits L2 anyway).
inline constexpr std::int64_t kConvBlockBytes = std::int64_t(256) << 10;
inline constexpr std::int64_t kConvBlockMinCols = 1024;

template <typename T>
void conv_forward(const Tensor& input, const Tensor& weight, const Tensor* bias, const ConvGeometry& g, Tensor& out) {
  const std::int64_t cg_in = g.c_in / g.groups, cg_out = g.c_out / g.groups;
  const std::int64_t K = cg_in * g.k_size(), P = g.out_size();
  const bool direct = g.k_size() == 1 && g.stride == std::array<std::int64_t, 3>{1, 1, 1} &&
                      g.pad == std::array<std::int64_t, 3>{0, 0, 0};
  const std::int64_t oW = g.out[2], rows = g.out[0] * g.out[1];
  const std::int64_t want_cols =
      std::max(kConvBlockMinCols, kConvBlockBytes / std::max<std::int64_t>(1, K * static_cast<std::int64_t>(sizeof(T))));
  // Whole output rows per block; conv_geometry makes every output size at least 1, so oW, rows
  // and block_rows are all positive.
  const std::int64_t block_rows = direct ? rows : std::min(rows, (want_cols + oW - 1) / oW);
  // Uninitialised on purpose: im2col writes every element it hands the GEMM.
  Eigen::Matrix<T, Eigen::Dynamic, 1> col(direct ? 0 : K * block_rows * oW);
  using Out = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
  const T* x = input.data<T>();
  const T* w = weight.data<T>();
  T* y = out.data<T>();
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t gr = 0; gr < g.groups; ++gr) {
      const T* xg = x + (n * g.c_in + gr * cg_in) * g.in_size();
      ConstRowMajorMap<T> wg(w + gr * cg_out * K, cg_out, K);
      T* yg = y + (n * g.c_out + gr * cg_out) * P;
      if (direct) {
        RowMajorMap<T>(yg, cg_out, P).noalias() = wg * ConstRowMajorMap<T>(xg, K, P);
        continue;
      }
      for (std::int64_t r0 = 0; r0 < rows; r0 += block_rows) {
        const std::int64_t r1 = std::min(rows, r0 + block_rows), cols = (r1 - r0) * oW;
        im2col(xg, cg_in, g, r0, r1, col.data());
        Out(yg + r0 * oW, cg_out, cols, Eigen::OuterStride<>(P)).noalias() = wg * ConstRowMajorMap<T>(col.data(), K, cols);
      }
    }
  if (bias) add_channel_bias(y, bias->data<T>(), g.n, g.c_out, P);
}

template <typename T>
void conv_transpose_forward(const Tensor& input, const Tensor& weight, const Tensor* bias, const ConvGeometry& g,
                            Tensor& out) {
  const std::int64_t cg_in = g.c_in / g.groups, cg_out = g.c_out / g.groups;
  const std::int64_t Kk = g.k_size(), Pin = g.in_size(), Pout = g.out_size();
  Eigen::Matrix<T, Eigen::Dynamic, 1> col(cg_out * Kk * Pin);  // the GEMM writes every element
  const T* x = input.data<T>();
  const T* w = weight.data<T>();
  T* y = out.data<T>();
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t gr = 0; gr < g.groups; ++gr) {
      RowMajorMap<T> cm(col.data(), cg_out * Kk, Pin);
      cm.noalias() = ConstRowMajorMap<T>(w + gr * cg_in * cg_out * Kk, cg_in, cg_out * Kk).transpose() *
                     ConstRowMajorMap<T>(x + (n * g.c_in + gr * cg_in) * Pin, cg_in, Pin);
      col2im(col.data(), cg_out, g, y + (n * g.c_out + gr * cg_out) * Pout);
    }
  if (bias) add_channel_bias(y, bias->data<T>(), g.n, g.c_out, Pout);
}

}  // namespace detail

// `aten.convolution`: input [N, C_in, spatial...]; weight [C_out, C_in/groups, k...] or, when
// transposed, [C_in, C_out/groups, k...]; bias [C_out] or null. An unbatched input
// [C_in, spatial...] gives an unbatched output.
inline Tensor convolution(const Tensor& input, const Tensor& weight, const Tensor* bias, const ConvParams& p) {
  if (weight.dim() >= 3 && input.dim() + 1 == weight.dim()) {
    Shape batched = input.shape();
    batched.insert(batched.begin(), 1);
    Tensor out = convolution(input.reshaped(batched), weight, bias, p);
    Shape unbatched(out.shape().begin() + 1, out.shape().end());
    return out.reshaped(unbatched);
  }
  detail::ConvGeometry g = detail::conv_geometry(input, weight, bias, p);
  Tensor out(input.dtype(), detail::conv_output_shape(g, weight.dim() - 2));
  if (out.numel() == 0) return out;
  detail::dispatch_float(input.dtype(), "convolution", [&](auto tag) {
    using T = decltype(tag);
    if (p.transposed) detail::conv_transpose_forward<T>(input, weight, bias, g, out);
    else detail::conv_forward<T>(input, weight, bias, g, out);
  });
  return out;
}

// `aten.conv{1,2,3}d`.
inline Tensor conv(const Tensor& input, const Tensor& weight, const Tensor* bias = nullptr,
                   std::vector<std::int64_t> stride = {1}, std::vector<std::int64_t> padding = {0},
                   std::vector<std::int64_t> dilation = {1}, std::int64_t groups = 1) {
  ConvParams p;
  p.stride = std::move(stride);
  p.padding = std::move(padding);
  p.dilation = std::move(dilation);
  p.groups = groups;
  return convolution(input, weight, bias, p);
}

// `aten.conv_transpose{1,2,3}d` (argument order as in PyTorch: output_padding, groups, dilation).
inline Tensor conv_transpose(const Tensor& input, const Tensor& weight, const Tensor* bias = nullptr,
                             std::vector<std::int64_t> stride = {1}, std::vector<std::int64_t> padding = {0},
                             std::vector<std::int64_t> output_padding = {0}, std::int64_t groups = 1,
                             std::vector<std::int64_t> dilation = {1}) {
  ConvParams p;
  p.transposed = true;
  p.stride = std::move(stride);
  p.padding = std::move(padding);
  p.output_padding = std::move(output_padding);
  p.dilation = std::move(dilation);
  p.groups = groups;
  return convolution(input, weight, bias, p);
}

}  // namespace graft::kernels
