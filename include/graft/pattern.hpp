// graft/pattern.hpp - the pattern layer: DSL, matcher, rewriter, pattern-set driver.
//
// One include for writing rewrites: the graph concept (graph/concept.hpp), the pattern DSL
// (pattern/pattern.hpp), matching (pattern/match.hpp), replacements, rules and rule sets
// (pattern/rewrite.hpp), and patterns as graphs (pattern/to_graph.hpp). Standard library only.
// Reference: docs/patterns.md; a walk-through: examples/write_a_pattern.cpp.
#pragma once

#include "graft/graph/concept.hpp"
#include "graft/pattern/match.hpp"
#include "graft/pattern/pattern.hpp"
#include "graft/pattern/rewrite.hpp"
#include "graft/pattern/to_graph.hpp"
