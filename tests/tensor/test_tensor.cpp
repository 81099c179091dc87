#include <doctest/doctest.h>

#include <cstdint>

#include "graft/tensor/eigen.hpp"
#include "graft/tensor/tensor.hpp"

using namespace graft;

TEST_CASE("a new tensor is zero-filled with the requested dtype and shape") {
  Tensor t(DType::float64, {2, 3});
  CHECK(t.dtype() == DType::float64);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.dim() == 2);
  CHECK(t.numel() == 6);
  CHECK(t.nbytes() == 48);
  CHECK(t.size(-1) == 3);
  for (std::size_t i = 0; i < t.numel(); ++i) CHECK(t.data<double>()[i] == 0.0);
}

TEST_CASE("tensor storage is 64-byte aligned for vectorised kernels") {
  for (auto dt : {DType::float32, DType::int8, DType::boolean}) {
    Tensor t(dt, {17});
    CHECK(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64 == 0);
  }
}

TEST_CASE("every storage dtype holds its element type") {
  CHECK(Tensor::from<float>({1.5f}, {1}).data<float>()[0] == 1.5f);
  CHECK(Tensor::from<double>({2.5}, {1}).data<double>()[0] == 2.5);
  CHECK(Tensor::from<std::int8_t>({-7}, {1}).data<std::int8_t>()[0] == -7);
  CHECK(Tensor::from<std::uint8_t>({200}, {1}).data<std::uint8_t>()[0] == 200);
  CHECK(Tensor::from<std::int32_t>({-70000}, {1}).data<std::int32_t>()[0] == -70000);
  CHECK(Tensor::from<std::int64_t>({1LL << 40}, {1}).data<std::int64_t>()[0] == (1LL << 40));
  CHECK(Tensor::from<bool>({true, false}, {2}).data<bool>()[0] == true);
  CHECK(Tensor::from<bool>({true}, {1}).element_size() == 1);
}

TEST_CASE("a zero-dimensional tensor has one element and an empty shape") {
  Tensor t = Tensor::from<std::int64_t>({42}, {});
  CHECK(t.dim() == 0);
  CHECK(t.numel() == 1);
  CHECK(t.strides().empty());
}

TEST_CASE("strides are row-major") {
  CHECK(Tensor(DType::float32, {2, 3, 4}).strides() == Shape{12, 4, 1});
}

TEST_CASE("reading a tensor as the wrong element type names both dtypes") {
  Tensor t(DType::float32, {2});
  CHECK_THROWS_WITH_AS(t.data<double>(), "tensor holds float32, not float64", TensorError);
}

TEST_CASE("a tensor larger than GRAFT_MAX_TENSOR_BYTES is refused before allocating") {
  // 2^32 float32 elements are 16 GiB + 0 bytes: exactly the default limit, which is allowed in
  // principle; one more row is not. Neither is allocated: the shape check throws first.
  CHECK(kMaxTensorBytes == std::size_t{1} << 34);
  CHECK_THROWS_WITH_AS(Tensor(DType::float32, {(1LL << 32) + 1}),
                       "tensor shape [4294967297] needs 17179869188 bytes, more than the limit of 17179869184 "
                       "(GRAFT_MAX_TENSOR_BYTES)",
                       TensorError);
  CHECK_THROWS_AS(Tensor(DType::float64, {1LL << 20, 1LL << 20, 4}), TensorError);
}

TEST_CASE("invalid shapes and dtypes are refused") {
  CHECK_THROWS_WITH_AS(Tensor(DType::float32, {2, -1}),
                       "tensor shape [2, -1] has a negative size at dimension 1", TensorError);
  CHECK_THROWS_WITH_AS(Tensor(DType::float32, {1LL << 40, 1LL << 40}),
                       "tensor shape [1099511627776, 1099511627776] has too many elements", TensorError);
  CHECK_THROWS_WITH_AS(Tensor(DType::float16, {2}), "dtype float16 cannot back a graft::Tensor",
                       TensorError);
  CHECK_THROWS_WITH_AS(Tensor::from<float>({1, 2, 3}, {2, 2}),
                       "Tensor::from: 3 values for shape [2, 2] (4 elements)", TensorError);
}

TEST_CASE("an uninitialized tensor has the dtype, shape and alignment asked for, and the same checks") {
  Tensor t = Tensor::uninitialized(DType::float32, {3, 5});
  CHECK(t.dtype() == DType::float32);
  CHECK(t.shape() == Shape{3, 5});
  CHECK(t.nbytes() == 60);
  CHECK(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64 == 0);
  for (std::size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);  // written before read
  CHECK(t.data<float>()[14] == 14.0f);
  CHECK(Tensor::uninitialized(DType::int8, {0}).nbytes() == 0);
  CHECK_THROWS_WITH_AS(Tensor::uninitialized(DType::float16, {2}), "dtype float16 cannot back a graft::Tensor",
                       TensorError);
  CHECK_THROWS_WITH_AS(Tensor::uninitialized(DType::float32, {2, -1}),
                       "tensor shape [2, -1] has a negative size at dimension 1", TensorError);
  CHECK_THROWS_AS(Tensor::uninitialized(DType::float32, {(1LL << 32) + 1}), TensorError);
}

TEST_CASE("copies are deep and moves leave an empty tensor") {
  Tensor a = Tensor::from<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = a;
  b.data<float>()[0] = 9;
  CHECK(a.data<float>()[0] == 1);
  CHECK(a != b);
  Tensor c = std::move(b);
  CHECK(c.data<float>()[0] == 9);
  CHECK(b.numel() == 0);
  CHECK(a == Tensor::from<float>({1, 2, 3, 4}, {2, 2}));
}

TEST_CASE("reshaped keeps the data and checks the element count") {
  Tensor a = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = a.reshaped({3, 2});
  CHECK(b.shape() == Shape{3, 2});
  CHECK(b.data<float>()[5] == 6);
  CHECK_THROWS_WITH_AS(a.reshaped({4}), "cannot reshape a tensor of shape [2, 3] to [4]", TensorError);
}

TEST_CASE("Eigen maps view the tensor's storage without copying") {
  Tensor w = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto rows = as_rows<float>(w);
  CHECK(rows.rows() == 2);
  CHECK(rows.cols() == 3);
  CHECK(rows(1, 0) == 4);
  rows.row(1) *= 2.0f;
  CHECK(w.data<float>()[3] == 8);
  auto flat = as_array<float>(w);
  CHECK(flat.sum() == doctest::Approx(1 + 2 + 3 + 8 + 10 + 12));
  const Tensor& cw = w;
  CHECK(as_matrix<float>(cw, 3, 2)(2, 1) == 12);
  CHECK_THROWS_WITH_AS(as_matrix<float>(w, 4, 2), "cannot view a tensor of shape [2, 3] as a 4x2 matrix",
                       TensorError);
}
