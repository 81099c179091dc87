// graft/tensor/tensor.hpp - a dense, contiguous, row-major tensor with value semantics.
//
// Storage is 64-byte aligned so Eigen maps over it vectorise (see graft/tensor/eigen.hpp).
// Copying a Tensor copies its data; moving is free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "graft/error.hpp"
#include "graft/fault.hpp"
#include "graft/tensor/dtype.hpp"

namespace graft {

using Shape = std::vector<std::int64_t>;

// "[2, 3, 8, 8]", for messages.
inline std::string shape_to_string(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The largest tensor graft allocates, in bytes (16 GiB unless the including program defines
// GRAFT_MAX_TENSOR_BYTES before the first graft header). A shape beyond it is a TensorError, so a
// hostile file or literal argument (a huge padding, say) cannot make graft allocate without bound.
#ifndef GRAFT_MAX_TENSOR_BYTES
#define GRAFT_MAX_TENSOR_BYTES (std::size_t{1} << 34)
#endif
inline constexpr std::size_t kMaxTensorBytes = GRAFT_MAX_TENSOR_BYTES;

namespace detail {
struct AlignedDelete {
  void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t(64)); }
};

// Number of elements of `shape`; throws on a negative dimension or when the byte size of the
// tensor would overflow.
inline std::size_t checked_numel(const Shape& shape, std::size_t element_size) {
  std::size_t n = 1;
  const std::size_t limit = std::numeric_limits<std::size_t>::max() / (element_size ? element_size : 1);
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0)
      throw TensorError("tensor shape " + shape_to_string(shape) + " has a negative size at dimension " +
                        std::to_string(i));
    auto d = static_cast<std::size_t>(shape[i]);
    if (d != 0 && n > limit / d)
      throw TensorError("tensor shape " + shape_to_string(shape) + " has too many elements");
    n *= d;
  }
  if (n * element_size > kMaxTensorBytes)
    throw TensorError("tensor shape " + shape_to_string(shape) + " needs " + std::to_string(n * element_size) +
                      " bytes, more than the limit of " + std::to_string(kMaxTensorBytes) + " (GRAFT_MAX_TENSOR_BYTES)");
  return n;
}
}  // namespace detail

class Tensor {
 public:
  // An empty float32 tensor of shape [0].
  Tensor() : shape_{0} {}
  // A zero-filled tensor. `dtype` must be a storage dtype (see is_storage_dtype).
  Tensor(DType dtype, Shape shape) : Tensor(dtype, std::move(shape), Uninitialized{}) {
    if (nbytes()) std::memset(data_.get(), 0, nbytes());
  }
  // A tensor whose elements are not initialised, for kernels that write every element before
  // anything reads one (the BN fold's output: zero-filling it first would be a third pass over
  // memory for a two-pass job). Reading an element before writing it is undefined.
  static Tensor uninitialized(DType dtype, Shape shape) { return Tensor(dtype, std::move(shape), Uninitialized{}); }
  // A tensor holding `values` (row-major), whose count must match `shape`.
  template <typename T>
  static Tensor from(const std::vector<T>& values, Shape shape) {
    constexpr auto dt = dtype_of<T>();
    static_assert(dt.has_value(), "Tensor::from: T must be float, double, int8_t, uint8_t, int32_t, int64_t or bool");
    Tensor t(*dt, std::move(shape));
    if (values.size() != t.numel())
      throw TensorError("Tensor::from: " + std::to_string(values.size()) + " values for shape " +
                        shape_to_string(t.shape()) + " (" + std::to_string(t.numel()) + " elements)");
    T* out = t.data<T>();
    for (std::size_t i = 0; i < values.size(); ++i) out[i] = values[i];
    return t;
  }
  // A tensor of `shape` with every element equal to `value`.
  template <typename T>
  static Tensor full(Shape shape, T value) {
    constexpr auto dt = dtype_of<T>();
    static_assert(dt.has_value(), "Tensor::full: unsupported element type");
    Tensor t(*dt, std::move(shape));
    T* out = t.data<T>();
    for (std::size_t i = 0; i < t.numel(); ++i) out[i] = value;
    return t;
  }

  Tensor(const Tensor& o) : dtype_(o.dtype_), shape_(o.shape_), numel_(o.numel_) {
    allocate();
    if (nbytes()) std::memcpy(data_.get(), o.data_.get(), nbytes());
  }
  Tensor& operator=(const Tensor& o) {
    if (this != &o) {
      Tensor t(o);
      *this = std::move(t);
    }
    return *this;
  }
  Tensor(Tensor&& o) noexcept
      : dtype_(o.dtype_), shape_(std::move(o.shape_)), numel_(o.numel_), data_(std::move(o.data_)) {
    o.shape_ = {0};
    o.numel_ = 0;
  }
  Tensor& operator=(Tensor&& o) noexcept {
    dtype_ = o.dtype_;
    shape_ = std::move(o.shape_);
    numel_ = o.numel_;
    data_ = std::move(o.data_);
    o.shape_ = {0};
    o.numel_ = 0;
    return *this;
  }

  DType dtype() const noexcept { return dtype_; }
  const Shape& shape() const noexcept { return shape_; }
  std::size_t dim() const noexcept { return shape_.size(); }
  // Size of dimension `d`; negative `d` counts from the end, as in PyTorch.
  std::int64_t size(std::int64_t d) const {
    auto nd = static_cast<std::int64_t>(shape_.size());
    if (d < -nd || d >= nd)
      throw TensorError("dimension " + std::to_string(d) + " out of range for a " +
                        std::to_string(nd) + "-d tensor");
    return shape_[static_cast<std::size_t>(d < 0 ? d + nd : d)];
  }
  std::size_t numel() const noexcept { return numel_; }
  std::size_t element_size() const noexcept { return dtype_size(dtype_); }
  std::size_t nbytes() const noexcept { return numel_ * element_size(); }
  // Row-major strides, in elements.
  Shape strides() const {
    Shape s(shape_.size(), 1);
    for (std::size_t i = shape_.size(); i-- > 1;) s[i - 1] = s[i] * shape_[i];
    return s;
  }

  // The elements as T; TensorError when T is not the tensor's dtype.
  template <typename T>
  T* data() {
    check_type<T>();
    return reinterpret_cast<T*>(data_.get());
  }
  template <typename T>
  const T* data() const {
    check_type<T>();
    return reinterpret_cast<const T*>(data_.get());
  }
  std::byte* raw_data() noexcept { return data_.get(); }
  const std::byte* raw_data() const noexcept { return data_.get(); }

  // The same data under another shape with the same number of elements.
  Tensor reshaped(Shape shape) const {
    std::size_t n = detail::checked_numel(shape, element_size());
    if (n != numel_)
      throw TensorError("cannot reshape a tensor of shape " + shape_to_string(shape_) + " to " +
                        shape_to_string(shape));
    Tensor t(*this);
    t.shape_ = std::move(shape);
    return t;
  }

  // Same dtype, shape and bytes.
  friend bool operator==(const Tensor& a, const Tensor& b) noexcept {
    return a.dtype_ == b.dtype_ && a.shape_ == b.shape_ &&
           (a.nbytes() == 0 || std::memcmp(a.data_.get(), b.data_.get(), a.nbytes()) == 0);
  }
  friend bool operator!=(const Tensor& a, const Tensor& b) noexcept { return !(a == b); }

 private:
  struct Uninitialized {};
  Tensor(DType dtype, Shape shape, Uninitialized) : dtype_(dtype), shape_(std::move(shape)) {
    if (!is_storage_dtype(dtype))
      throw TensorError("dtype " + std::string(dtype_name(dtype)) + " cannot back a graft::Tensor");
    numel_ = detail::checked_numel(shape_, dtype_size(dtype));
    allocate();
  }
  void allocate() {
    std::size_t bytes = nbytes();
    if (bytes == 0) return;
    GRAFT_FAULT_POINT("tensor: allocation");
    data_.reset(static_cast<std::byte*>(::operator new[](bytes, std::align_val_t(64))));
  }
  template <typename T>
  void check_type() const {
    constexpr auto dt = dtype_of<T>();
    static_assert(dt.has_value(), "Tensor::data<T>: unsupported element type");
    if (*dt != dtype_)
      throw TensorError("tensor holds " + std::string(dtype_name(dtype_)) + ", not " +
                        std::string(dtype_name(*dt)));
  }

  DType dtype_ = DType::float32;
  Shape shape_;
  std::size_t numel_ = 0;
  std::unique_ptr<std::byte[], detail::AlignedDelete> data_;
};

}  // namespace graft
