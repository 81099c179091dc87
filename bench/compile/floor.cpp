// Compile-cost probe (c), the floor: only the dependencies' and standard headers graft uses.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include <Eigen/Core>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/graph_traits.hpp>
#include <boost/graph/graphviz.hpp>
#include <boost/graph/topological_sort.hpp>
#include <nlohmann/json.hpp>

int main() {
  Eigen::ArrayXf a = Eigen::ArrayXf::Ones(4);
  nlohmann::ordered_json j = {{"a", 1}};
  boost::adjacency_list<> g(2);
  return static_cast<int>(a.sum()) + static_cast<int>(j.size()) + static_cast<int>(boost::num_vertices(g));
}
