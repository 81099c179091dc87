// safetensors reading and writing: round trips, the goldens, and malformed files.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "golden.hpp"
#include "graft/io/safetensors.hpp"

namespace {

using graft::DType;
using graft::Tensor;

std::vector<std::pair<std::string, Tensor>> sample_tensors() {
  std::vector<std::pair<std::string, Tensor>> ts;
  ts.emplace_back("w", Tensor::from<float>({1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f}, {2, 3}));
  ts.emplace_back("d", Tensor::from<double>({1e-300, -3.0}, {2}));
  ts.emplace_back("i8", Tensor::from<std::int8_t>({-128, 0, 127}, {3}));
  ts.emplace_back("u8", Tensor::from<std::uint8_t>({0, 255}, {2, 1}));
  ts.emplace_back("i32", Tensor::from<std::int32_t>({-2147483647 - 1, 2147483647}, {2}));
  ts.emplace_back("i64", Tensor::from<std::int64_t>({7}, {}));
  ts.emplace_back("b", Tensor::from<bool>({true, false, true}, {3}));
  ts.emplace_back("empty", Tensor(DType::float32, {0, 4}));
  return ts;
}

// A file with one F32 tensor "x" of shape [2] and the given header text (padded to 8 bytes).
std::string file_with_header(const std::string& header, std::size_t data_bytes = 8) {
  std::string h = header;
  while ((8 + h.size()) % 8) h.push_back(' ');
  std::string out;
  std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += h;
  out.append(data_bytes, '\x01');
  return out;
}

std::string parse_error(const std::string& bytes) {
  try {
    graft::parse_safetensors(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "test.safetensors");
  } catch (const graft::SafetensorsError& e) {
    return e.what();
  }
  return "<no error>";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("safetensors: every dtype round-trips through serialize and parse with metadata") {
  auto ts = sample_tensors();
  std::string bytes = graft::serialize_safetensors(ts, {{"format", "pt"}, {"note", "hello"}});
  CHECK((bytes.size() % 8) == 0);
  auto f = graft::parse_safetensors(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  REQUIRE(f.tensors.size() == ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    CAPTURE(ts[i].first);
    CHECK(f.tensors[i].first == ts[i].first);  // storage order is kept
    CHECK(f.tensors[i].second == ts[i].second);
  }
  CHECK(f.metadata.at("note") == "hello");
  CHECK(f.at("i64").dim() == 0);
}

TEST_CASE("safetensors: write_safetensors and read_safetensors round-trip through a file") {
  auto path = std::filesystem::temp_directory_path() / "graft_numerics_roundtrip.safetensors";
  auto ts = sample_tensors();
  graft::write_safetensors(path.string(), ts, {{"k", "v"}});
  auto f = graft::read_safetensors(path.string());
  std::filesystem::remove(path);
  REQUIRE(f.tensors.size() == ts.size());
  CHECK(f.at("w") == ts[0].second);
  CHECK(f.at("b") == ts[6].second);
  CHECK(f.metadata.at("k") == "v");
}

TEST_CASE("safetensors: every golden file parses, and re-serialising it gives the same tensors") {
  auto all = golden::load_all("");
  CHECK(all.size() == 106);
  for (const auto& c : all) {
    CAPTURE(c.name);
    CHECK(c.params.at("case").get<std::string>() == c.name);
    std::string bytes = graft::serialize_safetensors(c.file.tensors, c.file.metadata);
    auto back = graft::parse_safetensors(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    REQUIRE(back.tensors.size() == c.file.tensors.size());
    for (std::size_t i = 0; i < back.tensors.size(); ++i) CHECK(back.tensors[i].second == c.file.tensors[i].second);
  }
}

TEST_CASE("safetensors: a missing file is an error naming the path") {
  CHECK_THROWS_WITH_AS(graft::read_safetensors("/nonexistent/x.safetensors"),
                       doctest::Contains("/nonexistent/x.safetensors: cannot open"), graft::SafetensorsError);
}

TEST_CASE("safetensors: malformed files raise SafetensorsError naming the offset or tensor") {
  const std::string ok = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(parse_error(file_with_header(ok)) == "<no error>");

  SUBCASE("file shorter than the length prefix") {
    CHECK(contains(parse_error(std::string("\x05\x00\x00", 3)), "shorter than the 8-byte header length at offset 0"));
  }
  SUBCASE("header length larger than the file") {
    std::string b = file_with_header(ok);
    b[0] = '\xff';
    b[1] = '\xff';
    CHECK(contains(parse_error(b), "header length 65535 (at offset 0) exceeds"));
  }
  SUBCASE("header length near 2^64 does not wrap") {
    std::string b = file_with_header(ok);
    for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = '\xff';
    CHECK(contains(parse_error(b), "exceeds"));
  }
  SUBCASE("truncated data section") {
    std::string b = file_with_header(ok, 8);
    b.resize(b.size() - 3);
    std::string e = parse_error(b);
    CHECK(contains(e, "tensor 'x'"));
    CHECK(contains(e, "past the end"));
  }
  SUBCASE("offset outside the file") {
    std::string e = parse_error(file_with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[1000,1008]}})"));
    CHECK(contains(e, "data_offsets [1000, 1008]"));
    CHECK(contains(e, "past the end"));
  }
  SUBCASE("header is not JSON") {
    CHECK(contains(parse_error(file_with_header(R"({"x": [1, 2)")), "not valid JSON near file offset"));
  }
  SUBCASE("header is not an object") { CHECK(contains(parse_error(file_with_header("[1,2,3]")), "not a JSON object")); }
  SUBCASE("unknown dtype") {
    std::string e = parse_error(file_with_header(R"({"x":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})"));
    CHECK(contains(e, "tensor 'x'"));
    CHECK(contains(e, "unknown or unsupported dtype 'F16'"));
  }
  SUBCASE("byte count does not match the shape") {
    std::string e = parse_error(file_with_header(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"));
    CHECK(contains(e, "hold 8 bytes"));
    CHECK(contains(e, "needs 12"));
  }
  SUBCASE("overlapping ranges") {
    std::string e = parse_error(file_with_header(
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"));
    CHECK(contains(e, "tensor 'b' overlaps tensor 'a' at file offset"));
  }
  SUBCASE("misaligned ranges leaving a gap") {
    std::string e = parse_error(file_with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})"));
    CHECK(contains(e, "tensor 'x' starts at data offset 2"));
    CHECK(contains(e, "leaving a gap after data offset 0"));
  }
  SUBCASE("trailing bytes that belong to no tensor") {
    std::string e = parse_error(file_with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})"));
    CHECK(contains(e, "the tensors cover 4 of the 8 data bytes"));
  }
  SUBCASE("element count overflows") {
    std::string e = parse_error(
        file_with_header(R"({"x":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})"));
    CHECK(contains(e, "too many elements"));
  }
  SUBCASE("negative shape entry") {
    std::string e = parse_error(file_with_header(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"));
    CHECK(contains(e, "shape entry is -2"));
  }
  SUBCASE("offsets end before they begin") {
    CHECK(contains(parse_error(file_with_header(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})")),
                   "end before they begin"));
  }
  SUBCASE("missing fields") {
    CHECK(contains(parse_error(file_with_header(R"({"x":{"dtype":"F32","shape":[2]}})")),
                   "needs dtype, shape and data_offsets"));
  }
  SUBCASE("deeply nested JSON does not overflow the stack") {
    std::string deep = R"({"x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
    // Refused by a linear scan before any parser or printer could recurse on it.
    CHECK(contains(parse_error(file_with_header(deep, 0)), "header nests deeper than 64 levels at file offset 76"));
  }
  SUBCASE("metadata value that is not a string") {
    CHECK(contains(parse_error(file_with_header(R"({"__metadata__":{"a":1}})", 0)), "__metadata__ entry 'a'"));
  }
}

TEST_CASE("safetensors: writing an unsupported dtype or duplicate name is refused") {
  std::vector<std::pair<std::string, Tensor>> dup;
  dup.emplace_back("a", Tensor(DType::float32, {1}));
  dup.emplace_back("a", Tensor(DType::float32, {1}));
  CHECK_THROWS_WITH_AS(graft::serialize_safetensors(dup), doctest::Contains("duplicate tensor name 'a'"),
                       graft::SafetensorsError);
}

TEST_CASE("safetensors: graft::SafetensorsLimits bound the file, the header, its nesting and its entries") {
  const std::string bytes = graft::serialize_safetensors({{"a", graft::Tensor::from<float>({1.0f}, {1})}, {"b", graft::Tensor::from<float>({2.0f}, {1})}});
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  CHECK(graft::parse_safetensors(data, bytes.size()).tensors.size() == 2);
  graft::SafetensorsLimits l;
  l.max_file_bytes = bytes.size() - 1;
  CHECK_THROWS_WITH_AS(graft::parse_safetensors(data, bytes.size(), "f", l),
                       ("safetensors f: " + std::to_string(bytes.size()) + " bytes, more than the limit of " +
                        std::to_string(bytes.size() - 1)).c_str(),
                       graft::SafetensorsError);
  l = {};
  l.max_header_bytes = 16;
  CHECK_THROWS_WITH_AS(graft::parse_safetensors(data, bytes.size(), "f", l), doctest::Contains("exceeds the limit of 16 bytes"),
                       graft::SafetensorsError);
  l = {};
  l.max_tensors = 1;
  CHECK_THROWS_WITH_AS(graft::parse_safetensors(data, bytes.size(), "f", l),
                       "safetensors f: header has 2 entries, more than the limit of 1", graft::SafetensorsError);
  l = {};
  l.max_depth = 1;
  CHECK_THROWS_WITH_AS(graft::parse_safetensors(data, bytes.size(), "f", l),
                       doctest::Contains("header nests deeper than 1 levels at file offset"), graft::SafetensorsError);
  // The defaults.
  const graft::SafetensorsLimits d;
  CHECK(d.max_file_bytes == std::uint64_t{64} << 30);
  CHECK(d.max_header_bytes == std::uint64_t{100} << 20);
  CHECK(d.max_depth == 64);
  CHECK(d.max_tensors == 1'000'000);
}
