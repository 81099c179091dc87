// graft/graph.hpp - the graph layer: IR, op schemas, metadata, module, printer.
//
// Light on purpose: no Boost.Graph, no Eigen, no JSON. Boost.Graph support is in
// graft/graph/bgl.hpp.
#pragma once

#include "graft/error.hpp"
#include "graft/graph/argument.hpp"
#include "graft/graph/graph.hpp"
#include "graft/graph/meta.hpp"
#include "graft/graph/module.hpp"
#include "graft/graph/node.hpp"
#include "graft/graph/printer.hpp"
#include "graft/graph/schema.hpp"
#include "graft/tensor/dtype.hpp"
#include "graft/tensor/tensor.hpp"
#include "graft/version.hpp"
