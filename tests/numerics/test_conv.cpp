// Convolution kernels against PyTorch's F.conv* goldens, and their error messages.
#include <doctest/doctest.h>

#include "golden.hpp"
#include "graft/tensor/conv.hpp"

namespace {

graft::Tensor run_golden_conv(const golden::Case& c) {
  graft::kernels::ConvParams p;
  p.transposed = c.params.at("transposed").get<bool>();
  p.stride = c.ints("stride");
  p.padding = c.ints("padding");
  p.dilation = c.ints("dilation");
  p.output_padding = c.ints("output_padding");
  p.groups = c.params.at("groups").get<std::int64_t>();
  return graft::kernels::convolution(c["input"], c["weight"], c.find("bias"), p);
}

void check_family(const std::string& prefix, std::size_t expected_files) {
  auto cases = golden::load_all(prefix);
  CHECK(cases.size() == expected_files);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    graft::Tensor y = run_golden_conv(c);
    CHECK(y.dtype() == c["output"].dtype());
    CHECK(golden::rel_err(y, c["output"]) < golden::tol(c));
  }
}

}  // namespace

TEST_CASE("conv: conv1d/2d/3d (stride, padding, dilation, groups, depthwise, no bias) match PyTorch") {
  check_family("conv1d_", 4);
  check_family("conv2d_", 9);
  check_family("conv3d_", 4);
}

TEST_CASE("conv: conv_transpose1d/2d/3d (output_padding, groups, depthwise) match PyTorch") {
  check_family("conv_transpose", 11);
}

TEST_CASE("conv: the conv1d/2d/3d helpers equal aten.convolution") {
  auto c = golden::load("conv2d_stride2x1_pad1x2_dil2x1");
  graft::Tensor y = graft::kernels::conv(c["input"], c["weight"], c.find("bias"), {2, 1}, {1, 2}, {2, 1}, 1);
  CHECK(golden::rel_err(y, c["output"]) < 1e-5);
  auto t = golden::load("conv_transpose2d_groups2_stride2_outpad1");
  graft::Tensor yt = graft::kernels::conv_transpose(t["input"], t["weight"], t.find("bias"), {2}, {1}, {1}, 2);
  CHECK(golden::rel_err(yt, t["output"]) < 1e-5);
}

TEST_CASE("conv: an unbatched input gives an unbatched output") {
  auto c = golden::load("conv2d_plain");
  const graft::Tensor& x = c["input"];
  // First sample of the batch, without the batch dimension.
  graft::Shape s(x.shape().begin() + 1, x.shape().end());
  graft::Tensor x0(x.dtype(), s);
  std::copy_n(x.data<float>(), x0.numel(), x0.data<float>());
  graft::Tensor y = graft::kernels::conv(x0, c["weight"], c.find("bias"));
  const graft::Tensor& ref = c["output"];
  graft::Shape rs(ref.shape().begin() + 1, ref.shape().end());
  REQUIRE(y.shape() == rs);
  graft::Tensor r0(ref.dtype(), rs);
  std::copy_n(ref.data<float>(), r0.numel(), r0.data<float>());
  CHECK(golden::rel_err(y, r0) < 1e-5);
}

TEST_CASE("conv: channel, dtype and size mismatches are errors naming the shapes") {
  graft::Tensor x(graft::DType::float32, {1, 3, 5, 5});
  graft::Tensor w(graft::DType::float32, {4, 2, 3, 3});
  CHECK_THROWS_WITH_AS(graft::kernels::conv(x, w), doctest::Contains("input [1, 3, 5, 5], weight [4, 2, 3, 3]"),
                       graft::TensorError);
  CHECK_THROWS_WITH_AS(graft::kernels::conv(x, w), doctest::Contains("expected input with 2 channels"), graft::TensorError);
  graft::Tensor wd(graft::DType::float64, {4, 3, 3, 3});
  CHECK_THROWS_WITH_AS(graft::kernels::conv(x, wd), doctest::Contains("dtype mismatch, input float32 vs weight float64"),
                       graft::TensorError);
  graft::Tensor wbig(graft::DType::float32, {4, 3, 7, 7});
  CHECK_THROWS_WITH_AS(graft::kernels::conv(x, wbig), doctest::Contains("larger than the padded input"), graft::TensorError);
  graft::Tensor b(graft::DType::float32, {5});
  graft::Tensor w3(graft::DType::float32, {4, 3, 3, 3});
  CHECK_THROWS_WITH_AS(graft::kernels::conv(x, w3, &b), doctest::Contains("bias of shape [5] does not fit 4 output channels"),
                       graft::TensorError);
  graft::Tensor wt(graft::DType::float32, {3, 2, 3, 3});
  CHECK_THROWS_WITH_AS(graft::kernels::conv_transpose(x, wt, nullptr, {1}, {0}, {1}),
                       doctest::Contains("output_padding must be smaller than either stride or dilation"), graft::TensorError);
}

TEST_CASE("conv: an output larger than GRAFT_MAX_TENSOR_BYTES is refused before anything is allocated") {
  // Padding 10^6 on an 8x8 input asks for a [1, 4, 2000006, 2000006] float32 output (64 TB): a
  // hostile literal argument must give an error, not an allocation attempt.
  graft::Tensor x(graft::DType::float32, {1, 3, 8, 8});
  graft::Tensor w(graft::DType::float32, {4, 3, 3, 3});
  graft::kernels::ConvParams p;
  p.padding = {1000000, 1000000};
  CHECK_THROWS_WITH_AS(graft::kernels::convolution(x, w, nullptr, p),
                       doctest::Contains("more than the limit of 17179869184 (GRAFT_MAX_TENSOR_BYTES)"), graft::TensorError);
}
