// graft/tensor/dispatch.hpp - calling a generic lambda with a tensor dtype's element type.
//
// Split from ops.hpp so that code needing only the dispatch (the BN fold used by convert) does
// not parse and instantiate the elementwise kernels: that kept about 1.5 s out of every
// translation unit that includes the QAT passes (docs/performance.md, compile cost).
#pragma once

#include <cstdint>
#include <string>

#include "graft/error.hpp"
#include "graft/tensor/dtype.hpp"

namespace graft::kernels::detail {

inline std::string dt(DType t) { return std::string(dtype_name(t)); }

// Calls f(T{}) with T the element type of a float dtype; TensorError for any other dtype.
template <typename F>
decltype(auto) dispatch_float(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::float32: return f(float{});
    case DType::float64: return f(double{});
    default: break;
  }
  throw TensorError(std::string(what) + ": expected a float32 or float64 tensor, got " + dt(t));
}

// As dispatch_float, plus int8, uint8, int32 and int64.
template <typename F>
decltype(auto) dispatch_numeric(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::float32: return f(float{});
    case DType::float64: return f(double{});
    case DType::int8: return f(std::int8_t{});
    case DType::uint8: return f(std::uint8_t{});
    case DType::int32: return f(std::int32_t{});
    case DType::int64: return f(std::int64_t{});
    default: break;
  }
  throw TensorError(std::string(what) + ": dtype " + dt(t) + " is not supported");
}

}  // namespace graft::kernels::detail
