// graft/tensor/batch_norm.hpp - batch normalisation, training and eval, PyTorch semantics.
//
// Training normalises with the biased batch variance and updates the running statistics in
// place: running = (1 - momentum) * running + momentum * batch_stat, with the *unbiased* variance
// stored in running_var. Statistics are accumulated in double. num_batches_tracked is not touched
// here: exported graphs count it with a separate `add_(num_batches_tracked, 1)` node.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "graft/error.hpp"
#include "graft/tensor/ops.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft::kernels {

// The three outputs of `native_batch_norm`: output, save_mean and save_invstd (the batch mean and
// 1/sqrt(biased_var + eps) in training; empty [0] tensors in eval, as PyTorch's CPU kernel).
struct BatchNormResult {
  Tensor output;
  Tensor save_mean;
  Tensor save_invstd;
};

namespace detail {
inline void check_bn_vector(const Tensor* t, const char* name, const Tensor& input, std::int64_t c) {
  if (!t) return;
  if (t->numel() != static_cast<std::size_t>(c) || t->dim() > 1)
    throw TensorError(std::string("batch_norm: ") + name + " of shape " + shape_to_string(t->shape()) + " does not fit " +
                      std::to_string(c) + " channels of input " + shape_to_string(input.shape()));
  if (t->dtype() != input.dtype())
    throw TensorError(std::string("batch_norm: dtype mismatch, ") + name + " is " + dt(t->dtype()) + ", input is " +
                      dt(input.dtype()));
}
}  // namespace detail

// input [N, C, ...]; weight/bias (gamma/beta) may be null (1/0); running stats may be null in
// training (then nothing is updated) and are required in eval.
inline BatchNormResult batch_norm(const Tensor& input, const Tensor* weight, const Tensor* bias, Tensor* running_mean,
                                  Tensor* running_var, bool training, double momentum, double eps) {
  if (input.dim() < 2)
    throw TensorError("batch_norm: input of shape " + shape_to_string(input.shape()) + " has no channel dimension");
  const std::int64_t N = input.shape()[0], C = input.shape()[1];
  std::int64_t S = 1;
  for (std::size_t i = 2; i < input.dim(); ++i) S *= input.shape()[i];
  detail::check_bn_vector(weight, "weight", input, C);
  detail::check_bn_vector(bias, "bias", input, C);
  detail::check_bn_vector(running_mean, "running_mean", input, C);
  detail::check_bn_vector(running_var, "running_var", input, C);
  if (!training && (!running_mean || !running_var))
    throw TensorError("batch_norm: eval mode needs running_mean and running_var");
  if ((running_mean == nullptr) != (running_var == nullptr))
    throw TensorError("batch_norm: running_mean and running_var must be given together");
  const std::int64_t count = N * S;
  if (training && count <= 1)
    throw TensorError("batch_norm: expected more than 1 value per channel when training, got input of shape " +
                      shape_to_string(input.shape()));

  BatchNormResult r;
  r.output = Tensor(input.dtype(), input.shape());
  r.save_mean = Tensor(input.dtype(), {training ? C : 0});
  r.save_invstd = Tensor(input.dtype(), {training ? C : 0});
  detail::dispatch_float(input.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data<T>();
    T* y = r.output.data<T>();
    for (std::int64_t c = 0; c < C; ++c) {
      double mean = 0.0, invstd = 0.0;
      if (training) {
        double sum = 0.0;
        for (std::int64_t n = 0; n < N; ++n) {
          const T* p = x + (n * C + c) * S;
          for (std::int64_t k = 0; k < S; ++k) sum += static_cast<double>(p[k]);
        }
        mean = sum / static_cast<double>(count);
        double ss = 0.0;
        for (std::int64_t n = 0; n < N; ++n) {
          const T* p = x + (n * C + c) * S;
          for (std::int64_t k = 0; k < S; ++k) {
            double d = static_cast<double>(p[k]) - mean;
            ss += d * d;
          }
        }
        const double var_biased = ss / static_cast<double>(count);
        invstd = 1.0 / std::sqrt(var_biased + eps);
        r.save_mean.data<T>()[c] = static_cast<T>(mean);
        r.save_invstd.data<T>()[c] = static_cast<T>(invstd);
        if (running_mean) {
          T& rm = running_mean->data<T>()[c];
          T& rv = running_var->data<T>()[c];
          const double var_unbiased = ss / static_cast<double>(count - 1);
          rm = static_cast<T>((1.0 - momentum) * static_cast<double>(rm) + momentum * mean);
          rv = static_cast<T>((1.0 - momentum) * static_cast<double>(rv) + momentum * var_unbiased);
        }
      } else {
        mean = static_cast<double>(running_mean->data<T>()[c]);
        invstd = 1.0 / std::sqrt(static_cast<double>(running_var->data<T>()[c]) + eps);
      }
      const double gamma = weight ? static_cast<double>(weight->data<T>()[c]) : 1.0;
      const double beta = bias ? static_cast<double>(bias->data<T>()[c]) : 0.0;
      const T m = static_cast<T>(mean), scale = static_cast<T>(gamma * invstd), shift = static_cast<T>(beta);
      for (std::int64_t n = 0; n < N; ++n) {
        const T* p = x + (n * C + c) * S;
        T* q = y + (n * C + c) * S;
        for (std::int64_t k = 0; k < S; ++k) q[k] = (p[k] - m) * scale + shift;
      }
    }
  });
  return r;
}

}  // namespace graft::kernels
