// graft/pattern/rewrite.hpp - rewrite rules, the rewriter, and the one-pass pattern-set driver.
//
// A rule pairs a pattern with a replacement written in the same DSL (ops called on captures,
// literals, computed values). The rewriter is the only way a rule changes the graph: it builds
// the replacement right before the matched root (where every node the match read is defined),
// redirects the root's users, copies metadata from the nodes named with `.as(capture)`, and erases
// the matched nodes left without users. It reports what torch.fx's ReplacedPatterns does.
//
//   auto rule = rewrite(op("aten.mul.Tensor")(x, 1), x).named("mul_by_one");
//   RuleSet rules(rule, other_rule);
//   RewriteReport r = rules.apply(graph);
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "graft/graph/graph.hpp"
#include "graft/pattern/match.hpp"
#include "graft/pattern/pattern.hpp"

namespace graft::pattern {

// ---- Builders (replacement-only pieces) ------------------------------------------------------

// The replacement node built by B replaces the matched node bound to Cap: the report pairs them
// and the rewriter copies Cap's metadata to it.
template <typename Cap, typename B>
struct Named : PatternBase<Named<Cap, B>> {
  B inner;
  constexpr explicit Named(B b) : inner(b) {}
  using uses = tl::join_t<tl::list<Cap>, uses_t<B>>;
  using reads = reads_t<B>;
  template <typename Bld>
  Argument build(Bld& b) const {
    Argument out = inner.build(b);
    if (out.is_node()) b.replaced.push_back({Cap::name(), b.match[Cap{}], out.as_node()});
    return out;
  }
  void describe(std::string& out) const {
    inner.describe(out);
    out += ".as(";
    out += Cap::name();
    out += ')';
  }
};

// An op with the same target as the node bound to Cap: `same_op(bn)(...)` keeps the spelling.
template <typename Cap, typename... Bs>
struct SameOp : PatternBase<SameOp<Cap, Bs...>> {
  std::tuple<Bs...> operands;
  constexpr explicit SameOp(std::tuple<Bs...> o) : operands(o) {}
  using uses = tl::join_t<tl::list<Cap>, uses_t<Bs>...>;
  using reads = tl::join_t<reads_t<Bs>...>;
  template <typename Bld>
  Argument build(Bld& b) const {
    Node* original = b.match[Cap{}];
    detail::ArgBuffer args(sizeof...(Bs));
    std::apply([&](const auto&... o) { (args.push_back(o.build(b)), ...); }, operands);
    return Argument(b.create(original->op(), args));
  }
  void describe(std::string& out) const {
    out += "same_op(";
    out += Cap::name();
    out += ")(...)";
  }
};
template <typename Cap>
struct SameOpSet {
  template <typename... Bs>
  constexpr SameOp<Cap, as_pattern_t<Bs>...> operator()(Bs... bs) const {
    return SameOp<Cap, as_pattern_t<Bs>...>(std::tuple<as_pattern_t<Bs>...>(as_pattern(bs)...));
  }
};
// same_op(c)(a, b, ...): a new node with the target of the node bound to `c`.
template <typename Cap>
constexpr SameOpSet<Cap> same_op(Cap) {
  return {};
}

// A value computed from the match: `computed([](const auto& m) { return Argument(...); })`.
template <typename F>
struct Computed : PatternBase<Computed<F>> {
  F fn;
  constexpr explicit Computed(F f) : fn(f) {}
  using uses = tl::list<>;  // reads through m[...], which checks its captures itself
  template <typename Bld>
  Argument build(Bld& b) const {
    if constexpr (std::is_invocable_v<const F&, decltype(b.match), const void*>) return Argument(fn(b.match, b.context));
    else return Argument(fn(b.match));
  }
  void describe(std::string& out) const { out += "computed(...)"; }
};
// A replacement value computed from the match by `f(m)` (or `f(m, context)`).
template <typename F>
constexpr Computed<F> computed(F f) {
  return Computed<F>(f);
}

// A value built once per rewrite and shared by every place that names it:
// `const auto scale = let(scale_factor, div(gamma, std))` used twice builds one div node.
template <typename Cap, typename B>
struct Let : PatternBase<Let<Cap, B>> {
  B inner;
  constexpr explicit Let(B b) : inner(b) {}
  using uses = uses_t<B>;
  using reads = reads_t<B>;
  template <typename Bld>
  Argument build(Bld& b) const {
    if (const Argument* v = b.lets.find(Cap::name())) return *v;
    Argument v = inner.build(b);
    b.lets.add(Cap::name(), v);
    return v;
  }
  void describe(std::string& out) const {
    out += "let ";
    out += Cap::name();
    out += " = ";
    inner.describe(out);
  }
};
// let(c, r): `r`, built once per rewrite and shared by every use.
template <typename Cap, typename B>
constexpr Let<Cap, as_pattern_t<B>> let(Cap, B b) {
  return Let<Cap, as_pattern_t<B>>(as_pattern(b));
}

// One of two replacement values, chosen per match: `pred(m)` (or `pred(m, context)`) true builds
// `a`, false builds `b`. Both sides are checked against the pattern at compile time. One rule
// with a choice instead of two rules that differ in one sub-expression: half the generated code.
template <typename F, typename A, typename B>
struct Choose : PatternBase<Choose<F, A, B>> {
  F pred;
  A first;
  B second;
  constexpr Choose(F f, A a, B b) : pred(f), first(a), second(b) {}
  using uses = tl::join_t<uses_t<A>, uses_t<B>>;
  using reads = tl::join_t<reads_t<A>, reads_t<B>>;
  template <typename Bld>
  Argument build(Bld& b) const {
    bool take_first;
    if constexpr (std::is_invocable_v<const F&, decltype(b.match), const void*>) take_first = pred(b.match, b.context);
    else take_first = pred(b.match);
    return take_first ? first.build(b) : second.build(b);
  }
  void describe(std::string& out) const {
    out += "choose(...)(";
    first.describe(out);
    out += ", ";
    second.describe(out);
    out += ')';
  }
};
// choose(pred, a, b): `a` where pred(m) holds for the match, else `b`.
template <typename F, typename A, typename B>
constexpr Choose<F, as_pattern_t<A>, as_pattern_t<B>> choose(F pred, A a, B b) {
  return Choose<F, as_pattern_t<A>, as_pattern_t<B>>(pred, as_pattern(a), as_pattern(b));
}

// A node like the one bound to Cap: same op, these leading operands, and the original's other
// arguments (positional and keyword) as they were written: `like(conv)(x, new_weight)` keeps the
// conv's stride, padding, ...; `like(bn)(y, ...)` keeps training, momentum and eps.
template <typename Cap, typename... Bs>
struct Like : PatternBase<Like<Cap, Bs...>> {
  std::tuple<Bs...> operands;
  constexpr explicit Like(std::tuple<Bs...> o) : operands(o) {}
  using uses = tl::join_t<tl::list<Cap>, uses_t<Bs>...>;
  using reads = tl::join_t<reads_t<Bs>...>;
  template <typename Bld>
  Argument build(Bld& b) const {
    const Node* original = b.match[Cap{}];
    detail::ArgBuffer args(std::max(sizeof...(Bs), original->args().size()));
    std::apply([&](const auto&... o) { (args.push_back(o.build(b)), ...); }, operands);
    // Leading operands given here may also have been keywords in the original: drop those.
    Kwargs kwargs;
    const OpSchema* op = original->op();
    for (const Kwarg& k : original->kwargs()) {
      auto i = op && op->has_signature() ? op->index_of(k.name) : std::nullopt;
      if (!(i && *i < sizeof...(Bs))) kwargs.push_back(k);
    }
    for (std::size_t i = sizeof...(Bs); i < original->args().size(); ++i) args.push_back(original->args()[i]);
    return Argument(b.create(original->op(), args, std::move(kwargs)));
  }
  void describe(std::string& out) const {
    out += "like(";
    out += Cap::name();
    out += ")(...)";
  }
};
template <typename Cap>
struct LikeSet {
  template <typename... Bs>
  constexpr Like<Cap, as_pattern_t<Bs>...> operator()(Bs... bs) const {
    return Like<Cap, as_pattern_t<Bs>...>(std::tuple<as_pattern_t<Bs>...>(as_pattern(bs)...));
  }
};
// like(c)(a, b): a copy of the node bound to `c` with these leading operands.
template <typename Cap>
constexpr LikeSet<Cap> like(Cap) {
  return {};
}

// A list argument of built elements: `list_of(x, y)`.
template <typename... Bs>
struct ListOf : PatternBase<ListOf<Bs...>> {
  std::tuple<Bs...> items;
  constexpr explicit ListOf(std::tuple<Bs...> t) : items(t) {}
  using uses = tl::join_t<uses_t<Bs>...>;
  using reads = tl::join_t<reads_t<Bs>...>;
  template <typename Bld>
  Argument build(Bld& b) const {
    Argument::List l;
    std::apply([&](const auto&... i) { (l.push_back(i.build(b)), ...); }, items);
    return Argument(std::move(l));
  }
  void describe(std::string& out) const { out += "[...]"; }
};
template <typename... Bs>
constexpr ListOf<as_pattern_t<Bs>...> list_of(Bs... bs) {
  return ListOf<as_pattern_t<Bs>...>(std::tuple<as_pattern_t<Bs>...>(as_pattern(bs)...));
}

// ---- Reports ----------------------------------------------------------------------------------

// One original node and the node that replaced it, named by capture.
struct ReplacedNode {
  std::string_view capture;
  Node* original;     // erased by the rewrite when nothing reads it any more
  Node* replacement;
};

// What one rewrite did, as torch.fx's ReplacedPatterns: the anchor (matched root), the
// capture -> (original, replacement) pairs, and every new node.
struct ReplacedPattern {
  std::string_view rule;
  Node* anchor;
  std::vector<ReplacedNode> nodes_map;
  std::vector<Node*> replacements;
};

struct RewriteReport {
  std::vector<ReplacedPattern> replaced;  // empty under RuleSet::apply_each, which hands them over
  std::size_t rewrites = 0;  // rewrites made (replaced.size(), unless apply_each handed them over)
  std::size_t refused = 0;  // matches whose replacement would have broken the order (a cycle)
  std::size_t nodes_before = 0;
  std::size_t nodes_after = 0;
  std::size_t iterations = 0;
  bool converged = true;
  // Rewrites done by the rule called `name` (of those kept in `replaced`).
  std::size_t count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(replaced.begin(), replaced.end(),
                                                   [&](const ReplacedPattern& r) { return r.rule == name; }));
  }
};

namespace detail {
// Where a rewrite goes when RuleSet::apply_each hands it to a callback instead of the report: the
// callback, and one ReplacedPattern whose vectors are reused from rewrite to rewrite (a pass over
// a big graph then allocates nothing per rewrite for its record).
struct RewriteSink {
  void (*call)(void* callback, const ReplacedPattern&);
  void* callback;
  ReplacedPattern scratch;
};
}  // namespace detail

// ---- Rules ------------------------------------------------------------------------------------

struct NoFilter {
  template <typename M>
  bool operator()(const Graph&, const M&) const {
    return true;
  }
};


namespace detail {
template <typename Uses, typename Sure>
struct every_use_bound;
template <typename... Us, typename Sure>
struct every_use_bound<tl::list<Us...>, Sure> {
  static constexpr bool value =
      (capture_must_be_bound_by_the_pattern<Us, tl::contains_v<Sure, Us>>::value && ... && true);
};

template <typename M>
struct Builder {
  Graph& graph;
  const M& match;
  const void* context;
  std::vector<Node*> created;
  std::vector<ReplacedNode> replaced;
  // let() values by capture name: a handful per rule, kept inline (no allocation per match).
  struct Lets {
    static constexpr std::size_t kInline = 4;
    std::array<std::pair<std::string_view, Argument>, kInline> first{};
    std::vector<std::pair<std::string_view, Argument>> more;
    std::size_t size = 0;
    const Argument* find(std::string_view name) const {
      for (std::size_t i = 0; i < size && i < kInline; ++i)
        if (first[i].first == name) return &first[i].second;
      for (const auto& [n, v] : more)
        if (n == name) return &v;
      return nullptr;
    }
    void add(std::string_view name, const Argument& v) {
      if (size < kInline) first[size] = {name, v};
      else more.emplace_back(name, v);
      ++size;
    }
  } lets;
  // A new node reading the arguments built in `args` (moved out of it).
  Node* create(std::string_view target, ArgBuffer& args, Kwargs&& kwargs = {}) {
    return create(graph.resolve_op(target), args, std::move(kwargs));
  }
  Node* create(const OpSchema* op, ArgBuffer& args, Kwargs&& kwargs = {}) {
    graft::detail::reserve_one_more(created);  // so that the node is recorded once it exists
    Node* n = graph.call_function_moved(op, args.data(), args.size(), std::move(kwargs));
    created.push_back(n);
    return n;
  }
};

// Runs `f(graph, match)` or `f(graph, match, context)`.
template <typename F, typename M>
bool run_filter(const F& f, const Graph& g, const M& m, const void* context) {
  if constexpr (std::is_invocable_v<const F&, const Graph&, const M&, const void*>) return f(g, m, context);
  else return f(g, m);
}
}  // namespace detail

template <typename P, typename R, typename F = NoFilter>
struct Rule {
  P pattern;
  R replacement;
  F filter{};
  std::string_view name = "rule";
  int benefit = 1;
  bool copy_meta = true;

  // A replacement that reads a capture the pattern does not always bind does not compile; the
  // error names the capture.
  static_assert(detail::every_use_bound<uses_t<R>, sure_t<P>>::value);

  // The rule, named `n` in reports.
  constexpr Rule named(std::string_view n) const {
    Rule r = *this;
    r.name = n;
    return r;
  }
  // Higher benefit is tried first among rules with the same root op.
  constexpr Rule with_benefit(int b) const {
    Rule r = *this;
    r.benefit = b;
    return r;
  }
  // The rule, without copying metadata to the nodes built with `.as(c)`.
  constexpr Rule without_meta_copy() const {
    Rule r = *this;
    r.copy_meta = false;
    return r;
  }
  // Runs `f(graph, match)` on a finished match; false skips it (torch.fx's match filters).
  template <typename F2>
  constexpr Rule<P, R, F2> where(F2 f) const {
    return Rule<P, R, F2>{pattern, replacement, f, name, benefit, copy_meta};
  }

  // Tries the rule with its root at `n`; true when it rewrote the graph. The rewrite is recorded
  // in `report.replaced`, or handed to `sink` when one is given.
  bool apply_at(Graph& g, Node* n, const MatchOptions& opt, RewriteReport& report,
                detail::RewriteSink* sink = nullptr) const;
};

// A rule replacing what `pattern` matches by `replacement` (written in the same DSL).
template <typename P, typename R>
constexpr Rule<P, as_pattern_t<R>> rewrite(P pattern, R replacement) {
  return Rule<P, as_pattern_t<R>>{pattern, as_pattern(replacement)};
}

namespace detail {
template <typename C>
inline constexpr bool is_node_capture_v = std::is_same_v<C, Capture<typename C::tag>>;

// True when every node capture the replacement reads is placed before `root`.
template <typename M, typename... Us>
bool uses_precede(const M& m, const Node* root, tl::list<Us...>) {
  return ([&] {
    if constexpr (is_node_capture_v<Us>) return m[Us{}]->is_before(*root);
    else return true;
  }() && ... && true);
}
}  // namespace detail

template <typename P, typename R, typename F>
bool Rule<P, R, F>::apply_at(Graph& g, Node* n, const MatchOptions& opt, RewriteReport& report,
                             detail::RewriteSink* sink) const {
  auto m = match_at(g, pattern, n, opt);
  if (!m || !detail::run_filter(filter, static_cast<const Graph&>(g), *m, opt.context)) return false;

  // The replacement goes right before the root, where every node the match covers or captured
  // is defined. A replacement reading a node that is not (the root itself, say) would create a
  // cycle: it is refused before anything changes.
  if (!detail::uses_precede(*m, n, reads_t<R>{})) {
    ++report.refused;
    if (opt.explain)
      *opt.explain << "rule " << name << " at " << n->describe()
                   << ": refused, the replacement would read a node that does not come before the root (a cycle)\n";
    return false;
  }

  detail::Builder<std::decay_t<decltype(*m)>> b{g, *m, opt.context, {}, {}, {}};
  if (sink) {  // the sink's vectors, kept from the last rewrite with their capacity
    b.created = std::move(sink->scratch.replacements);
    b.replaced = std::move(sink->scratch.nodes_map);
    b.created.clear();
    b.replaced.clear();
  }
  b.created.reserve(16);
  b.replaced.reserve(8);
  Argument out;
  try {
    auto guard = g.inserting_before(n);
    out = replacement.build(b);
    if (!out.is_node())
      throw GraphError("rule " + std::string(name) + ": the replacement must produce a node, not a literal");
    if (!out.as_node()->is_before(*n))
      throw GraphError("rule " + std::string(name) + ": the replacement's result does not come before the root");
  } catch (...) {
    // Nothing half-written: remove what was built (last first), then report the error.
    for (auto it = b.created.rbegin(); it != b.created.rend(); ++it)
      if (g.contains(*it) && (*it)->num_users() == 0) g.erase(*it);
    throw;
  }
  Node* result = out.as_node();
  if (copy_meta)
    for (const ReplacedNode& r : b.replaced)
      if (r.original->has_meta() && !r.replacement->has_meta()) r.replacement->meta() = r.original->meta();

  g.replace_all_uses_with(n, result);
  // Erase the matched nodes nothing reads any more, last first so chains go in one sweep.
  // (The match is not read again: its node list is sorted in place.)
  std::vector<Node*>& covered = m->nodes;
  std::sort(covered.begin(), covered.end(), [](const Node* a, const Node* b2) { return b2->is_before(*a); });
  for (Node* c : covered)
    if (c->num_users() == 0 && !c->is_output()) g.erase(c);

  ++report.rewrites;
  if (sink) {
    sink->scratch.rule = name;
    sink->scratch.anchor = n;
    sink->scratch.nodes_map = std::move(b.replaced);
    sink->scratch.replacements = std::move(b.created);
    sink->call(sink->callback, sink->scratch);
  } else {
    report.replaced.push_back(ReplacedPattern{name, n, std::move(b.replaced), std::move(b.created)});
  }
  return true;
}

// ---- The driver: a set of rules, one pass -----------------------------------------------------

// Rules indexed by root op: each node costs one hash lookup, then the rules for its target are
// tried by decreasing benefit (declaration order breaks ties); the first that applies wins.
template <typename... Rules>
class RuleSet {
 public:
  explicit RuleSet(Rules... rules) : rules_(std::move(rules)...) {
    index(std::index_sequence_for<Rules...>{});
    auto by_benefit = [&](std::size_t a, std::size_t b) { return benefit_[a] > benefit_[b]; };
    for (auto& [t, list] : by_target_) std::stable_sort(list.begin(), list.end(), by_benefit);
    std::stable_sort(unindexed_.begin(), unindexed_.end(), by_benefit);
  }

  // One pass over the graph in order; rewrites as it goes. New nodes land before the node being
  // visited, so each node is visited once.
  RewriteReport apply(Graph& g, const MatchOptions& opt = {}) const {
    RewriteReport report;
    report.nodes_before = g.size();
    pass(g, opt, report, nullptr);
    report.iterations = 1;
    report.nodes_after = g.size();
    return report;
  }

  // As apply(), but each rewrite is handed to `on_rewrite(const ReplacedPattern&)` right after it
  // is made, instead of being kept in the report (whose `replaced` stays empty; `rewrites`
  // counts). The record is reused for the next rewrite, so copy what must outlive the call. The
  // callback may write metadata of the new nodes but must not change the graph's structure; an
  // exception it throws ends the pass (inside a transaction, rolling it back).
  template <typename F>
  RewriteReport apply_each(Graph& g, F&& on_rewrite, const MatchOptions& opt = {}) const {
    using Fn = std::remove_reference_t<F>;
    detail::RewriteSink sink{[](void* f, const ReplacedPattern& r) { (*static_cast<Fn*>(f))(r); },
                             const_cast<void*>(static_cast<const void*>(std::addressof(on_rewrite))), {}};
    RewriteReport report;
    report.nodes_before = g.size();
    pass(g, opt, report, &sink);
    report.iterations = 1;
    report.nodes_after = g.size();
    return report;
  }

  // Matching alone: for each node in graph order, the first rule (by benefit) that matches there,
  // with overlaps resolved greedily as in find_matches. Returns (rule index, root) pairs.
  std::vector<std::pair<std::size_t, Node*>> find(const Graph& g, const MatchOptions& opt = {}) const {
    std::vector<std::pair<std::size_t, Node*>> out;
    std::unordered_set<Node*> claimed;
    for (Node* n : g.nodes()) {
      if (!n->is_call_function() || claimed.count(n)) continue;
      auto try_rules = [&](const std::vector<std::size_t>& rules) {
        for (std::size_t i : rules)
          if (matchers_[i](*this, g, n, opt, claimed)) {
            out.emplace_back(i, n);
            return true;
          }
        return false;
      };
      auto it = by_target_.find(n->target());
      if (!(it != by_target_.end() && try_rules(it->second))) try_rules(unindexed_);
    }
    return out;
  }

  // Applies the rule find() chose at each of its roots, in order: the rewriting pass after a
  // find() that vetted the matches, without walking the graph again. A root no longer in the
  // graph, or where its rule no longer matches, is skipped.
  RewriteReport apply_found(Graph& g, const std::vector<std::pair<std::size_t, Node*>>& found,
                            const MatchOptions& opt = {}) const {
    RewriteReport report;
    report.nodes_before = g.size();
    report.replaced.reserve(found.size());
    for (const auto& [i, n] : found)
      if (i < sizeof...(Rules) && g.contains(n)) appliers_[i](*this, g, n, opt, report, nullptr);
    report.iterations = 1;
    report.nodes_after = g.size();
    return report;
  }

  // Re-runs passes until one changes nothing, at most `max_iterations`; `converged` says whether
  // the last pass was quiet.
  RewriteReport apply_greedily(Graph& g, std::size_t max_iterations = 10, const MatchOptions& opt = {}) const {
    RewriteReport report;
    report.nodes_before = g.size();
    report.converged = false;
    while (report.iterations < max_iterations) {
      ++report.iterations;
      if (!pass(g, opt, report, nullptr)) {
        report.converged = true;
        break;
      }
    }
    report.nodes_after = g.size();
    return report;
  }

 private:
  using Apply = bool (*)(const RuleSet&, Graph&, Node*, const MatchOptions&, RewriteReport&, detail::RewriteSink*);
  using Find = bool (*)(const RuleSet&, const Graph&, Node*, const MatchOptions&, std::unordered_set<Node*>&);

  template <std::size_t I>
  static bool apply_rule(const RuleSet& s, Graph& g, Node* n, const MatchOptions& opt, RewriteReport& r,
                         detail::RewriteSink* sink) {
    return std::get<I>(s.rules_).apply_at(g, n, opt, r, sink);
  }
  template <std::size_t I>
  static bool find_rule(const RuleSet& s, const Graph& g, Node* n, const MatchOptions& opt,
                        std::unordered_set<Node*>& claimed) {
    const auto& rule = std::get<I>(s.rules_);
    auto m = match_at(g, rule.pattern, n, opt, &claimed);
    if (!m || !detail::run_filter(rule.filter, g, *m, opt.context)) return false;
    // Sized for the whole graph at the first match: growing a node-based set by rehashing
    // walks every element again (5 % of prepare at 10^5 blocks).
    if (claimed.empty()) claimed.reserve(g.size());
    claimed.insert(m->nodes.begin(), m->nodes.end());
    return true;
  }

  template <std::size_t... I>
  void index(std::index_sequence<I...>) {
    appliers_ = {&apply_rule<I>...};
    matchers_ = {&find_rule<I>...};
    benefit_ = {std::get<I>(rules_).benefit...};
    (index_one<I>(), ...);
  }
  template <std::size_t I>
  void index_one() {
    using P = decltype(std::get<I>(rules_).pattern);
    if constexpr (detail::root_info<P>::indexed) {
      for (std::string_view t : detail::root_info<P>::targets(std::get<I>(rules_).pattern)) by_target_[t].push_back(I);
    } else {
      unindexed_.push_back(I);
    }
  }

  bool pass(Graph& g, const MatchOptions& opt, RewriteReport& report, detail::RewriteSink* sink) const {
    bool changed = false;
    for (Node* n = g.first(); n;) {
      Node* next = n->next();
      if (n->is_call_function()) {
        const std::vector<std::size_t>* rules = nullptr;
        if (auto it = by_target_.find(n->target()); it != by_target_.end()) rules = &it->second;
        bool done = false;
        if (rules)
          for (std::size_t i : *rules)
            if ((done = appliers_[i](*this, g, n, opt, report, sink))) break;
        if (!done)
          for (std::size_t i : unindexed_)
            if ((done = appliers_[i](*this, g, n, opt, report, sink))) break;
        changed = changed || done;
      }
      n = next;
    }
    return changed;
  }

  std::tuple<Rules...> rules_;
  std::array<Apply, sizeof...(Rules)> appliers_{};
  std::array<Find, sizeof...(Rules)> matchers_{};
  std::array<int, sizeof...(Rules)> benefit_{};
  std::unordered_map<std::string_view, std::vector<std::size_t>> by_target_;
  std::vector<std::size_t> unindexed_;
};

template <typename... Rules>
RuleSet(Rules...) -> RuleSet<Rules...>;

}  // namespace graft::pattern
