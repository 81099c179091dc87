// Helpers for the numerics tests: loading the PyTorch goldens and comparing tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "graft/io/safetensors.hpp"
#include "graft/tensor/conv.hpp"
#include "graft/tensor/ops.hpp"
#include "graft/tensor/tensor.hpp"

namespace golden {

struct Case {
  std::string name;
  graft::SafetensorsFile file;
  nlohmann::json params;

  const graft::Tensor& operator[](const std::string& t) const { return file.at(t); }
  const graft::Tensor* find(const std::string& t) const { return file.find(t); }
  bool f64() const { return params.at("dtype").get<std::string>() == "float64"; }
  std::vector<std::int64_t> ints(const char* key) const { return params.at(key).get<std::vector<std::int64_t>>(); }
};

inline std::string dir() { return GRAFT_GOLDEN_DIR; }

inline Case load(const std::string& name) {
  Case c;
  c.name = name;
  c.file = graft::read_safetensors(dir() + "/" + name + ".safetensors");
  c.params = nlohmann::json::parse(c.file.metadata.at("params"));
  return c;
}

// Every golden whose file name starts with `prefix`, sorted by name.
inline std::vector<Case> load_all(const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir())) {
    std::string f = e.path().filename().string();
    const std::string ext = ".safetensors";
    if (f.size() > ext.size() && f.compare(f.size() - ext.size(), ext.size(), ext) == 0 && f.rfind(prefix, 0) == 0)
      names.push_back(f.substr(0, f.size() - ext.size()));
  }
  std::sort(names.begin(), names.end());
  std::vector<Case> out;
  for (const auto& n : names) out.push_back(load(n));
  return out;
}

inline std::vector<double> as_doubles(const graft::Tensor& t) {
  graft::Tensor d = graft::kernels::to_dtype(t, graft::DType::float64);
  const double* p = d.data<double>();
  return std::vector<double>(p, p + d.numel());
}

// max |a - b| / max |b| (b is the reference), as the golden generator measures it.
inline double rel_err(const graft::Tensor& a, const graft::Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto x = as_doubles(a), y = as_doubles(b);
  double err = 0, scale = 1e-30;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
    err = std::max(err, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return err / scale;
}

inline double tol(const Case& c) { return c.f64() ? 1e-12 : 1e-5; }

// The conv parameters a golden case was made with (transposed and output_padding when present).
inline graft::kernels::ConvParams conv_params(const Case& c) {
  graft::kernels::ConvParams p;
  if (c.params.contains("transposed")) p.transposed = c.params.at("transposed").get<bool>();
  p.stride = c.ints("stride");
  p.padding = c.ints("padding");
  p.dilation = c.ints("dilation");
  if (c.params.contains("output_padding")) p.output_padding = c.ints("output_padding");
  p.groups = c.params.at("groups").get<std::int64_t>();
  return p;
}

}  // namespace golden
