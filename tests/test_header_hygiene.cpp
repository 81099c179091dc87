// The core headers stay light: a translation unit that includes the graph, pattern and qat layers
// must not pull in the Graphviz writer, a JSON library, Boost.Graph's adjacency_list or Eigen.
// Any of these turning up is a compile error here, so the build (and CI) fails.
#include "graft/graph.hpp"
#include "graft/pattern.hpp"
#include "graft/qat/prepare.hpp"

#if defined(BOOST_GRAPHVIZ_HPP)
#error "the graph, pattern or qat headers pull in <boost/graph/graphviz.hpp>"
#endif
#if defined(INCLUDE_NLOHMANN_JSON_HPP_) || defined(NLOHMANN_JSON_HPP)
#error "the graph, pattern or qat headers pull in nlohmann/json"
#endif
#if defined(BOOST_GRAPH_ADJACENCY_LIST_HPP)
#error "the graph, pattern or qat headers pull in <boost/graph/adjacency_list.hpp>"
#endif
#if defined(EIGEN_CORE_H) || defined(EIGEN_CORE_MODULE_H)
#error "the graph, pattern or qat headers pull in Eigen"
#endif

#include <doctest/doctest.h>

TEST_CASE("the graph, pattern and qat layers compile without Graphviz, JSON, adjacency_list or Eigen") {
  graft::Graph g;
  g.output(g.placeholder("x"));
  CHECK(g.lint_problems().empty());
}
