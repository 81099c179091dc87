// graft/graft.hpp - everything graft has, in one include.
//
// Convenient, not cheap: it pulls in Boost.Graph and Eigen. Code that only builds and rewrites
// graphs can include graft/graph.hpp (and later the pattern and qat headers) instead.
#pragma once

#include "graft/graph.hpp"
#include "graft/graph/bgl.hpp"
#include "graft/tensor/eigen.hpp"
