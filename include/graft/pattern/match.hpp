// graft/pattern/match.hpp - matching a pattern at a node, and over a whole graph.
//
// `match_at(g, p, n)` tries pattern `p` rooted at node `n` of any graph modelling graft's graph
// concept and returns a `Match` (the root, the op-matched nodes, the captures read by name) or
// nothing; a failed attempt binds nothing. `find_matches(g, p)` walks the graph once and returns
// every match, overlaps resolved greedily in graph order, with torch.fx's containment rule.
#pragma once

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "graft/graph/concept.hpp"
#include "graft/pattern/pattern.hpp"
#include "graft/pattern/typelist.hpp"

namespace graft::pattern {

namespace detail {
// Instantiated with Ok == false, this names the offending capture in the compiler's message.
template <typename Capture, bool Ok>
struct capture_must_be_bound_by_the_pattern {
  static_assert(Ok,
                "graft: this capture is not bound on every path of the pattern (it is not in the "
                "pattern, or only inside optional() or one side of either()); read it with "
                "find(), or bind it in the pattern. The capture is the template argument above.");
  static constexpr bool value = Ok;
};
template <typename Capture, bool Ok>
struct capture_is_not_in_the_pattern {
  static_assert(Ok, "graft: this capture does not appear in the pattern. The capture is the "
                    "template argument above.");
  static constexpr bool value = Ok;
};
}  // namespace detail

template <typename G, typename P>
class Match;

// Matches `p` with its root at node `n`. Transactional: on failure nothing is bound. Nodes in
// `claimed` (an earlier match's) cannot be matched by op patterns.
template <typename G, typename P>
std::optional<Match<G, P>> match_at(const G& g, const P& p, typename graph_model<G>::node n,
                                    const MatchOptions& opt = {},
                                    const std::unordered_set<typename graph_model<G>::node>* claimed = nullptr);

// A successful match: the root, the op nodes it covers, and the captures, read by name:
// `m[conv]` (a node), `m[eps]` (a literal), `m.find(bias)` (maybe bound).
template <typename G, typename P>
class Match {
 public:
  using model = graph_model<G>;
  using node = typename model::node;
  using caps = typename P::binds;
  using sure = typename P::sure;
  static constexpr std::size_t K = caps::size;

  node root{};
  // The nodes matched by op patterns, the root first: the nodes a rewrite replaces.
  std::vector<node> nodes;

  template <typename Tag>
  node operator[](Capture<Tag>) const {
    static_assert(detail::capture_must_be_bound_by_the_pattern<Capture<Tag>, tl::contains_v<sure, Capture<Tag>>>::value);
    return nodes_[tl::index_of_v<caps, Capture<Tag>>];
  }
  template <typename Tag>
  const Argument& operator[](LitCapture<Tag>) const {
    static_assert(detail::capture_must_be_bound_by_the_pattern<LitCapture<Tag>, tl::contains_v<sure, LitCapture<Tag>>>::value);
    return literals_[tl::index_of_v<caps, LitCapture<Tag>>];
  }
  // A capture that may be unbound (inside optional() or either()): the node, or nullopt.
  template <typename Tag>
  std::optional<node> find(Capture<Tag>) const {
    static_assert(detail::capture_is_not_in_the_pattern<Capture<Tag>, tl::contains_v<caps, Capture<Tag>>>::value);
    constexpr std::size_t i = tl::index_of_v<caps, Capture<Tag>>;
    return bound_[i] ? std::optional<node>(nodes_[i]) : std::nullopt;
  }
  // The same for a literal capture: the literal, or null.
  template <typename Tag>
  const Argument* find(LitCapture<Tag>) const {
    static_assert(detail::capture_is_not_in_the_pattern<LitCapture<Tag>, tl::contains_v<caps, LitCapture<Tag>>>::value);
    constexpr std::size_t i = tl::index_of_v<caps, LitCapture<Tag>>;
    return bound_[i] ? &literals_[i] : nullptr;
  }
  // True when `n` is one of the nodes matched by op patterns.
  bool covers(node n) const { return std::find(nodes.begin(), nodes.end(), n) != nodes.end(); }

 private:
  template <typename G2, typename P2>
  friend std::optional<Match<G2, P2>> match_at(const G2&, const P2&, typename graph_model<G2>::node,
                                               const MatchOptions&,
                                               const std::unordered_set<typename graph_model<G2>::node>*);
  std::array<node, K> nodes_{};
  std::array<Argument, detail::literal_slots_v<caps>> literals_{};
  std::array<bool, K> bound_{};
};

template <typename G, typename P>
std::optional<Match<G, P>> match_at(const G& g, const P& p, typename graph_model<G>::node n,
                                    const MatchOptions& opt,
                                    const std::unordered_set<typename graph_model<G>::node>* claimed) {
  require_graph_model<G>();
  static_assert(is_pattern_v<P>, "graft: match_at needs a pattern");
  if constexpr (!is_graph_model_v<G>) {
    return std::nullopt;  // the static_assert above has said why
  } else {
  using model = graph_model<G>;
  using node = typename model::node;
  Context<G, typename P::binds> c(g, opt);
  c.claimed = claimed;
  const Operand<node> root = Operand<node>::of_node(n);
  if (!p.match(c, root)) return std::nullopt;

  // Containment (torch.fx): every matched op node but the root is read only inside the match;
  // all_users_inside() asks the same of any node, the root included.
  auto inside = [&](node m) {
    for (node u : model::users(g, m))
      if (std::find(c.internal.begin(), c.internal.end(), u) == c.internal.end()) return false;
    return true;
  };
  if (opt.containment)
    for (std::size_t i = 0; i < c.internal.size(); ++i)
      if (c.internal[i] != n && !inside(c.internal[i]))
        return c.fail(p, Operand<node>::of_node(c.internal[i]),
                      "a matched node other than the root has a user outside the match"),
               std::nullopt;
  for (node m : c.users_inside)
    if (!inside(m))
      return c.fail(p, Operand<node>::of_node(m), "a node marked all_users_inside() has a user outside the match"),
             std::nullopt;

  Match<G, P> m;
  m.root = n;
  m.nodes = std::move(c.internal);
  m.nodes_ = c.nodes;
  m.literals_ = std::move(c.literals);
  m.bound_ = c.bound;
  return m;
  }
}

// Every match of `p` in graph order, rooted at successive nodes; overlaps are resolved greedily
// in that order (a node matched by an op pattern belongs to one match only), as torch.fx does.
template <typename G, typename P>
std::vector<Match<G, P>> find_matches(const G& g, const P& p, const MatchOptions& opt = {}) {
  require_graph_model<G>();
  std::vector<Match<G, P>> out;
  if constexpr (is_graph_model_v<G>) {
  using model = graph_model<G>;
  using node = typename model::node;
  std::unordered_set<node> claimed;
  for (node n : model::nodes(g)) {
    if constexpr (detail::root_info<P>::indexed) {
      if (model::kind(g, n) != NodeKind::call_function) continue;
      const auto& targets = detail::root_info<P>::targets(p);
      std::string_view t = model::target(g, n);
      if (std::find(targets.begin(), targets.end(), t) == targets.end()) continue;
    }
    if (claimed.count(n)) continue;
    if (auto m = match_at(g, p, n, opt, &claimed)) {
      claimed.insert(m->nodes.begin(), m->nodes.end());
      out.push_back(std::move(*m));
    }
  }
  }
  return out;
}

}  // namespace graft::pattern
