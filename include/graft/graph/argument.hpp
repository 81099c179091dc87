// graft/graph/argument.hpp - the value of one node argument: a literal, a node reference or a list.
//
// `Argument` holds what an FX node argument can be: None, bool, int64, double, string, dtype, a
// reference to another node, or a list of those (nested). It converts implicitly from the C++
// values, so `g.call_function("aten.add.Tensor", {x, 1})` reads naturally; `ints({1, 1})` and
// `list({a, b})` build lists. The `as_*` accessors throw SchemaError on the wrong kind.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "graft/error.hpp"
#include "graft/tensor/dtype.hpp"

namespace graft {

class Node;

enum class ArgKind : std::uint8_t { none, boolean, integer, real, string, dtype, node, list };

// The kind's name for messages: "None", "int", "node", ...
constexpr std::string_view arg_kind_name(ArgKind k) noexcept {
  switch (k) {
    case ArgKind::none: return "None";
    case ArgKind::boolean: return "bool";
    case ArgKind::integer: return "int";
    case ArgKind::real: return "float";
    case ArgKind::string: return "str";
    case ArgKind::dtype: return "dtype";
    case ArgKind::node: return "node";
    case ArgKind::list: return "list";
  }
  return "?";
}

// An FX argument: None, bool, int64, double, string, dtype, node reference, or a list of those.
// Equality is structural; doubles compare by value except that NaN equals NaN, so a graph
// compares equal to its copy.
//
// A tagged union of 16 bytes: scalars inline, strings and lists on the heap. (Not std::variant:
// GCC 12 reports false -Wmaybe-uninitialized warnings at -O3 when copying a variant that holds a
// std::string, in users' code as well as ours.)
//
// Lists are shared between copies until one of them is changed (copy on write, with an atomic
// count): a rewrite that copies a conv's stride, padding and dilation, or a graph copy, shares
// them instead of allocating two blocks per list. Each copy still behaves as its own value. The
// mutable as_list() gives the caller a reference that could be written through later, so it
// takes a private copy first and marks it never to be shared again (as std::string did when it
// was copy on write).
class Argument {
 public:
  using List = std::vector<Argument>;

  Argument() noexcept {}
  Argument(std::nullptr_t) noexcept {}
  Argument(bool b) noexcept : kind_(ArgKind::boolean) { u_.b = b; }
  template <typename I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool> &&
                                             !std::is_same_v<I, char>,
                                         int> = 0>
  Argument(I i) noexcept : kind_(ArgKind::integer) {
    u_.i = static_cast<std::int64_t>(i);
  }
  Argument(double d) noexcept : kind_(ArgKind::real) { u_.d = d; }
  Argument(float d) noexcept : kind_(ArgKind::real) { u_.d = static_cast<double>(d); }
  Argument(std::string s) : kind_(ArgKind::string) { u_.s = new std::string(std::move(s)); }
  Argument(std::string_view s) : Argument(std::string(s)) {}
  Argument(const char* s) : Argument(std::string(s)) {}
  Argument(DType t) noexcept : kind_(ArgKind::dtype) { u_.t = t; }
  // A node reference; a null pointer is None.
  Argument(Node* n) noexcept {
    if (n) {
      kind_ = ArgKind::node;
      u_.n = n;
    }
  }
  Argument(List l) : kind_(ArgKind::list) { u_.l = new SharedList{std::move(l)}; }

  Argument(const Argument& o) : kind_(o.kind_), u_(o.u_) {
    if (kind_ == ArgKind::string) u_.s = new std::string(*o.u_.s);
    else if (kind_ == ArgKind::list) u_.l = o.u_.l->share();
  }
  Argument(Argument&& o) noexcept : kind_(o.kind_), u_(o.u_) { o.kind_ = ArgKind::none; }
  Argument& operator=(const Argument& o) {
    if (this != &o) {
      Argument tmp(o);
      swap(tmp);
    }
    return *this;
  }
  Argument& operator=(Argument&& o) noexcept {
    if (this != &o) {
      Argument tmp(std::move(o));
      swap(tmp);
    }
    return *this;
  }
  ~Argument() { release(); }
  // Exchanges two arguments without copying.
  void swap(Argument& o) noexcept {
    std::swap(kind_, o.kind_);
    std::swap(u_, o.u_);
  }

  // What the argument holds, and one test per kind.
  ArgKind kind() const noexcept { return kind_; }
  bool is_none() const noexcept { return kind_ == ArgKind::none; }
  bool is_bool() const noexcept { return kind_ == ArgKind::boolean; }
  bool is_int() const noexcept { return kind_ == ArgKind::integer; }
  bool is_double() const noexcept { return kind_ == ArgKind::real; }
  bool is_number() const noexcept { return is_int() || is_double(); }
  bool is_string() const noexcept { return kind_ == ArgKind::string; }
  bool is_dtype() const noexcept { return kind_ == ArgKind::dtype; }
  bool is_node() const noexcept { return kind_ == ArgKind::node; }
  bool is_list() const noexcept { return kind_ == ArgKind::list; }
  // Anything but a node or a list that holds a node.
  bool is_literal() const noexcept;

  // The value, for an argument of that kind; SchemaError naming both kinds otherwise.
  bool as_bool() const { return expect(ArgKind::boolean), u_.b; }
  std::int64_t as_int() const { return expect(ArgKind::integer), u_.i; }
  // A float argument; an int is widened, as Python does for `float` parameters.
  double as_double() const {
    if (is_int()) return static_cast<double>(u_.i);
    return expect(ArgKind::real), u_.d;
  }
  const std::string& as_string() const { return expect(ArgKind::string), *u_.s; }
  DType as_dtype() const { return expect(ArgKind::dtype), u_.t; }
  Node* as_node() const { return expect(ArgKind::node), u_.n; }
  const List& as_list() const { return expect(ArgKind::list), u_.l->items; }
  // A reference the caller may write through: the list becomes this argument's own first.
  List& as_list() {
    expect(ArgKind::list);
    own_list();
    u_.l->shareable = false;
    return u_.l->items;
  }
  // A list of ints (`[1, 1]`), or a single int broadcast to `length` entries when `length` > 0.
  std::vector<std::int64_t> as_int_list(std::size_t length = 0) const;

  friend bool operator==(const Argument& a, const Argument& b) noexcept;
  friend bool operator!=(const Argument& a, const Argument& b) noexcept { return !(a == b); }

  // Calls f(Node*) for every node reference, in argument order, lists included.
  template <typename F>
  void for_each_node(F&& f) const;
  // Replaces every node reference r by map(r) (which returns Node*; null makes it None).
  template <typename F>
  void map_nodes(F&& map);

 private:
  void expect(ArgKind want) const {
    if (kind_ != want)
      throw SchemaError("argument is " + std::string(arg_kind_name(kind_)) + ", expected " +
                        std::string(arg_kind_name(want)));
  }
  void release() noexcept {
    if (kind_ == ArgKind::string) delete u_.s;
    else if (kind_ == ArgKind::list) u_.l->drop();
    kind_ = ArgKind::none;
  }

  // A list's elements and how many arguments share them.
  struct SharedList {
    List items;
    std::atomic<std::uint32_t> refs{1};
    bool shareable = true;  // false once a mutable reference was handed out
    // Another holder: the same block, or a copy when this one may be written through.
    SharedList* share() {
      if (!shareable) return new SharedList{items};
      refs.fetch_add(1, std::memory_order_relaxed);
      return this;
    }
    void drop() noexcept {
      if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
  };
  // Makes the list this argument's alone (a copy when it is shared), before it is changed.
  void own_list() {
    if (u_.l->refs.load(std::memory_order_acquire) == 1) return;
    SharedList* mine = new SharedList{u_.l->items};
    u_.l->drop();
    u_.l = mine;
  }

  ArgKind kind_ = ArgKind::none;
  union Payload {
    bool b;
    std::int64_t i;
    double d;
    DType t;
    Node* n;
    std::string* s;
    SharedList* l;
  } u_{};
};

// Builds a list argument: `ints({1, 1})` is `[1, 1]`.
inline Argument ints(std::initializer_list<std::int64_t> values) {
  Argument::List l;
  l.reserve(values.size());
  for (auto v : values) l.emplace_back(v);
  return Argument(std::move(l));
}
inline Argument ints(const std::vector<std::int64_t>& values) {
  Argument::List l;
  l.reserve(values.size());
  for (auto v : values) l.emplace_back(v);
  return Argument(std::move(l));
}
// Builds a list argument of arbitrary elements: `list({x, y})`.
inline Argument list(std::initializer_list<Argument> items) { return Argument(Argument::List(items)); }

// A node's positional arguments, read-only: a view of the array the graph keeps for the node
// (graph/detail/arg_store.hpp), valid until the node's arguments are next changed. Reads like the
// std::vector it converts to: `n->args().size()`, `n->args()[0]`, range-for, `at()`.
class ArgList {
 public:
  using value_type = Argument;
  using size_type = std::size_t;
  using const_reference = const Argument&;
  using reference = const Argument&;
  using const_iterator = const Argument*;
  using iterator = const Argument*;

  ArgList() noexcept = default;
  ArgList(const Argument* data, std::size_t size) noexcept : data_(data), size_(size) {}

  const Argument* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const Argument* begin() const noexcept { return data_; }
  const Argument* end() const noexcept { return data_ + size_; }
  const Argument& operator[](std::size_t i) const noexcept { return data_[i]; }
  // Bounds-checked: SchemaError naming the index and the length.
  const Argument& at(std::size_t i) const {
    if (i >= size_)
      throw SchemaError("argument " + std::to_string(i) + " of " + std::to_string(size_) + " positional arguments");
    return data_[i];
  }
  const Argument& front() const noexcept { return data_[0]; }
  const Argument& back() const noexcept { return data_[size_ - 1]; }
  // A copy of the arguments (implicitly, so `std::vector<Argument> a = n->args();` reads as it did).
  std::vector<Argument> to_vector() const { return std::vector<Argument>(begin(), end()); }
  operator std::vector<Argument>() const { return to_vector(); }

  friend bool operator==(ArgList a, ArgList b) noexcept {
    if (a.size_ != b.size_) return false;
    for (std::size_t i = 0; i < a.size_; ++i)
      if (!(a.data_[i] == b.data_[i])) return false;
    return true;
  }
  friend bool operator!=(ArgList a, ArgList b) noexcept { return !(a == b); }
  friend bool operator==(ArgList a, const std::vector<Argument>& b) noexcept { return a == ArgList(b.data(), b.size()); }
  friend bool operator==(const std::vector<Argument>& a, ArgList b) noexcept { return b == a; }
  friend bool operator!=(ArgList a, const std::vector<Argument>& b) noexcept { return !(a == b); }
  friend bool operator!=(const std::vector<Argument>& a, ArgList b) noexcept { return !(b == a); }

 private:
  const Argument* data_ = nullptr;
  std::size_t size_ = 0;
};

// One keyword argument. Keyword arguments keep the order they were given in.
struct Kwarg {
  std::string name;
  Argument value;
  friend bool operator==(const Kwarg& a, const Kwarg& b) { return a.name == b.name && a.value == b.value; }
  friend bool operator!=(const Kwarg& a, const Kwarg& b) { return !(a == b); }
};
using Kwargs = std::vector<Kwarg>;

// ---------------------------------------------------------------------------------------------

inline bool Argument::is_literal() const noexcept {
  if (is_node()) return false;
  if (!is_list()) return true;
  bool literal = true;
  for_each_node([&](Node*) { literal = false; });
  return literal;
}

inline std::vector<std::int64_t> Argument::as_int_list(std::size_t length) const {
  if (is_int() && length > 0) return std::vector<std::int64_t>(length, as_int());
  const List& l = as_list();
  std::vector<std::int64_t> out;
  out.reserve(l.size());
  for (std::size_t i = 0; i < l.size(); ++i) {
    if (!l[i].is_int())
      throw SchemaError("int list element " + std::to_string(i) + " is " +
                        std::string(arg_kind_name(l[i].kind())) + ", expected int");
    out.push_back(l[i].as_int());
  }
  return out;
}

inline bool operator==(const Argument& a, const Argument& b) noexcept {
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
    case ArgKind::none: return true;
    case ArgKind::boolean: return a.u_.b == b.u_.b;
    case ArgKind::integer: return a.u_.i == b.u_.i;
    case ArgKind::real: return a.u_.d == b.u_.d || (a.u_.d != a.u_.d && b.u_.d != b.u_.d);
    case ArgKind::string: return *a.u_.s == *b.u_.s;
    case ArgKind::dtype: return a.u_.t == b.u_.t;
    case ArgKind::node: return a.u_.n == b.u_.n;
    case ArgKind::list: return a.u_.l == b.u_.l || a.u_.l->items == b.u_.l->items;
  }
  return false;
}

// Lists nest to a depth bounded by the loader; within a node's arguments recursion is fine.
template <typename F>
void Argument::for_each_node(F&& f) const {
  if (kind_ == ArgKind::node) {
    f(u_.n);
  } else if (kind_ == ArgKind::list) {
    for (const Argument& a : u_.l->items) a.for_each_node(f);
  }
}

template <typename F>
void Argument::map_nodes(F&& map) {
  if (kind_ == ArgKind::node) {
    Node* r = map(u_.n);
    if (r) u_.n = r;
    else kind_ = ArgKind::none;
  } else if (kind_ == ArgKind::list) {
    if (is_literal()) return;  // nothing to map: a shared literal list stays shared
    own_list();
    for (Argument& a : u_.l->items) a.map_nodes(map);
  }
}

}  // namespace graft
