// graft/tensor/ops.hpp - elementwise, broadcasting, shape and small linear-algebra kernels with
// PyTorch semantics (float32 and float64; the arithmetic ops also take the integer dtypes).
//
// Kernels live in graft::kernels; they take and return graft::Tensor by value/reference and throw
// TensorError naming the shapes or dtypes at fault.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "graft/error.hpp"
#include "graft/tensor/dispatch.hpp"
#include "graft/tensor/dtype.hpp"
#include "graft/tensor/eigen.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft::kernels {

namespace detail {

inline std::int64_t wrap_dim(std::int64_t d, std::int64_t ndim, const char* what) {
  std::int64_t n = std::max<std::int64_t>(ndim, 1);
  if (d < -n || d >= n)
    throw TensorError(std::string(what) + ": dimension " + std::to_string(d) + " out of range for a " +
                      std::to_string(ndim) + "-d tensor");
  return d < 0 ? d + n : d;
}

}  // namespace detail

// ---- Broadcasting -----------------------------------------------------------------------------

// NumPy/PyTorch broadcasting of two shapes; TensorError naming both when they do not broadcast.
inline Shape broadcast_shapes(const Shape& a, const Shape& b) {
  std::size_t n = std::max(a.size(), b.size());
  Shape out(n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw TensorError("shapes " + shape_to_string(a) + " and " + shape_to_string(b) +
                        " do not broadcast (dimension " + std::to_string(i) + ": " + std::to_string(da) +
                        " vs " + std::to_string(db) + ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// The result dtype of a binary op on two tensors: equal dtypes, or a 0-d tensor (a wrapped
// scalar) adopting the other's dtype unless it is a float scalar meeting an integer tensor, as in
// PyTorch. Two dimensioned tensors of different dtypes are an error (PyTorch would promote; graft
// reports it, because in a rewritten graph it is almost always a bug).
inline DType binary_result_dtype(const Tensor& a, const Tensor& b, const char* what) {
  if (a.dtype() == b.dtype()) return a.dtype();
  const bool fa = is_floating(a.dtype()), fb = is_floating(b.dtype());
  if (a.dim() == 0 && b.dim() != 0) return fa && !fb ? a.dtype() : b.dtype();
  if (b.dim() == 0 && a.dim() != 0) return fb && !fa ? b.dtype() : a.dtype();
  throw TensorError(std::string(what) + ": dtype mismatch, " + detail::dt(a.dtype()) + " " +
                    shape_to_string(a.shape()) + " vs " + detail::dt(b.dtype()) + " " + shape_to_string(b.shape()));
}

// A copy of `t` converted to `to` (float->int truncates toward zero, as a C++ cast; a NaN or
// out-of-range value is a TensorError naming the element).
inline Tensor to_dtype(const Tensor& t, DType to) {
  if (t.dtype() == to) return t;
  Tensor out(to, t.shape());
  detail::dispatch_numeric(t.dtype(), "to_dtype", [&](auto src) {
    using S = decltype(src);
    const S* in = t.data<S>();
    if (to == DType::boolean) {
      bool* o = out.data<bool>();
      for (std::size_t i = 0; i < t.numel(); ++i) o[i] = in[i] != S(0);
      return;
    }
    detail::dispatch_numeric(to, "to_dtype", [&](auto dst) {
      using D = decltype(dst);
      D* o = out.data<D>();
      if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
        // A float that does not fit the integer type would be undefined behaviour to cast.
        for (std::size_t i = 0; i < t.numel(); ++i) {
          const auto v = static_cast<long double>(in[i]);
          if (!(v > static_cast<long double>(std::numeric_limits<D>::min()) - 1.0L &&
                v < static_cast<long double>(std::numeric_limits<D>::max()) + 1.0L))
            throw TensorError("to_dtype: element " + std::to_string(i) + " (" + std::to_string(static_cast<double>(in[i])) +
                              ") does not fit " + detail::dt(to));
          o[i] = static_cast<D>(in[i]);
        }
      } else {
        for (std::size_t i = 0; i < t.numel(); ++i) o[i] = static_cast<D>(in[i]);
      }
    });
  });
  return out;
}

namespace detail {

// out[i] = f(a[ia], b[ib]) over the broadcast shape; same-shape and scalar cases take a flat
// loop that vectorises.
template <typename T, typename F>
void broadcast_apply(const T* a, const Shape& sa, const T* b, const Shape& sb, T* out, const Shape& so, F f) {
  std::size_t n = 1;
  for (auto d : so) n *= static_cast<std::size_t>(d);
  std::size_t na = 1, nb = 1;
  for (auto d : sa) na *= static_cast<std::size_t>(d);
  for (auto d : sb) nb *= static_cast<std::size_t>(d);
  if (na == n && nb == n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
    return;
  }
  if (nb == 1 && na == n) {
    const T bv = b[0];
    for (std::size_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
    return;
  }
  if (na == 1 && nb == n) {
    const T av = a[0];
    for (std::size_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
    return;
  }
  // General case: strides of a and b over the output's dims (0 where broadcast); the innermost
  // dimension runs as a plain loop, the outer ones as an odometer.
  const std::size_t nd = so.size();
  std::vector<std::int64_t> st_a(nd, 0), st_b(nd, 0);
  {
    std::int64_t s = 1;
    for (std::size_t i = sa.size(); i-- > 0;) {
      std::size_t o = i + (nd - sa.size());
      st_a[o] = sa[i] == 1 ? 0 : s;
      s *= sa[i];
    }
    s = 1;
    for (std::size_t i = sb.size(); i-- > 0;) {
      std::size_t o = i + (nd - sb.size());
      st_b[o] = sb[i] == 1 ? 0 : s;
      s *= sb[i];
    }
  }
  if (n == 0) return;
  const std::int64_t inner = so[nd - 1];
  const std::int64_t ia_step = st_a[nd - 1], ib_step = st_b[nd - 1];
  std::vector<std::int64_t> idx(nd, 0);
  std::int64_t off_a = 0, off_b = 0;
  for (std::size_t o = 0; o < n; o += static_cast<std::size_t>(inner)) {
    for (std::int64_t j = 0; j < inner; ++j) out[o + static_cast<std::size_t>(j)] = f(a[off_a + j * ia_step], b[off_b + j * ib_step]);
    // advance the odometer over dims [0, nd-1)
    for (std::size_t d = nd - 1; d-- > 0;) {
      if (++idx[d] < so[d]) {
        off_a += st_a[d];
        off_b += st_b[d];
        break;
      }
      off_a -= st_a[d] * (so[d] - 1);
      off_b -= st_b[d] * (so[d] - 1);
      idx[d] = 0;
    }
  }
}

template <typename Op>
Tensor binary(const Tensor& a0, const Tensor& b0, const char* what, Op op) {
  DType rt = binary_result_dtype(a0, b0, what);
  const Tensor* pa = &a0;
  const Tensor* pb = &b0;
  Tensor ca, cb;
  if (a0.dtype() != rt) pa = &(ca = to_dtype(a0, rt));
  if (b0.dtype() != rt) pb = &(cb = to_dtype(b0, rt));
  Shape so = broadcast_shapes(pa->shape(), pb->shape());
  Tensor out(rt, so);
  dispatch_numeric(rt, what, [&](auto tag) {
    using T = decltype(tag);
    broadcast_apply<T>(pa->data<T>(), pa->shape(), pb->data<T>(), pb->shape(), out.data<T>(), so,
                       [&](T x, T y) { return op(x, y); });
  });
  return out;
}

// A 0-d tensor holding `v`, of `like`'s dtype (a Python scalar in an op keeps the tensor's dtype,
// except that a float scalar with an integer tensor gives float32).
inline Tensor scalar_like(const Tensor& like, double v, bool is_float_scalar) {
  DType t = like.dtype();
  if (is_float_scalar && !is_floating(t)) t = DType::float32;
  Tensor s(t, {});
  dispatch_numeric(t, "scalar", [&](auto tag) {
    using T = decltype(tag);
    s.data<T>()[0] = static_cast<T>(v);
  });
  return s;
}

}  // namespace detail

// Makes a 0-d tensor from a Python scalar for use with the binary ops below.
inline Tensor scalar_tensor(const Tensor& like, double v, bool is_float_scalar = true) {
  return detail::scalar_like(like, v, is_float_scalar);
}

// a + alpha * b, broadcasting.
inline Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0) {
  if (alpha == 1.0) return detail::binary(a, b, "add", [](auto x, auto y) { return decltype(x)(x + y); });
  return detail::binary(a, b, "add", [alpha](auto x, auto y) {
    using T = decltype(x);
    return T(x + static_cast<T>(alpha) * y);
  });
}
// a - alpha * b, broadcasting.
inline Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0) {
  return detail::binary(a, b, "sub", [alpha](auto x, auto y) {
    using T = decltype(x);
    return alpha == 1.0 ? T(x - y) : T(x - static_cast<T>(alpha) * y);
  });
}
// a * b, broadcasting.
inline Tensor mul(const Tensor& a, const Tensor& b) {
  return detail::binary(a, b, "mul", [](auto x, auto y) { return decltype(x)(x * y); });
}
// True division; integer inputs give float32, as in PyTorch.
inline Tensor div(const Tensor& a, const Tensor& b) {
  if (!is_floating(a.dtype()) && !is_floating(b.dtype()))
    return div(to_dtype(a, DType::float32), to_dtype(b, DType::float32));
  return detail::binary(a, b, "div", [](auto x, auto y) { return decltype(x)(x / y); });
}

// Writes `value` into `self` (same number of elements after broadcasting to self's shape): the
// result of an in-place op. Throws when the result's shape or dtype differs from self's.
inline void assign_inplace(Tensor& self, Tensor value, const char* what) {
  if (value.shape() != self.shape())
    throw TensorError(std::string(what) + ": in-place result of shape " + shape_to_string(value.shape()) +
                      " does not fit self of shape " + shape_to_string(self.shape()));
  if (value.dtype() != self.dtype()) value = to_dtype(value, self.dtype());
  self = std::move(value);
}

// ---- Unary ------------------------------------------------------------------------------------

namespace detail {
template <typename F>
Tensor unary_float(const Tensor& x, const char* what, F f) {
  Tensor out(x.dtype(), x.shape());
  dispatch_float(x.dtype(), what, [&](auto tag) {
    using T = decltype(tag);
    auto in = as_array<T>(x);
    auto o = as_array<T>(out);
    f(in, o);
  });
  return out;
}
}  // namespace detail

// std::sqrt, not Eigen's: under EIGEN_FAST_MATH (its default) Eigen's float sqrt is an rsqrt
// approximation plus a Newton step, which is not correctly rounded.
inline Tensor sqrt(const Tensor& x) {
  return detail::unary_float(x, "sqrt", [](const auto& in, auto& o) {
    for (Eigen::Index i = 0; i < in.size(); ++i) o[i] = std::sqrt(in[i]);
  });
}
// 1 / sqrt(x), computed as such (correctly rounded sqrt, then a division).
inline Tensor rsqrt(const Tensor& x) {
  return detail::unary_float(x, "rsqrt", [](const auto& in, auto& o) {
    using T = typename std::decay_t<decltype(in)>::Scalar;
    for (Eigen::Index i = 0; i < in.size(); ++i) o[i] = T(1) / std::sqrt(in[i]);
  });
}
// -x.
inline Tensor neg(const Tensor& x) {
  return detail::unary_float(x, "neg", [](const auto& in, auto& o) { o = -in; });
}
// 1 / x.
inline Tensor reciprocal(const Tensor& x) {
  return detail::unary_float(x, "reciprocal", [](const auto& in, auto& o) { o = in.inverse(); });
}
// max(x, 0), NaN kept.
inline Tensor relu(const Tensor& x) {
  return detail::unary_float(x, "relu", [](const auto& in, auto& o) {
    using T = typename std::decay_t<decltype(in)>::Scalar;
    // NaN propagates, as torch.relu does.
    for (Eigen::Index i = 0; i < in.size(); ++i) o[i] = in[i] < T(0) ? T(0) : in[i];
  });
}
// x limited to [lo, hi] (hardtanh, relu6).
inline Tensor clamp(const Tensor& x, double lo, double hi) {
  return detail::unary_float(x, "clamp", [lo, hi](const auto& in, auto& o) {
    using T = typename std::decay_t<decltype(in)>::Scalar;
    const T l = static_cast<T>(lo), h = static_cast<T>(hi);
    for (Eigen::Index i = 0; i < in.size(); ++i) {
      T v = in[i];
      o[i] = v < l ? l : (v > h ? h : v);
    }
  });
}
// hardtanh(min_val, max_val); relu6 is hardtanh(0, 6).
inline Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0) {
  return clamp(x, min_val, max_val);
}
// x * relu6(x + 3) / 6
inline Tensor hardswish(const Tensor& x) {
  return detail::unary_float(x, "hardswish", [](const auto& in, auto& o) {
    using T = typename std::decay_t<decltype(in)>::Scalar;
    for (Eigen::Index i = 0; i < in.size(); ++i) {
      T v = in[i];
      T r = std::min(std::max(v + T(3), T(0)), T(6));
      o[i] = v * r / T(6);
    }
  });
}
// relu6(x + 3) / 6
inline Tensor hardsigmoid(const Tensor& x) {
  return detail::unary_float(x, "hardsigmoid", [](const auto& in, auto& o) {
    using T = typename std::decay_t<decltype(in)>::Scalar;
    for (Eigen::Index i = 0; i < in.size(); ++i) o[i] = std::min(std::max(in[i] + T(3), T(0)), T(6)) / T(6);
  });
}
// 1 / (1 + exp(-x)).
inline Tensor sigmoid(const Tensor& x) {
  return detail::unary_float(x, "sigmoid", [](const auto& in, auto& o) {
    using T = typename std::decay_t<decltype(in)>::Scalar;
    for (Eigen::Index i = 0; i < in.size(); ++i) o[i] = T(1) / (T(1) + std::exp(-in[i]));
  });
}
// tanh(x).
inline Tensor tanh(const Tensor& x) {
  return detail::unary_float(x, "tanh", [](const auto& in, auto& o) {
    for (Eigen::Index i = 0; i < in.size(); ++i) o[i] = std::tanh(in[i]);
  });
}
// x * sigmoid(x)
inline Tensor silu(const Tensor& x) {
  return detail::unary_float(x, "silu", [](const auto& in, auto& o) {
    using T = typename std::decay_t<decltype(in)>::Scalar;
    for (Eigen::Index i = 0; i < in.size(); ++i) o[i] = in[i] / (T(1) + std::exp(-in[i]));
  });
}

// Zeros / ones of the shape and dtype of `x`.
inline Tensor zeros_like(const Tensor& x) { return Tensor(x.dtype(), x.shape()); }
inline Tensor ones_like(const Tensor& x) {
  Tensor out(x.dtype(), x.shape());
  if (x.dtype() == DType::boolean) {
    std::fill_n(out.data<bool>(), out.numel(), true);
    return out;
  }
  detail::dispatch_numeric(x.dtype(), "ones_like", [&](auto tag) {
    using T = decltype(tag);
    std::fill_n(out.data<T>(), out.numel(), T(1));
  });
  return out;
}

// ---- Shapes -----------------------------------------------------------------------------------

// Resolves one -1 in `shape` against `numel`; TensorError when the shape does not fit.
inline Shape infer_shape(const Shape& shape, std::size_t numel, const Shape& from) {
  Shape out = shape;
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (infer >= 0) throw TensorError("reshape to " + shape_to_string(shape) + ": only one dimension can be -1");
      infer = static_cast<int>(i);
    } else if (out[i] < 0) {
      throw TensorError("reshape to " + shape_to_string(shape) + ": invalid size " + std::to_string(out[i]));
    } else {
      known *= out[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || static_cast<std::int64_t>(numel) % known != 0)
      throw TensorError("cannot reshape a tensor of shape " + shape_to_string(from) + " to " + shape_to_string(shape));
    out[static_cast<std::size_t>(infer)] = static_cast<std::int64_t>(numel) / known;
  } else if (static_cast<std::size_t>(known) != numel) {
    throw TensorError("cannot reshape a tensor of shape " + shape_to_string(from) + " to " + shape_to_string(shape));
  }
  return out;
}

// reshape/view (a copy: graft tensors own their storage).
inline Tensor reshape(const Tensor& x, const Shape& shape) {
  return x.reshaped(infer_shape(shape, x.numel(), x.shape()));
}
// Dimensions start_dim..end_dim merged into one, as torch.flatten.
inline Tensor flatten(const Tensor& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1) {
  auto nd = static_cast<std::int64_t>(x.dim());
  if (nd == 0) return x.reshaped({1});
  std::int64_t s = detail::wrap_dim(start_dim, nd, "flatten");
  std::int64_t e = detail::wrap_dim(end_dim, nd, "flatten");
  if (s > e) throw TensorError("flatten: start_dim " + std::to_string(start_dim) + " comes after end_dim " + std::to_string(end_dim));
  Shape out;
  std::int64_t m = 1;
  for (std::int64_t i = 0; i < nd; ++i) {
    if (i < s || i > e) out.push_back(x.shape()[static_cast<std::size_t>(i)]);
    else {
      m *= x.shape()[static_cast<std::size_t>(i)];
      if (i == e) out.push_back(m);
    }
  }
  return x.reshaped(out);
}

// Transpose of a <= 2-d tensor.
inline Tensor t(const Tensor& x) {
  if (x.dim() > 2) throw TensorError("t: expects a tensor with <= 2 dimensions, got shape " + shape_to_string(x.shape()));
  if (x.dim() < 2) return x;
  const std::int64_t r = x.shape()[0], c = x.shape()[1];
  Tensor out(x.dtype(), {c, r});
  detail::dispatch_numeric(x.dtype(), "t", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t i = 0; i < r; ++i)
      for (std::int64_t j = 0; j < c; ++j) o[j * r + i] = in[i * c + j];
  });
  return out;
}

// Concatenation along `dim`; all tensors must agree in dtype and in every other dimension.
inline Tensor cat(const std::vector<const Tensor*>& xs, std::int64_t dim = 0) {
  if (xs.empty()) throw TensorError("cat: expected a non-empty list of tensors");
  const Tensor& first = *xs[0];
  auto nd = static_cast<std::int64_t>(first.dim());
  if (nd == 0) throw TensorError("cat: zero-dimensional tensor cannot be concatenated");
  std::int64_t d = detail::wrap_dim(dim, nd, "cat");
  Shape out_shape = first.shape();
  out_shape[static_cast<std::size_t>(d)] = 0;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    const Tensor& x = *xs[k];
    if (x.dtype() != first.dtype())
      throw TensorError("cat: tensor " + std::to_string(k) + " is " + detail::dt(x.dtype()) + ", tensor 0 is " + detail::dt(first.dtype()));
    bool ok = x.dim() == first.dim();
    for (std::size_t i = 0; ok && i < x.dim(); ++i)
      if (static_cast<std::int64_t>(i) != d && x.shape()[i] != first.shape()[i]) ok = false;
    if (!ok)
      throw TensorError("cat: tensor " + std::to_string(k) + " of shape " + shape_to_string(x.shape()) +
                        " does not match tensor 0 of shape " + shape_to_string(first.shape()) + " outside dimension " + std::to_string(d));
    out_shape[static_cast<std::size_t>(d)] += x.shape()[static_cast<std::size_t>(d)];
  }
  Tensor out(first.dtype(), out_shape);
  std::size_t outer = 1, inner = 1;
  for (std::int64_t i = 0; i < d; ++i) outer *= static_cast<std::size_t>(out_shape[static_cast<std::size_t>(i)]);
  for (std::int64_t i = d + 1; i < nd; ++i) inner *= static_cast<std::size_t>(out_shape[static_cast<std::size_t>(i)]);
  const std::size_t es = first.element_size();
  const std::size_t out_row = static_cast<std::size_t>(out_shape[static_cast<std::size_t>(d)]) * inner * es;
  std::size_t col = 0;
  for (const Tensor* x : xs) {
    const std::size_t chunk = static_cast<std::size_t>(x->shape()[static_cast<std::size_t>(d)]) * inner * es;
    for (std::size_t o = 0; o < outer && chunk; ++o)
      std::memcpy(out.raw_data() + o * out_row + col, x->raw_data() + o * chunk, chunk);
    col += chunk;
  }
  return out;
}

// Mean over `dims` (all dims when empty), accumulated in double.
inline Tensor mean_dim(const Tensor& x, std::vector<std::int64_t> dims, bool keepdim = false) {
  auto nd = static_cast<std::int64_t>(x.dim());
  std::vector<bool> reduce(x.dim(), dims.empty());
  for (auto d : dims) reduce[static_cast<std::size_t>(detail::wrap_dim(d, nd, "mean"))] = true;
  Shape out_shape;
  for (std::size_t i = 0; i < x.dim(); ++i) {
    if (!reduce[i]) out_shape.push_back(x.shape()[i]);
    else if (keepdim) out_shape.push_back(1);
  }
  Tensor out(x.dtype(), out_shape);
  detail::dispatch_float(x.dtype(), "mean", [&](auto tag) {
    using T = decltype(tag);
    // Output index of each input element via strides over the kept dims.
    Shape ostr(x.dim(), 0);
    std::int64_t s = 1;
    std::size_t count = 1;
    for (std::size_t i = x.dim(); i-- > 0;) {
      if (reduce[i]) {
        count *= static_cast<std::size_t>(x.shape()[i]);
      } else {
        ostr[i] = s;
        s *= x.shape()[i];
      }
    }
    std::vector<double> acc(out.numel(), 0.0);
    const T* in = x.data<T>();
    std::vector<std::int64_t> idx(x.dim(), 0);
    std::int64_t off = 0;
    for (std::size_t k = 0; k < x.numel(); ++k) {
      acc[static_cast<std::size_t>(off)] += static_cast<double>(in[k]);
      for (std::size_t dd = x.dim(); dd-- > 0;) {
        if (++idx[dd] < x.shape()[dd]) {
          off += ostr[dd];
          break;
        }
        off -= ostr[dd] * (x.shape()[dd] - 1);
        idx[dd] = 0;
      }
    }
    T* o = out.data<T>();
    for (std::size_t k = 0; k < out.numel(); ++k)
      o[k] = count ? static_cast<T>(acc[k] / static_cast<double>(count)) : std::numeric_limits<T>::quiet_NaN();
  });
  return out;
}

// ---- Linear algebra ---------------------------------------------------------------------------

// a [n, k] @ b [k, m]
inline Tensor mm(const Tensor& a, const Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2 || a.shape()[1] != b.shape()[0])
    throw TensorError("mm: shapes " + shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()) + " cannot be multiplied");
  if (a.dtype() != b.dtype())
    throw TensorError("mm: dtype mismatch, " + detail::dt(a.dtype()) + " vs " + detail::dt(b.dtype()));
  Tensor out(a.dtype(), {a.shape()[0], b.shape()[1]});
  detail::dispatch_float(a.dtype(), "mm", [&](auto tag) {
    using T = decltype(tag);
    as_matrix<T>(out, a.shape()[0], b.shape()[1]).noalias() =
        as_matrix<T>(a, a.shape()[0], a.shape()[1]) * as_matrix<T>(b, b.shape()[0], b.shape()[1]);
  });
  return out;
}

// beta * self + alpha * (mat1 @ mat2), self broadcast to the product's shape.
inline Tensor addmm(const Tensor& self, const Tensor& mat1, const Tensor& mat2, double beta = 1.0, double alpha = 1.0) {
  Tensor prod = mm(mat1, mat2);
  Tensor scaled_prod = alpha == 1.0 ? std::move(prod) : mul(prod, scalar_tensor(prod, alpha));
  if (beta == 0.0) return scaled_prod;
  Tensor s = beta == 1.0 ? self : mul(self, scalar_tensor(self, beta));
  return add(s, scaled_prod);
}

// input [..., in] @ weight[out, in]^T + bias[out]
inline Tensor linear(const Tensor& input, const Tensor& weight, const Tensor* bias = nullptr) {
  if (input.dim() < 1 || weight.dim() != 2 || input.shape().back() != weight.shape()[1])
    throw TensorError("linear: input " + shape_to_string(input.shape()) + " does not fit weight " + shape_to_string(weight.shape()));
  if (input.dtype() != weight.dtype())
    throw TensorError("linear: dtype mismatch, input " + detail::dt(input.dtype()) + " vs weight " + detail::dt(weight.dtype()));
  const std::int64_t in_f = weight.shape()[1], out_f = weight.shape()[0];
  const std::int64_t rows = in_f ? static_cast<std::int64_t>(input.numel()) / in_f : 0;
  Shape out_shape = input.shape();
  out_shape.back() = out_f;
  Tensor out(input.dtype(), out_shape);
  if (bias && (bias->numel() != static_cast<std::size_t>(out_f) || bias->dtype() != input.dtype()))
    throw TensorError("linear: bias " + shape_to_string(bias->shape()) + " " + detail::dt(bias->dtype()) +
                      " does not fit " + std::to_string(out_f) + " outputs of " + detail::dt(input.dtype()));
  detail::dispatch_float(input.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    auto o = as_matrix<T>(out, rows, out_f);
    o.noalias() = as_matrix<T>(input, rows, in_f) * as_matrix<T>(weight, out_f, in_f).transpose();
    if (bias) o.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias->data<T>(), out_f);
  });
  return out;
}

}  // namespace graft::kernels
