// graft/pattern.hpp - the pattern layer: DSL, matcher, rewriter, pattern-set driver.
#pragma once

#include "graft/graph/concept.hpp"
#include "graft/pattern/match.hpp"
#include "graft/pattern/pattern.hpp"
#include "graft/pattern/rewrite.hpp"
#include "graft/pattern/to_graph.hpp"
