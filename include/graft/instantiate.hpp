// graft/instantiate.hpp - compiles graft's heavy entry points once, for GRAFT_EXTERN_TEMPLATES.
//
// graft is header-only: by default every translation unit that calls a pass compiles it. A
// program with many such files can instead define GRAFT_EXTERN_TEMPLATES everywhere (the headers
// then declare the passes `extern template`, so callers only parse them) and include this header
// in exactly one translation unit, which instantiates them. This is what Boost.Asio's
// BOOST_ASIO_SEPARATE_COMPILATION does. With CMake, link `graft::instantiated` instead of
// `graft::graft`: it is that translation unit, built once, and it sets the macro for its users.
//
// What is compiled here: the QAT passes (qat::fuse_conv_bn_qat, check_conv_bn_pairs and
// fold_conv_bn_qat for AnyConv, the default, and insert_weight_qdq), run_module (the
// interpreter and its kernels), and the graph-file and safetensors readers and the graph writer.
// Passes instantiated for another conv tag (fuse_conv_bn_qat<Conv2d>, say) and classes used
// directly (an Interpreter object) are compiled where they are used, as without the macro.
#pragma once

#include "graft/exec/interpreter.hpp"
#include "graft/io/json_graph.hpp"
#include "graft/io/safetensors.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"
#include "graft/qat/weight_qdq.hpp"

namespace graft {
namespace qat {
template void check_conv_bn_pairs<AnyConv>(const Module&);
template PrepareReport fuse_conv_bn_qat<AnyConv>(Module&);
template ConvertReport fold_conv_bn_qat<AnyConv>(Module&);
template int detail::insert_weight_qdq_impl<void>(Module&, const QuantizeSpec&);
}  // namespace qat
template std::vector<Tensor> detail::run_module_once<void>(Module&, const std::vector<Tensor>&, ExecMode);
template SafetensorsFile detail::parse_safetensors_bytes<void>(const unsigned char*, std::size_t, const std::string&,
                                                               const SafetensorsLimits&);
namespace io {
template LoadedGraph detail::parse<void>(std::string_view, const std::filesystem::path&, const ReadOptions&,
                                         const std::string&, const SafetensorsBytes*);
template std::string detail::serialize_graph_text<void>(const Module&, std::string_view);
}  // namespace io
}  // namespace graft
