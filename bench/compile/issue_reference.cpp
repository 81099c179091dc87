// Compile-cost probe (r): the trivial file issue 8 quotes as its yardstick ("a trivial file
// including Eigen Dense + Tensor, Boost.Graph's adjacency_list and graphviz and nlohmann/json
// already takes 20 s and 870 MB here"). Measured in the same run as (a) and (b), it says how this
// machine compares with the one the targets were set on: the targets are 0.5x and 1x of it.
#include <Eigen/Dense>
#include <unsupported/Eigen/CXX11/Tensor>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/graphviz.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

int main() {
  Eigen::MatrixXf m = Eigen::MatrixXf::Random(4, 4);
  Eigen::Tensor<float, 4> t(2, 3, 4, 5);
  t.setConstant(1.0f);
  boost::adjacency_list<> g(2);
  boost::add_edge(0, 1, g);
  std::ostringstream os;
  boost::write_graphviz(os, g);
  nlohmann::json j = {{"a", m(0, 0)}, {"t", t(0, 0, 0, 0)}};
  return static_cast<int>(j.dump().size() + os.str().size()) > 0 ? 0 : 1;
}
