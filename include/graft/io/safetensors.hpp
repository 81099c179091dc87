// graft/io/safetensors.hpp - read and write the safetensors tensor-file format.
//
// Format: u64 little-endian header length N | N bytes of UTF-8 JSON | raw little-endian data.
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" object of string values.
// Reading never trusts the file: every length, offset and shape is checked before use, the data
// ranges must tile the data section exactly (as the reference Rust implementation requires; data
// need not be aligned to the element size), and a bad file raises SafetensorsError naming the byte
// offset or tensor at fault.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "graft/error.hpp"
#include "graft/tensor/dtype.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft {

// A malformed or unreadable safetensors file; `what()` names the file position or tensor.
class SafetensorsError : public Error {
 public:
  using Error::Error;
};

// The contents of a safetensors file: tensors in header order and the `__metadata__` strings.
struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  // The tensor called `name`, or null.
  const Tensor* find(std::string_view name) const noexcept {
    for (const auto& [n, t] : tensors)
      if (n == name) return &t;
    return nullptr;
  }
  // The tensor called `name`; SafetensorsError when absent.
  const Tensor& at(std::string_view name) const {
    if (const Tensor* t = find(name)) return *t;
    throw SafetensorsError("safetensors: no tensor named '" + std::string(name) + "'");
  }
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
};

// Resource limits for reading safetensors; a file beyond any of them is a SafetensorsError
// before anything is allocated for it. The defaults fit every real conv model with room to spare.
struct SafetensorsLimits {
  std::uint64_t max_file_bytes = std::uint64_t{64} << 30;    // the whole file (read into memory)
  std::uint64_t max_header_bytes = std::uint64_t{100} << 20;  // the JSON header, as the Rust crate
  std::size_t max_depth = 64;                                  // JSON nesting in the header (real: 3)
  std::size_t max_tensors = 1'000'000;                         // entries in the header
};

// Safetensors bytes held in memory (not owned).
struct SafetensorsBytes {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
};

namespace detail {

inline std::string_view safetensors_dtype_code(DType t) {
  switch (t) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int8: return "I8";
    case DType::uint8: return "U8";
    case DType::int32: return "I32";
    case DType::int64: return "I64";
    case DType::boolean: return "BOOL";
    default: break;
  }
  throw SafetensorsError("safetensors: dtype " + std::string(dtype_name(t)) + " cannot be stored");
}

inline bool parse_safetensors_dtype(std::string_view code, DType& out) {
  static constexpr std::pair<std::string_view, DType> table[] = {
      {"F32", DType::float32}, {"F64", DType::float64}, {"I8", DType::int8},
      {"U8", DType::uint8},    {"I32", DType::int32},   {"I64", DType::int64},
      {"BOOL", DType::boolean}};
  for (const auto& [c, t] : table)
    if (c == code) {
      out = t;
      return true;
    }
  return false;
}

inline std::uint64_t read_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline void write_u64_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The byte offset at which JSON text nests deeper than `limit` arrays/objects, or -1. Linear,
// and needs no parse, so that deep input is refused before a parser or printer recurses on it.
inline std::ptrdiff_t json_too_deep_at(const char* begin, const char* end, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (const char* p = begin; p != end; ++p) {
    const char c = *p;
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return p - begin;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return -1;
}

// A short description of a JSON value for error messages: scalars in full, containers by kind
// (never printed whole: they may be huge or deep).
inline std::string json_brief(const nlohmann::json& j) {
  if (j.is_array()) return "a list of " + std::to_string(j.size());
  if (j.is_object()) return "an object";
  std::string s = j.dump();
  return s.size() > 64 ? s.substr(0, 64) + "..." : s;
}

// A JSON value that must be a non-negative integer fitting in u64.
inline std::uint64_t json_u64(const nlohmann::json& j, const std::string& what) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(j.get<std::int64_t>());
  throw SafetensorsError("safetensors: " + what + " is " + json_brief(j) + ", expected a non-negative integer");
}

}  // namespace detail

namespace detail {
// parse_safetensors's body (a template only for GRAFT_EXTERN_TEMPLATES).
template <typename Unused = void>
SafetensorsFile parse_safetensors_bytes(const unsigned char* bytes, std::size_t size, const std::string& source,
                                        const SafetensorsLimits& limits) {
  const std::string where = "safetensors " + source + ": ";
  if (size < 8)
    throw SafetensorsError(where + "file is " + std::to_string(size) +
                           " bytes, shorter than the 8-byte header length at offset 0");
  const std::uint64_t header_len = detail::read_u64_le(bytes);
  if (header_len > size - 8)
    throw SafetensorsError(where + "header length " + std::to_string(header_len) + " (at offset 0) exceeds the " +
                           std::to_string(size - 8) + " bytes after it");
  if (size > limits.max_file_bytes)
    throw SafetensorsError(where + std::to_string(size) + " bytes, more than the limit of " +
                           std::to_string(limits.max_file_bytes));
  if (header_len > limits.max_header_bytes)
    throw SafetensorsError(where + "header length " + std::to_string(header_len) + " exceeds the limit of " +
                           std::to_string(limits.max_header_bytes) + " bytes");
  const std::size_t data_begin = 8 + static_cast<std::size_t>(header_len);
  const std::size_t data_size = size - data_begin;

  // A real header nests three levels; anything deeper than the limit is refused before parsing.
  const char* header_text = reinterpret_cast<const char*>(bytes + 8);
  if (auto at = detail::json_too_deep_at(header_text, header_text + header_len, limits.max_depth); at >= 0)
    throw SafetensorsError(where + "header nests deeper than " + std::to_string(limits.max_depth) +
                           " levels at file offset " + std::to_string(8 + at));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + data_begin);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based within the header.
    throw SafetensorsError(where + "header is not valid JSON near file offset " +
                           std::to_string(8 + (e.byte ? e.byte - 1 : 0)) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {  // a number out of range (1e400)
    throw SafetensorsError(where + "header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw SafetensorsError(where + "header at offset 8 is not a JSON object");
  if (header.size() > limits.max_tensors)
    throw SafetensorsError(where + "header has " + std::to_string(header.size()) + " entries, more than the limit of " +
                           std::to_string(limits.max_tensors));

  SafetensorsFile file;
  struct Range {
    std::uint64_t begin, end;
    std::size_t index;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw SafetensorsError(where + "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw SafetensorsError(where + "__metadata__ entry '" + m.key() + "' is not a string");
        file.metadata.emplace(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    const std::string tw = where + "tensor '" + name + "': ";
    if (!v.is_object()) throw SafetensorsError(tw + "entry is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || sh == v.end() || off == v.end())
      throw SafetensorsError(tw + "entry needs dtype, shape and data_offsets");
    if (!dt->is_string()) throw SafetensorsError(tw + "dtype is not a string");
    DType dtype{};
    if (!detail::parse_safetensors_dtype(dt->get<std::string>(), dtype))
      throw SafetensorsError(tw + "unknown or unsupported dtype '" + dt->get<std::string>() + "'");
    if (!sh->is_array()) throw SafetensorsError(tw + "shape is not a list");
    Shape shape;
    std::uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : *sh) {
      std::uint64_t n = detail::json_u64(d, "tensor '" + name + "' shape entry");
      if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) overflow = true;
      else if (n != 0 && numel > std::numeric_limits<std::uint64_t>::max() / n) overflow = true;
      else numel *= n;
      shape.push_back(static_cast<std::int64_t>(std::min<std::uint64_t>(
          n, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))));
    }
    const std::uint64_t esize = dtype_size(dtype);
    if (overflow || numel > std::numeric_limits<std::uint64_t>::max() / esize)
      throw SafetensorsError(tw + "shape " + detail::json_brief(*sh) + " has too many elements (size overflows)");
    if (!off->is_array() || off->size() != 2) throw SafetensorsError(tw + "data_offsets is not [begin, end]");
    std::uint64_t b = detail::json_u64((*off)[0], "tensor '" + name + "' data_offsets begin");
    std::uint64_t e = detail::json_u64((*off)[1], "tensor '" + name + "' data_offsets end");
    if (b > e)
      throw SafetensorsError(tw + "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] end before they begin");
    if (e > data_size)
      throw SafetensorsError(tw + "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                             "] reach file offset " + std::to_string(data_begin + e) + ", past the end of the " +
                             std::to_string(size) + "-byte file (truncated?)");
    if (e - b != numel * esize)
      throw SafetensorsError(tw + "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] hold " +
                             std::to_string(e - b) + " bytes, but " + std::string(dt->get<std::string>()) +
                             " shape " + shape_to_string(shape) + " needs " + std::to_string(numel * esize));
    Tensor t(dtype, shape);
    if (t.nbytes()) std::memcpy(t.raw_data(), bytes + data_begin + b, t.nbytes());
    ranges.push_back(Range{b, e, file.tensors.size()});
    file.tensors.emplace_back(name, std::move(t));
  }
  // nlohmann::json sorts object keys; keep the file's storage order instead.
  std::vector<std::size_t> order(ranges.size());
  for (std::size_t i = 0; i < ranges.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    return ranges[x].begin != ranges[y].begin ? ranges[x].begin < ranges[y].begin : ranges[x].end < ranges[y].end;
  });
  // As the reference implementation: the ranges must tile the data section exactly, in order,
  // with no overlap, gap or trailing bytes.
  std::uint64_t expected = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Range& c = ranges[order[k]];
    if (c.begin < expected)
      throw SafetensorsError(where + "tensor '" + file.tensors[c.index].first + "' overlaps tensor '" +
                             file.tensors[ranges[order[k - 1]].index].first + "' at file offset " +
                             std::to_string(data_begin + c.begin));
    if (c.begin > expected)
      throw SafetensorsError(where + "tensor '" + file.tensors[c.index].first + "' starts at data offset " +
                             std::to_string(c.begin) + " (file offset " + std::to_string(data_begin + c.begin) +
                             "), leaving a gap after data offset " + std::to_string(expected) + " (misaligned ranges)");
    expected = c.end;
  }
  if (expected != data_size)
    throw SafetensorsError(where + "the tensors cover " + std::to_string(expected) + " of the " + std::to_string(data_size) +
                           " data bytes; the rest, from file offset " + std::to_string(data_begin + expected) +
                           ", belongs to no tensor");
  std::vector<std::pair<std::string, Tensor>> sorted;
  sorted.reserve(order.size());
  for (std::size_t i : order) sorted.push_back(std::move(file.tensors[i]));
  file.tensors = std::move(sorted);
  return file;
}
}  // namespace detail

// Parses a safetensors file held in memory. `source` names it in error messages.
inline SafetensorsFile parse_safetensors(const unsigned char* bytes, std::size_t size,
                                         const std::string& source = "<memory>", const SafetensorsLimits& limits = {}) {
  return detail::parse_safetensors_bytes(bytes, size, source, limits);
}

// Reads a safetensors file from disk.
inline SafetensorsFile read_safetensors(const std::string& path, const SafetensorsLimits& limits = {}) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw SafetensorsError("safetensors " + path + (std::filesystem::exists(path, ec) ? ": not a regular file" : ": cannot open the file"));
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw SafetensorsError("safetensors " + path + ": cannot open the file");
  std::streamoff len = in.tellg();
  if (len < 0) throw SafetensorsError("safetensors " + path + ": cannot read the file size");
  if (static_cast<std::uint64_t>(len) > limits.max_file_bytes)
    throw SafetensorsError("safetensors " + path + ": " + std::to_string(len) + " bytes, more than the limit of " +
                           std::to_string(limits.max_file_bytes));
  std::vector<unsigned char> buf(static_cast<std::size_t>(len));
  in.seekg(0);
  if (len > 0 && !in.read(reinterpret_cast<char*>(buf.data()), len))
    throw SafetensorsError("safetensors " + path + ": read failed");
  return parse_safetensors(buf.data(), buf.size(), path, limits);
}

// Serialises tensors (stored in the given order, 8-byte aligned data section) and metadata.
inline std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                         const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw SafetensorsError("safetensors: a tensor cannot be named __metadata__");
    if (header.contains(name)) throw SafetensorsError("safetensors: duplicate tensor name '" + name + "'");
    nlohmann::ordered_json e;
    e["dtype"] = std::string(detail::safetensors_dtype_code(t.dtype()));
    e["shape"] = t.shape();
    e["data_offsets"] = {offset, offset + t.nbytes()};
    header[name] = std::move(e);
    offset += t.nbytes();
  }
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  detail::write_u64_le(out, text.size());
  out += text;
  for (const auto& entry : tensors) {
    const Tensor& t = entry.second;
    if (t.nbytes()) out.append(reinterpret_cast<const char*>(t.raw_data()), t.nbytes());
  }
  return out;
}

// Writes `tensors` (in this order) and `metadata` to the safetensors file `path`.
inline void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  std::string bytes = serialize_safetensors(tensors, metadata);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw SafetensorsError("safetensors " + path + ": cannot open for writing");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw SafetensorsError("safetensors " + path + ": write failed");
}

// With GRAFT_EXTERN_TEMPLATES the reader is compiled once (graft/instantiate.hpp).
#ifdef GRAFT_EXTERN_TEMPLATES
extern template SafetensorsFile detail::parse_safetensors_bytes<void>(const unsigned char*, std::size_t,
                                                                      const std::string&, const SafetensorsLimits&);
#endif

}  // namespace graft
