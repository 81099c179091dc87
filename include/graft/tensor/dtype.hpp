// graft/tensor/dtype.hpp - torch scalar types, as graph literals and as tensor element types.
//
// `DType` names every torch dtype a graph may mention (`torch.int8` in a quantize node's
// arguments); the subset with `is_storage_dtype` can back a `Tensor`. Also: torch's names for them
// (and parsing those), element sizes, and the dtype of a C++ element type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace graft {

// Every torch dtype a graph may mention as a literal (`dtype=torch.int8`). Only the subset for
// which `is_storage_dtype` holds can back a `Tensor`.
enum class DType : std::uint8_t {
  float32,
  float64,
  float16,
  bfloat16,
  int8,
  uint8,
  int16,
  int32,
  int64,
  boolean,
  complex64,
  complex128,
  qint8,
  quint8,
  qint32,
  quint4x2,
  uint16,
  uint32,
  uint64,
  float8_e4m3fn,
  float8_e5m2,
};

namespace detail {
struct DTypeInfo {
  DType dtype;
  std::string_view name;   // torch name without the `torch.` prefix
  std::string_view alias;  // torch's second spelling (`float` for float32), empty if none
  std::size_t size;        // bytes per element
  bool storage;            // may back a graft::Tensor
};

inline constexpr DTypeInfo kDTypes[] = {
    {DType::float32, "float32", "float", 4, true},
    {DType::float64, "float64", "double", 8, true},
    {DType::float16, "float16", "half", 2, false},
    {DType::bfloat16, "bfloat16", "", 2, false},
    {DType::int8, "int8", "", 1, true},
    {DType::uint8, "uint8", "", 1, true},
    {DType::int16, "int16", "short", 2, false},
    {DType::int32, "int32", "int", 4, true},
    {DType::int64, "int64", "long", 8, true},
    {DType::boolean, "bool", "", 1, true},
    {DType::complex64, "complex64", "cfloat", 8, false},
    {DType::complex128, "complex128", "cdouble", 16, false},
    {DType::qint8, "qint8", "", 1, false},
    {DType::quint8, "quint8", "", 1, false},
    {DType::qint32, "qint32", "", 4, false},
    {DType::quint4x2, "quint4x2", "", 1, false},
    {DType::uint16, "uint16", "", 2, false},
    {DType::uint32, "uint32", "", 4, false},
    {DType::uint64, "uint64", "", 8, false},
    {DType::float8_e4m3fn, "float8_e4m3fn", "", 1, false},
    {DType::float8_e5m2, "float8_e5m2", "", 1, false},
};

constexpr const DTypeInfo& dtype_info(DType t) noexcept {
  return kDTypes[static_cast<std::size_t>(t)];
}
}  // namespace detail

// torch's canonical name, e.g. "float32", "int8", "bool".
constexpr std::string_view dtype_name(DType t) noexcept { return detail::dtype_info(t).name; }

// Bytes per element.
constexpr std::size_t dtype_size(DType t) noexcept { return detail::dtype_info(t).size; }

// True for the dtypes a graft::Tensor can hold: float32, float64, int8, uint8, int32, int64, bool.
constexpr bool is_storage_dtype(DType t) noexcept { return detail::dtype_info(t).storage; }

// True for the floating-point dtypes (storage or not).
constexpr bool is_floating(DType t) noexcept {
  return t == DType::float32 || t == DType::float64 || t == DType::float16 ||
         t == DType::bfloat16 || t == DType::float8_e4m3fn || t == DType::float8_e5m2;
}

// Parses a torch dtype name, with or without the `torch.` prefix, canonical or alias
// ("float32", "torch.float", "long"); nullopt when it names no dtype.
inline std::optional<DType> parse_dtype(std::string_view s) noexcept {
  constexpr std::string_view prefix = "torch.";
  if (s.substr(0, prefix.size()) == prefix) s.remove_prefix(prefix.size());
  for (const auto& info : detail::kDTypes)
    if (s == info.name || (!info.alias.empty() && s == info.alias)) return info.dtype;
  return std::nullopt;
}

// The element type stored for a storage dtype (bool is stored as one byte).
template <typename T>
constexpr std::optional<DType> dtype_of() noexcept {
  if constexpr (std::is_same_v<T, float>) return DType::float32;
  else if constexpr (std::is_same_v<T, double>) return DType::float64;
  else if constexpr (std::is_same_v<T, std::int8_t>) return DType::int8;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return DType::uint8;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DType::int32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DType::int64;
  else if constexpr (std::is_same_v<T, bool>) return DType::boolean;
  else return std::nullopt;
}

}  // namespace graft
