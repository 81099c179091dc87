// graft/tensor/eigen.hpp - Eigen views over graft::Tensor storage (no copies).
//
// Kept apart from tensor.hpp so that code which only moves tensors around does not parse Eigen.
#pragma once

#include <cstddef>
#include <string>

#include <Eigen/Core>

#include "graft/error.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft {

// Aligned Eigen views over a tensor's storage: a flat array, or a row-major matrix (const and not).
template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
template <typename T>
using MatrixMap =
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Aligned64>;
template <typename T>
using ConstMatrixMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Aligned64>;

// All elements as a 1-d Eigen array. Throws TensorError when T is not the tensor's dtype.
template <typename T>
ArrayMap<T> as_array(Tensor& t) {
  return ArrayMap<T>(t.data<T>(), static_cast<Eigen::Index>(t.numel()));
}
template <typename T>
ConstArrayMap<T> as_array(const Tensor& t) {
  return ConstArrayMap<T>(t.data<T>(), static_cast<Eigen::Index>(t.numel()));
}

namespace detail {
inline void check_matrix_view(const Tensor& t, Eigen::Index rows, Eigen::Index cols) {
  if (rows < 0 || cols < 0 || static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols) != t.numel())
    throw TensorError("cannot view a tensor of shape " + shape_to_string(t.shape()) + " as a " +
                      std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
}
}  // namespace detail

// The elements as a row-major rows x cols matrix; rows * cols must equal numel().
template <typename T>
MatrixMap<T> as_matrix(Tensor& t, Eigen::Index rows, Eigen::Index cols) {
  detail::check_matrix_view(t, rows, cols);
  return MatrixMap<T>(t.data<T>(), rows, cols);
}
template <typename T>
ConstMatrixMap<T> as_matrix(const Tensor& t, Eigen::Index rows, Eigen::Index cols) {
  detail::check_matrix_view(t, rows, cols);
  return ConstMatrixMap<T>(t.data<T>(), rows, cols);
}

// A tensor viewed as [shape[0], numel / shape[0]]: per-output-channel rows of a conv weight.
template <typename T>
MatrixMap<T> as_rows(Tensor& t) {
  Eigen::Index rows = t.dim() ? static_cast<Eigen::Index>(t.shape()[0]) : 1;
  return as_matrix<T>(t, rows, rows ? static_cast<Eigen::Index>(t.numel()) / rows : 0);
}
template <typename T>
ConstMatrixMap<T> as_rows(const Tensor& t) {
  Eigen::Index rows = t.dim() ? static_cast<Eigen::Index>(t.shape()[0]) : 1;
  return as_matrix<T>(t, rows, rows ? static_cast<Eigen::Index>(t.numel()) / rows : 0);
}

}  // namespace graft
