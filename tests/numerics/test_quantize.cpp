// quantized_decomposed quantize / dequantize and fake-quant against the goldens (bit-exact).
#include <cstdint>
#include <set>

#include <doctest/doctest.h>

#include "golden.hpp"
#include "graft/tensor/quantize.hpp"

namespace {

graft::DType qdtype(const golden::Case& c) {
  auto d = graft::parse_dtype(c.params.at("qdtype").get<std::string>());
  REQUIRE(d.has_value());
  return *d;
}

}  // namespace

TEST_CASE("quantize: per-tensor quantize is bit-exact (round half to even, clamp, int32 saturation)") {
  auto cases = golden::load_all("quant_per_tensor_");
  CHECK(cases.size() == 7);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    graft::Tensor q = graft::kernels::quantize_per_tensor(
        c["input"], c.params.at("scale").get<double>(), c.params.at("zero_point").get<std::int64_t>(),
        c.params.at("quant_min").get<std::int64_t>(), c.params.at("quant_max").get<std::int64_t>(), qdtype(c));
    CHECK(q == c["quantized"]);
  }
}

TEST_CASE("quantize: per-tensor dequantize and fake-quant are bit-exact") {
  for (const auto& c : golden::load_all("quant_per_tensor_")) {
    CAPTURE(c.name);
    const double s = c.params.at("scale").get<double>();
    const auto zp = c.params.at("zero_point").get<std::int64_t>();
    const auto lo = c.params.at("quant_min").get<std::int64_t>(), hi = c.params.at("quant_max").get<std::int64_t>();
    CHECK(graft::kernels::dequantize_per_tensor(c["quantized"], s, zp, lo, hi, qdtype(c)) == c["dequantized"]);
    CHECK(graft::kernels::fake_quantize_per_tensor(c["input"], s, zp, lo, hi) == c["dequantized"]);
  }
}

TEST_CASE("quantize: the .tensor overload's 0-d scale and I64 zero point give the same codes") {
  auto c = golden::load("quant_per_tensor_int8_s0p5_zp3");
  CHECK(c["scale"].dim() == 0);
  CHECK(c["zero_point"].dtype() == graft::DType::int64);
  graft::Tensor q = graft::kernels::quantize_per_tensor(c["input"], graft::kernels::item(c["scale"]),
                                                        static_cast<std::int64_t>(graft::kernels::item(c["zero_point"])),
                                                        -128, 127, graft::DType::int8);
  CHECK(q == c["quantized"]);
}

TEST_CASE("quantize: per-channel quantize, dequantize and fake-quant are bit-exact on axis 0 and 1") {
  auto cases = golden::load_all("quant_per_channel_");
  CHECK(cases.size() == 4);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto axis = c.params.at("axis").get<std::int64_t>();
    const auto lo = c.params.at("quant_min").get<std::int64_t>(), hi = c.params.at("quant_max").get<std::int64_t>();
    graft::Tensor q = graft::kernels::quantize_per_channel(c["input"], c["scale"], c["zero_point"], axis, lo, hi, qdtype(c));
    CHECK(q == c["quantized"]);
    CHECK(graft::kernels::dequantize_per_channel(c["quantized"], c["scale"], &c["zero_point"], axis, lo, hi, qdtype(c)) ==
          c["dequantized"]);
    CHECK(graft::kernels::fake_quantize_per_channel(c["input"], c["scale"], c["zero_point"], axis, lo, hi) ==
          c["dequantized"]);
  }
}

TEST_CASE("quantize: exact ties round half to even") {
  graft::Tensor x = graft::Tensor::from<float>({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f}, {6});
  graft::Tensor q = graft::kernels::quantize_per_tensor(x, 1.0, 0, -128, 127, graft::DType::int8);
  CHECK(q == graft::Tensor::from<std::int8_t>({0, 2, 2, 0, -2, -2}, {6}));
}

TEST_CASE("quantize: bad ranges, dtypes and scales are errors") {
  graft::Tensor x(graft::DType::float32, {2, 3});
  CHECK_THROWS_WITH_AS(graft::kernels::quantize_per_tensor(x, 0.1, 0, -200, 127, graft::DType::int8),
                       doctest::Contains("quant range [-200, 127] does not fit int8"), graft::TensorError);
  CHECK_THROWS_WITH_AS(graft::kernels::quantize_per_tensor(x, 0.0, 0, -128, 127, graft::DType::int8),
                       doctest::Contains("scale must be positive"), graft::TensorError);
  CHECK_THROWS_WITH_AS(graft::kernels::dequantize_per_tensor(x, 0.1, 0, -128, 127, graft::DType::int8),
                       doctest::Contains("input is float32, expected dtype int8"), graft::TensorError);
  graft::Tensor s = graft::Tensor::full<float>({4}, 0.1f), zp(graft::DType::int64, {4});
  CHECK_THROWS_WITH_AS(graft::kernels::quantize_per_channel(x, s, zp, 1, -128, 127, graft::DType::int8),
                       doctest::Contains("4 scales for 3 channels on axis 1"), graft::TensorError);
}
