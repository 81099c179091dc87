// graft/pattern/pattern.hpp - the compile-time pattern DSL.
//
// Patterns are C++ expressions. Every pattern node speaks one small protocol (after Halide's
// IRMatch): `binds` and `sure` (the captures it may bind / always binds, as compile-time sets),
// `match(ctx, operand)`, `describe(out)`, and, for nodes that can also be built, `build(b)` and
// `uses` (the captures the built expression reads). So a capture used twice compiles into an
// equality test, and a replacement reading a capture the pattern does not bind is a compile error.
//
//   GRAFT_CAPTURE(x); GRAFT_CAPTURE(w); GRAFT_CAPTURE(conv); GRAFT_LITERAL_CAPTURE(eps);
//   constexpr auto conv2d = op("aten.conv2d.default");
//   constexpr auto bn = op("aten.batch_norm.default");
//   const auto p = bn(conv2d(x, w).bind(conv), any(), any(), any(), any(), any(), any(), eps);
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "graft/graph/argument.hpp"
#include "graft/graph/concept.hpp"
#include "graft/graph/printer.hpp"
#include "graft/pattern/typelist.hpp"

namespace graft::pattern {

// How a match is judged.
struct MatchOptions {
  // As torch.fx's ignore_literals: any literal in the pattern matches any literal in the graph.
  bool ignore_literals = false;
  // As torch.fx: every matched op node except the root has all its users inside the match.
  bool containment = true;
  // When set, a failed match writes which sub-pattern failed on which node and operand.
  std::ostream* explain = nullptr;
  // Handed to rule filters and computed() values that take a last `const void*` argument: how a
  // pass gives its rules access to its own state (e.g. the module's tensors).
  const void* context = nullptr;
};

// ---- Captures -------------------------------------------------------------------------------

// A named node capture. Declare with GRAFT_CAPTURE(name). As a pattern it matches any node and
// binds it; used twice, both places must be the same node.
template <typename Tag>
struct Capture;
// A named literal capture (GRAFT_LITERAL_CAPTURE(name)): matches a literal and binds its value.
template <typename Tag>
struct LitCapture;

#define GRAFT_CAPTURE(id)                                              \
  struct id##_capture_tag {                                            \
    static constexpr std::string_view name() { return #id; }           \
  };                                                                   \
  [[maybe_unused]] constexpr ::graft::pattern::Capture<id##_capture_tag> id {}

#define GRAFT_LITERAL_CAPTURE(id)                                      \
  struct id##_capture_tag {                                            \
    static constexpr std::string_view name() { return #id; }           \
  };                                                                   \
  [[maybe_unused]] constexpr ::graft::pattern::LitCapture<id##_capture_tag> id {}

// ---- Match context --------------------------------------------------------------------------

namespace detail {

template <typename G>
using node_t = typename graph_model<G>::node;

template <typename G, typename = void>
struct has_name : std::false_type {};
template <typename G>
struct has_name<G, std::void_t<decltype(graph_model<G>::name(std::declval<const G&>(),
                                                             std::declval<node_t<G>>()))>>
    : std::true_type {};

// "node 'relu_3' (aten.relu.default)" when the model names nodes, else "a node (aten.relu.default)".
template <typename G>
std::string describe_node(const G& g, node_t<G> n) {
  std::string t(graph_model<G>::target(g, n));
  if constexpr (has_name<G>::value) return "node '" + std::string(graph_model<G>::name(g, n)) + "' (" + t + ")";
  else return "a node (" + t + ")";
}

template <typename G>
std::string describe_operand(const G& g, const Operand<node_t<G>>& x) {
  switch (x.kind) {
    case OperandKind::absent: return "an absent argument";
    case OperandKind::node: return describe_node(g, x.node);
    case OperandKind::literal: {
      std::string s = "literal ";
      graft::detail::format_arg(s, x.value());
      return s;
    }
  }
  return "?";
}

}  // namespace detail

namespace detail {
template <typename T>
struct is_literal_capture : std::false_type {};
template <typename Tag>
struct is_literal_capture<LitCapture<Tag>> : std::true_type {};
template <typename L>
struct has_literal_capture;
template <typename... Ts>
struct has_literal_capture<tl::list<Ts...>> : std::bool_constant<(is_literal_capture<Ts>::value || ...)> {};
// Literal slots: one per capture when the pattern has a literal capture, else none (so a pattern
// of node captures only neither stores nor copies a row of empty Arguments).
template <typename Caps>
inline constexpr std::size_t literal_slots_v = has_literal_capture<Caps>::value ? Caps::size : 0;
}  // namespace detail

// The state of one match attempt. `Caps` is the pattern's capture set; slots follow its order.
template <typename G, typename Caps>
struct Context {
  using model = graph_model<G>;
  using node = typename model::node;
  using caps = Caps;
  static constexpr std::size_t K = Caps::size;
  static constexpr std::size_t KL = detail::literal_slots_v<Caps>;

  const G& g;
  const MatchOptions& opt;
  const std::unordered_set<node>* claimed = nullptr;  // nodes of earlier matches

  std::array<node, K> nodes{};
  std::array<Argument, KL> literals{};
  std::array<bool, K> bound{};
  std::vector<node> internal;          // nodes matched by op patterns, root first
  std::vector<node> users_inside;      // nodes that asked for all_users_inside()

  Context(const G& graph, const MatchOptions& options) : g(graph), opt(options) {}

  struct Snapshot {
    std::array<node, K> nodes;
    std::array<Argument, KL> literals;
    std::array<bool, K> bound;
    std::size_t internal, users_inside;
  };
  Snapshot save() const { return Snapshot{nodes, literals, bound, internal.size(), users_inside.size()}; }
  void restore(Snapshot s) {
    nodes = s.nodes;
    literals = std::move(s.literals);
    bound = s.bound;
    internal.resize(s.internal);
    users_inside.resize(s.users_inside);
  }

  // Records why `what` failed on `x` (only in explain mode) and returns false. `why` is a string
  // or a callable making one, so nothing is formatted unless someone is listening. The reporting
  // itself is out of line and type-erased: a failure site costs a test and a call, not a copy of
  // the sub-pattern's describe() (which would make every matcher's code grow with its depth).
  template <typename P, typename Why>
  bool fail(const P& what, const Operand<node>& x, Why&& why) const {
    if (opt.explain) {
      if constexpr (std::is_invocable_v<Why>) report_failure(&what, &describe_erased<P>, x, std::string(why()));
      else report_failure(&what, &describe_erased<P>, x, std::string(why));
    }
    return false;
  }

 private:
  template <typename P>
  static void describe_erased(const void* p, std::string& out) {
    static_cast<const P*>(p)->describe(out);
  }
#if defined(__GNUC__)
  __attribute__((noinline, cold))
#endif
  void report_failure(const void* what, void (*describe)(const void*, std::string&), const Operand<node>& x,
                      const std::string& why) const {
    std::string d;
    describe(what, d);
    *opt.explain << "pattern " << d << " failed on " << detail::describe_operand(g, x) << ": " << why << "\n";
  }
};

// ---- The pattern protocol, and the pieces --------------------------------------------------

template <typename Cap, typename P>
struct Bind;
template <typename P>
struct OneUser;
template <typename P>
struct AllUsersInside;
template <typename P, typename F>
struct Where;
template <typename A, typename B>
struct Either;
template <typename Cap, typename B>
struct Named;  // graft/pattern/rewrite.hpp

// Base of every pattern node: the modifiers that read as a sentence.
template <typename Derived>
struct PatternBase {
  // Binds the node (or literal) this pattern matched to `cap`.
  template <typename Cap>
  constexpr Bind<Cap, Derived> bind(Cap) const {
    return Bind<Cap, Derived>{self()};
  }
  // ... and that node has exactly one user.
  constexpr OneUser<Derived> one_user() const { return OneUser<Derived>{self()}; }
  // ... and all its users are inside the match.
  constexpr AllUsersInside<Derived> all_users_inside() const { return AllUsersInside<Derived>{self()}; }
  // ... and `pred(graph, node)` holds.
  template <typename F>
  constexpr Where<Derived, F> where(F pred) const {
    return Where<Derived, F>{self(), pred};
  }
  // In a replacement: the node this builds replaces the matched node bound to `cap`
  // (graft/pattern/rewrite.hpp).
  template <typename Cap>
  constexpr Named<Cap, Derived> as(Cap) const {
    return Named<Cap, Derived>{self()};
  }
  constexpr const Derived& self() const { return static_cast<const Derived&>(*this); }
};

template <typename P>
constexpr bool is_pattern_v = std::is_base_of_v<PatternBase<P>, P>;

// The capture sets of a piece; pieces that only match (or only build) leave the other sets empty.
namespace detail {
template <typename P, typename = void>
struct binds_of {
  using type = tl::list<>;
};
template <typename P>
struct binds_of<P, std::void_t<typename P::binds>> {
  using type = typename P::binds;
};
template <typename P, typename = void>
struct sure_of {
  using type = tl::list<>;
};
template <typename P>
struct sure_of<P, std::void_t<typename P::sure>> {
  using type = typename P::sure;
};
template <typename P, typename = void>
struct reads_of {
  using type = tl::list<>;
};
template <typename P>
struct reads_of<P, std::void_t<typename P::reads>> {
  using type = typename P::reads;
};
template <typename P, typename = void>
struct uses_of {
  using type = tl::list<>;
};
template <typename P>
struct uses_of<P, std::void_t<typename P::uses>> {
  using type = typename P::uses;
};
}  // namespace detail
template <typename P>
using binds_t = typename detail::binds_of<P>::type;
template <typename P>
using sure_t = typename detail::sure_of<P>::type;
// Every capture a replacement reads (checked to be bound by the pattern).
template <typename P>
using uses_t = typename detail::uses_of<P>::type;
// The node captures a replacement takes as operands (checked to come before the root).
template <typename P>
using reads_t = typename detail::reads_of<P>::type;

// Any node.
struct AnyNode : PatternBase<AnyNode> {
  using binds = tl::list<>;
  using sure = tl::list<>;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    return x.is_node() ? true : c.fail(*this, x, "not a node");
  }
  void describe(std::string& out) const { out += "any()"; }
};
// Any literal.
struct AnyLiteral : PatternBase<AnyLiteral> {
  using binds = tl::list<>;
  using sure = tl::list<>;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    return x.is_literal() ? true : c.fail(*this, x, "not a literal");
  }
  void describe(std::string& out) const { out += "any_literal()"; }
};
// Anything at all, including an absent argument.
struct Anything : PatternBase<Anything> {
  using binds = tl::list<>;
  using sure = tl::list<>;
  template <typename Ctx>
  bool match(Ctx&, const Operand<typename Ctx::node>&) const {
    return true;
  }
  void describe(std::string& out) const { out += "anything()"; }
};

// A node of a given kind: a graph input (placeholder) or a get_attr.
template <NodeKind Kind>
struct KindIs : PatternBase<KindIs<Kind>> {
  using binds = tl::list<>;
  using sure = tl::list<>;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if (!x.is_node()) return c.fail(*this, x, "not a node");
    if (Ctx::model::kind(c.g, x.node) != Kind)
      return c.fail(*this, x, [] { return "not a " + std::string(node_kind_name(Kind)); });
    return true;
  }
  void describe(std::string& out) const {
    out += Kind == NodeKind::placeholder ? "input()" : Kind == NodeKind::get_attr ? "attr()" : "kind()";
  }
};

namespace detail {
// The arguments of one node a replacement builds: on the stack up to 16 (every aten op a rule
// builds), on the heap beyond. Graph::call_function_moved takes them from here, so building a
// node makes no std::vector.
class ArgBuffer {
 public:
  explicit ArgBuffer(std::size_t capacity) : on_heap_(capacity > kInline) {
    if (on_heap_) heap_.reserve(capacity);
  }
  ArgBuffer(const ArgBuffer&) = delete;
  ArgBuffer& operator=(const ArgBuffer&) = delete;
  ~ArgBuffer() {
    if (!on_heap_)
      for (std::size_t i = 0; i < size_; ++i) inline_data()[i].~Argument();
  }
  void push_back(Argument a) {
    if (!on_heap_ && size_ == kInline) {  // more than expected: move what is inline to the heap
      heap_.reserve(2 * kInline);
      for (std::size_t i = 0; i < size_; ++i) {
        heap_.push_back(std::move(inline_data()[i]));
        inline_data()[i].~Argument();
      }
      on_heap_ = true;
    }
    if (on_heap_) heap_.push_back(std::move(a));
    else ::new (static_cast<void*>(inline_data() + size_)) Argument(std::move(a));
    ++size_;
  }
  Argument* data() noexcept { return on_heap_ ? heap_.data() : inline_data(); }
  std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::size_t kInline = 16;
  Argument* inline_data() noexcept { return reinterpret_cast<Argument*>(inline_); }
  bool on_heap_;
  std::size_t size_ = 0;
  alignas(Argument) unsigned char inline_[kInline * sizeof(Argument)];  // the first size_ constructed
  std::vector<Argument> heap_;
};

// Python-style literal equality: 1 == 1.0, lists elementwise.
inline bool literal_equal(const Argument& a, const Argument& b) {
  if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
  if (a.is_list() && b.is_list()) {
    const auto& x = a.as_list();
    const auto& y = b.as_list();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!literal_equal(x[i], y[i])) return false;
    return true;
  }
  return a == b;
}
}  // namespace detail

// A literal equal to a value (int, double, bool, string, dtype, None, or an Argument such as a
// list).
template <typename T>
struct Lit : PatternBase<Lit<T>> {
  T value;
  using binds = tl::list<>;
  using sure = tl::list<>;
  using uses = tl::list<>;
  constexpr explicit Lit(T v) : value(v) {}
  Argument argument() const {
    if constexpr (std::is_same_v<T, std::nullptr_t>) return Argument();
    else return Argument(value);
  }
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if constexpr (std::is_same_v<T, std::nullptr_t>) {
      // None matches an absent optional argument too.
      if (x.is_absent() || (x.is_literal() && x.value().is_none())) return true;
      if (x.is_literal() && c.opt.ignore_literals) return true;
      return c.fail(*this, x, "not None");
    } else {
      if (!x.is_literal()) return c.fail(*this, x, "not a literal");
      if (c.opt.ignore_literals || detail::literal_equal(argument(), x.value())) return true;
      return c.fail(*this, x, "a different literal");
    }
  }
  template <typename B>
  Argument build(B&) const {
    return argument();
  }
  void describe(std::string& out) const {
    if constexpr (std::is_same_v<T, std::string_view>) out += "\"" + std::string(value) + "\"";
    else graft::detail::format_arg(out, argument());
  }
};

// Turns a raw value written in a pattern (3, 1e-5, true, "same", DType::int8, nullptr) into Lit.
template <typename T>
constexpr auto as_pattern(T v) {
  if constexpr (is_pattern_v<T>) return v;
  else if constexpr (std::is_same_v<T, bool>) return Lit<bool>(v);
  else if constexpr (std::is_integral_v<T>) return Lit<std::int64_t>(static_cast<std::int64_t>(v));
  else if constexpr (std::is_floating_point_v<T>) return Lit<double>(static_cast<double>(v));
  else if constexpr (std::is_same_v<T, DType>) return Lit<DType>(v);
  else if constexpr (std::is_same_v<T, Argument>) return Lit<Argument>(v);  // e.g. ints({1, 1})
  else if constexpr (std::is_same_v<T, std::nullptr_t>) return Lit<std::nullptr_t>(nullptr);
  else if constexpr (std::is_convertible_v<T, std::string_view>) return Lit<std::string_view>(std::string_view(v));
  else static_assert(sizeof(T) == 0, "graft: this value cannot be used in a pattern (use a capture, a pattern, or an int/float/bool/string/dtype literal)");
}
template <typename T>
using as_pattern_t = decltype(as_pattern(std::declval<T>()));

template <typename Tag>
struct Capture : PatternBase<Capture<Tag>> {
  using tag = Tag;
  using binds = tl::list<Capture<Tag>>;
  using sure = tl::list<Capture<Tag>>;
  using uses = tl::list<Capture<Tag>>;
  using reads = tl::list<Capture<Tag>>;
  static constexpr std::string_view name() { return Tag::name(); }
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if (!x.is_node()) return c.fail(*this, x, "a node capture needs a node");
    return bind_node(c, x);
  }
  // Binds x's node, or checks it against an earlier binding of the same capture.
  template <typename Ctx>
  bool bind_node(Ctx& c, const Operand<typename Ctx::node>& x) const {
    constexpr std::size_t i = tl::index_of_v<typename Ctx::caps, Capture<Tag>>;
    if (c.bound[i])
      return c.nodes[i] == x.node ? true : c.fail(*this, x, "the capture is already bound to another node");
    c.nodes[i] = x.node;
    c.bound[i] = true;
    return true;
  }
  template <typename B>
  Argument build(B& b) const {
    return Argument(b.match[*this]);
  }
  void describe(std::string& out) const { out += name(); }
};

template <typename Tag>
struct LitCapture : PatternBase<LitCapture<Tag>> {
  using tag = Tag;
  using binds = tl::list<LitCapture<Tag>>;
  using sure = tl::list<LitCapture<Tag>>;
  using uses = tl::list<LitCapture<Tag>>;
  static constexpr std::string_view name() { return Tag::name(); }
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if (!x.is_literal()) return c.fail(*this, x, "a literal capture needs a literal");
    return bind_literal(c, x);
  }
  template <typename Ctx>
  bool bind_literal(Ctx& c, const Operand<typename Ctx::node>& x) const {
    constexpr std::size_t i = tl::index_of_v<typename Ctx::caps, LitCapture<Tag>>;
    if (c.bound[i])
      return detail::literal_equal(c.literals[i], x.value())
                 ? true
                 : c.fail(*this, x, "the capture is already bound to another value");
    c.literals[i] = x.value();
    c.bound[i] = true;
    return true;
  }
  template <typename B>
  Argument build(B& b) const {
    return b.match[*this];
  }
  void describe(std::string& out) const { out += name(); }
};

// P, then binds what it matched to Cap.
template <typename Cap, typename P>
struct Bind : PatternBase<Bind<Cap, P>> {
  P inner;
  constexpr explicit Bind(P p) : inner(p) {}
  using binds = tl::join_t<tl::list<Cap>, typename P::binds>;
  using sure = tl::join_t<tl::list<Cap>, typename P::sure>;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if (!inner.match(c, x)) return false;
    if constexpr (std::is_same_v<Cap, Capture<typename Cap::tag>>) {
      if (!x.is_node()) return c.fail(*this, x, "a node capture needs a node");
      return Cap{}.bind_node(c, x);
    } else {
      if (!x.is_literal()) return c.fail(*this, x, "a literal capture needs a literal");
      return Cap{}.bind_literal(c, x);
    }
  }
  void describe(std::string& out) const {
    out += Cap::name();
    out += '=';
    inner.describe(out);
  }
};

template <typename P>
struct OneUser : PatternBase<OneUser<P>> {
  P inner;
  constexpr explicit OneUser(P p) : inner(p) {}
  using binds = typename P::binds;
  using sure = typename P::sure;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if (!inner.match(c, x)) return false;
    if (!x.is_node()) return c.fail(*this, x, "not a node");
    std::size_t users = Ctx::model::num_users(c.g, x.node);
    if (users != 1) return c.fail(*this, x, [&] { return "it has " + std::to_string(users) + " users, not one"; });
    return true;
  }
  void describe(std::string& out) const {
    inner.describe(out);
    out += ".one_user()";
  }
};

template <typename P>
struct AllUsersInside : PatternBase<AllUsersInside<P>> {
  P inner;
  constexpr explicit AllUsersInside(P p) : inner(p) {}
  using binds = typename P::binds;
  using sure = typename P::sure;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if (!inner.match(c, x)) return false;
    if (!x.is_node()) return c.fail(*this, x, "not a node");
    c.users_inside.push_back(x.node);  // checked once the whole match is known
    return true;
  }
  void describe(std::string& out) const {
    inner.describe(out);
    out += ".all_users_inside()";
  }
};

template <typename P, typename F>
struct Where : PatternBase<Where<P, F>> {
  P inner;
  F pred;
  constexpr Where(P p, F f) : inner(p), pred(f) {}
  using binds = typename P::binds;
  using sure = typename P::sure;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if (!inner.match(c, x)) return false;
    if (!x.is_node()) return c.fail(*this, x, "not a node");
    return pred(c.g, x.node) ? true : c.fail(*this, x, "the predicate is false");
  }
  void describe(std::string& out) const {
    inner.describe(out);
    out += ".where(...)";
  }
};

// Absent, None, or matching P. Captures inside are not bound on every path.
template <typename P>
struct Optional : PatternBase<Optional<P>> {
  P inner;
  constexpr explicit Optional(P p) : inner(p) {}
  using binds = typename P::binds;
  using sure = tl::list<>;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    if (x.is_absent() || (x.is_literal() && x.value().is_none())) return true;
    return inner.match(c, x);
  }
  void describe(std::string& out) const {
    out += "optional(";
    inner.describe(out);
    out += ')';
  }
};

// A, else B (A's partial captures are undone before B is tried).
template <typename A, typename B>
struct Either : PatternBase<Either<A, B>> {
  A first;
  B second;
  constexpr Either(A a, B b) : first(a), second(b) {}
  using binds = tl::join_t<typename A::binds, typename B::binds>;
  using sure = tl::meet_t<typename A::sure, typename B::sure>;
  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    auto snap = c.save();
    if (first.match(c, x)) return true;
    c.restore(std::move(snap));
    return second.match(c, x);
  }
  void describe(std::string& out) const {
    out += "either(";
    first.describe(out);
    out += ", ";
    second.describe(out);
    out += ')';
  }
};

// ---- Op patterns ----------------------------------------------------------------------------

template <std::size_t N>
struct OpSet;

// A call_function node whose target is in the set, with operands matching Ps (a prefix of the
// op's schema arguments; the rest are not looked at). Operands are read through the op schemas,
// so positional and keyword arguments match alike.
template <std::size_t N, typename... Ps>
struct OpPat : PatternBase<OpPat<N, Ps...>> {
  std::array<std::string_view, N> targets;
  std::tuple<Ps...> operands;
  constexpr OpPat(std::array<std::string_view, N> t, std::tuple<Ps...> o) : targets(t), operands(o) {}

  using binds = tl::join_t<binds_t<Ps>...>;
  using sure = tl::join_t<sure_t<Ps>...>;
  using uses = tl::join_t<uses_t<Ps>...>;
  using reads = tl::join_t<reads_t<Ps>...>;
  // True when `t` is one of the targets.
  bool has_target(std::string_view t) const {
    for (std::string_view s : targets)
      if (s == t) return true;
    return false;
  }

  template <typename Ctx>
  bool match(Ctx& c, const Operand<typename Ctx::node>& x) const {
    using model = typename Ctx::model;
    if (!x.is_node()) return c.fail(*this, x, "not a node");
    auto n = x.node;
    if (model::kind(c.g, n) != NodeKind::call_function) return c.fail(*this, x, "not a call_function");
    if (!has_target(model::target(c.g, n))) return c.fail(*this, x, "its target is not in the pattern's set");
    if (c.claimed && c.claimed->count(n)) return c.fail(*this, x, "it belongs to an earlier match");
    if (std::find(c.internal.begin(), c.internal.end(), n) == c.internal.end()) {
      if (c.internal.capacity() == 0) c.internal.reserve(8);  // one allocation for most matches
      c.internal.push_back(n);
    }
    return match_operands(c, n, std::index_sequence_for<Ps...>{});
  }

  template <typename B>
  Argument build(B& b) const {
    static_assert(N == 1,
                  "graft: a replacement op must name exactly one target; to repeat the op a "
                  "capture matched, use same_op(capture)(...)");
    detail::ArgBuffer args(sizeof...(Ps));
    build_operands(b, args, std::index_sequence_for<Ps...>{});
    return Argument(b.create(targets[0], args));
  }

  void describe(std::string& out) const {
    for (std::size_t i = 0; i < N; ++i) {
      if (i) out += '|';
      out += targets[i];
    }
    out += '(';
    describe_operands(out, std::index_sequence_for<Ps...>{});
    out += ')';
  }

 private:
  template <typename Ctx, std::size_t... I>
  bool match_operands(Ctx& c, typename Ctx::node n, std::index_sequence<I...>) const {
    return (match_operand<I>(c, n) && ...);
  }
  template <std::size_t I, typename Ctx>
  bool match_operand(Ctx& c, typename Ctx::node n) const {
    auto o = Ctx::model::operand(c.g, n, I);
    if (std::get<I>(operands).match(c, o)) return true;
    return c.fail(*this, Operand<typename Ctx::node>::of_node(n),
                  [] { return "operand " + std::to_string(I) + " did not match"; });
  }
  template <typename B, std::size_t... I>
  void build_operands(B& b, detail::ArgBuffer& args, std::index_sequence<I...>) const {
    (args.push_back(std::get<I>(operands).build(b)), ...);
  }
  template <std::size_t... I>
  void describe_operands(std::string& out, std::index_sequence<I...>) const {
    ((out += (I ? ", " : ""), std::get<I>(operands).describe(out)), ...);
  }
};

// A set of op targets; call it with operand patterns to get an op pattern.
template <std::size_t N>
struct OpSet {
  std::array<std::string_view, N> targets;
  template <typename... Ps>
  constexpr OpPat<N, as_pattern_t<Ps>...> operator()(Ps... ps) const {
    return OpPat<N, as_pattern_t<Ps>...>(targets, std::tuple<as_pattern_t<Ps>...>(as_pattern(ps)...));
  }
};

// ---- Factories --------------------------------------------------------------------------------

// An op by target, or any of several: `op("aten.conv1d.default", "aten.conv2d.default")`.
template <typename... S>
constexpr OpSet<sizeof...(S)> op(S... targets) {
  return OpSet<sizeof...(S)>{{std::string_view(targets)...}};
}
// Any node.
constexpr AnyNode any() { return {}; }
// Any literal.
constexpr AnyLiteral any_literal() { return {}; }
// A node, a literal, or an absent argument.
constexpr Anything anything() { return {}; }
// A graph input (placeholder).
constexpr KindIs<NodeKind::placeholder> input() { return {}; }
// A get_attr node: a parameter or buffer.
constexpr KindIs<NodeKind::get_attr> attr() { return {}; }
// A literal equal to `v`, written explicitly (raw values in a pattern mean the same).
template <typename T>
constexpr auto lit(T v) {
  return as_pattern(v);
}
// None, or an absent optional argument.
constexpr Lit<std::nullptr_t> none() { return Lit<std::nullptr_t>(nullptr); }
// Absent or None, or `p`; captures inside are read with Match::find.
template <typename P>
constexpr Optional<as_pattern_t<P>> optional(P p) {
  return Optional<as_pattern_t<P>>(as_pattern(p));
}
// `a`, else `b` (what `a` bound is undone first).
template <typename A, typename B>
constexpr Either<as_pattern_t<A>, as_pattern_t<B>> either(A a, B b) {
  return Either<as_pattern_t<A>, as_pattern_t<B>>(as_pattern(a), as_pattern(b));
}
// `a || b` is either(a, b).
template <typename A, typename B, std::enable_if_t<is_pattern_v<A> && is_pattern_v<B>, int> = 0>
constexpr Either<A, B> operator||(A a, B b) {
  return Either<A, B>(a, b);
}

// Prints a pattern: `aten.batch_norm.default(conv=aten.conv2d.default(x, w), ...)`.
template <typename P>
std::string describe(const P& p) {
  std::string s;
  p.describe(s);
  return s;
}

// Root targets of a pattern, for indexing a pattern set by root op (empty: no index).
namespace detail {
template <typename P, typename = void>
struct root_info {
  static constexpr bool indexed = false;
};
template <std::size_t N, typename... Ps>
struct root_info<OpPat<N, Ps...>> {
  static constexpr bool indexed = true;
  static const std::array<std::string_view, N>& targets(const OpPat<N, Ps...>& p) { return p.targets; }
};
template <typename Cap, typename P>
struct root_info<Bind<Cap, P>> : root_info<P> {
  static auto targets(const Bind<Cap, P>& p) { return root_info<P>::targets(p.inner); }
};
template <typename P>
struct root_info<OneUser<P>> : root_info<P> {
  static auto targets(const OneUser<P>& p) { return root_info<P>::targets(p.inner); }
};
template <typename P>
struct root_info<AllUsersInside<P>> : root_info<P> {
  static auto targets(const AllUsersInside<P>& p) { return root_info<P>::targets(p.inner); }
};
template <typename P, typename F>
struct root_info<Where<P, F>> : root_info<P> {
  static auto targets(const Where<P, F>& p) { return root_info<P>::targets(p.inner); }
};
}  // namespace detail

}  // namespace graft::pattern
