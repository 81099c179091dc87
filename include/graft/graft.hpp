// graft/graft.hpp - everything graft has, in one include.
//
// Convenient, not cheap: it pulls in Boost.Graph, Eigen and nlohmann/json. Code that only builds
// and rewrites graphs includes graft/graph.hpp, graft/pattern.hpp and graft/qat/prepare.hpp,
// which parse none of those.
#pragma once

#include "graft/exec/interpreter.hpp"
#include "graft/graph.hpp"
#include "graft/graph/bgl.hpp"
#include "graft/graph/bgl_model.hpp"
#include "graft/io/dot.hpp"
#include "graft/io/file.hpp"
#include "graft/io/json_graph.hpp"
#include "graft/io/safetensors.hpp"
#include "graft/pattern.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"
#include "graft/qat/weight_qdq.hpp"
#include "graft/tensor/batch_norm.hpp"
#include "graft/tensor/conv.hpp"
#include "graft/tensor/eigen.hpp"
#include "graft/tensor/fold.hpp"
#include "graft/tensor/ops.hpp"
#include "graft/tensor/pool.hpp"
#include "graft/tensor/quantize.hpp"
