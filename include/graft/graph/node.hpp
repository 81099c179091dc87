// graft/graph/node.hpp - one FX node: kind, target, arguments, users and metadata.
//
// A Node is owned by its Graph and mutated only through the Graph, which keeps the users of
// every node and the topological order in sync. Reading is free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "graft/graph/argument.hpp"
#include "graft/graph/detail/small_vec.hpp"
#include "graft/error.hpp"
#include "graft/fault.hpp"
#include "graft/graph/meta.hpp"
#include "graft/graph/schema.hpp"

namespace graft {

class Graph;

enum class NodeKind : std::uint8_t { placeholder, get_attr, call_function, output };

// The kind as FX spells it: "placeholder", "get_attr", "call_function", "output".
constexpr std::string_view node_kind_name(NodeKind k) noexcept {
  switch (k) {
    case NodeKind::placeholder: return "placeholder";
    case NodeKind::get_attr: return "get_attr";
    case NodeKind::call_function: return "call_function";
    case NodeKind::output: return "output";
  }
  return "?";
}

namespace detail {
// One edge input -> user, linked into the input's list of users. A user that reads the same
// input several times has one Use, as in FX where `users` is a set.
struct Use {
  Node* input;
  Node* user;
  Use* prev;
  Use* next;
};
}  // namespace detail

class Node {
 public:
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // What the node is, and one test per kind.
  NodeKind kind() const noexcept { return kind_; }
  bool is_placeholder() const noexcept { return kind_ == NodeKind::placeholder; }
  bool is_get_attr() const noexcept { return kind_ == NodeKind::get_attr; }
  bool is_call_function() const noexcept { return kind_ == NodeKind::call_function; }
  bool is_output() const noexcept { return kind_ == NodeKind::output; }

  // The op of a call_function node; null for the other kinds.
  const OpSchema* op() const noexcept { return op_; }
  // The op name for call_function ("aten.conv2d.default"), the input name for a placeholder,
  // the attribute path for get_attr, "output" for the output node.
  std::string_view target() const noexcept {
    return op_ ? std::string_view(op_->name()) : target_;
  }
  // True when the node calls this op (by schema, or by graft target name).
  bool is_op(const OpSchema* s) const noexcept { return op_ == s; }
  bool is_op(std::string_view name) const noexcept { return op_ && op_->name() == name; }

  // The unique name (FX style: conv2d, conv2d_1, ...), and the graph that owns the node.
  const std::string& name() const noexcept { return name_; }
  Graph* owner() const noexcept { return owner_; }
  // True once the node was erased from its graph (it is kept until Graph::purge_erased so that
  // stale references can be diagnosed instead of read as freed memory).
  bool erased() const noexcept { return erased_; }

  // The arguments as written: positional, then keyword (arg() reads them by schema name). The
  // positional ones are a view of the node's own array, valid until its arguments change.
  ArgList args() const noexcept { return ArgList(args_, num_args_); }
  const Kwargs& kwargs() const noexcept {
    static const Kwargs none;
    return kwargs_ ? *kwargs_ : none;
  }
  // The keyword argument `key` as passed, or null.
  const Argument* kwarg(std::string_view key) const noexcept {
    if (kwargs_)
      for (const Kwarg& k : *kwargs_)
        if (k.name == key) return &k.value;
    return nullptr;
  }

  // ---- Arguments read through the op schema ----------------------------------------------
  // The value of argument `arg_name` whether it was passed positionally, by keyword, or left to
  // its default; null when the schema has no such argument, or it is required and missing.
  const Argument* find_arg(std::string_view arg_name) const noexcept;
  // As find_arg, but throws SchemaError naming the node, op and argument.
  const Argument& arg(std::string_view arg_name) const;
  // The schema's argument number `index` (positional or keyword-only), read the same way.
  const Argument* find_arg(std::size_t index) const noexcept;
  const Argument& arg(std::size_t index) const;
  // True when `arg_name` was passed explicitly (not left to its default).
  bool has_explicit_arg(std::string_view arg_name) const noexcept;
  // Every schema argument in schema order, defaults filled in. Throws when one is missing.
  std::vector<Argument> normalized_args() const;

  // ---- Users and inputs -------------------------------------------------------------------
  class UserIterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Node*;
    using difference_type = std::ptrdiff_t;
    using pointer = Node* const*;
    using reference = Node*;
    UserIterator() = default;
    explicit UserIterator(detail::Use* u) : u_(u) {}
    Node* operator*() const noexcept { return u_->user; }
    UserIterator& operator++() noexcept {
      u_ = u_->next;
      return *this;
    }
    UserIterator operator++(int) noexcept {
      auto t = *this;
      ++*this;
      return t;
    }
    friend bool operator==(UserIterator a, UserIterator b) { return a.u_ == b.u_; }
    friend bool operator!=(UserIterator a, UserIterator b) { return a.u_ != b.u_; }
    detail::Use* use() const noexcept { return u_; }

   private:
    detail::Use* u_ = nullptr;
  };
  struct UserRange {
    detail::Use* head;
    UserIterator begin() const { return UserIterator(head); }
    UserIterator end() const { return UserIterator(nullptr); }
  };
  // The nodes that read this one, each once, in the order they started to.
  UserRange users() const noexcept { return UserRange{users_head_}; }
  // How many distinct nodes read this one, and the first of them (null when none).
  std::size_t num_users() const noexcept { return num_users_; }
  Node* first_user() const noexcept { return users_head_ ? users_head_->user : nullptr; }

  class InputIterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Node*;
    using difference_type = std::ptrdiff_t;
    using pointer = Node* const*;
    using reference = Node*;
    InputIterator() = default;
    explicit InputIterator(detail::Use* const* p) : p_(p) {}
    Node* operator*() const noexcept { return (*p_)->input; }
    InputIterator& operator++() noexcept {
      ++p_;
      return *this;
    }
    InputIterator operator++(int) noexcept {
      auto t = *this;
      ++p_;
      return t;
    }
    friend bool operator==(InputIterator a, InputIterator b) { return a.p_ == b.p_; }
    friend bool operator!=(InputIterator a, InputIterator b) { return a.p_ != b.p_; }
    detail::Use* use() const noexcept { return *p_; }

   private:
    detail::Use* const* p_ = nullptr;
  };
  struct InputRange {
    detail::Use* const* b;
    detail::Use* const* e;
    InputIterator begin() const { return InputIterator(b); }
    InputIterator end() const { return InputIterator(e); }
    std::size_t size() const { return static_cast<std::size_t>(e - b); }
  };
  // The distinct nodes this one reads, in first-appearance order (args, then kwargs).
  InputRange input_nodes() const noexcept {
    return InputRange{inputs_.data(), inputs_.data() + inputs_.size()};
  }
  // How many distinct nodes this one reads.
  std::size_t num_input_nodes() const noexcept { return inputs_.size(); }

  // ---- Order ------------------------------------------------------------------------------
  // Neighbours in graph order; null at either end.
  Node* prev() const noexcept;
  Node* next() const noexcept;
  // True when this node comes before `other` in their graph. O(1).
  bool is_before(const Node& other) const noexcept { return order_ < other.order_; }

  // ---- Metadata ---------------------------------------------------------------------------
  bool has_meta() const noexcept { return meta_ != nullptr; }
  // Read access; an empty Meta when none was set.
  const Meta& meta() const noexcept {
    static const Meta empty{};
    return meta_ ? *meta_ : empty;
  }
  // Write access; creates the metadata on first use.
  Meta& meta() {
    if (!meta_) {
      GRAFT_FAULT_POINT("node: metadata created");
      meta_ = std::make_unique<Meta>();
    }
    return *meta_;
  }

  // True when dead-code elimination must keep the node although nothing reads it:
  // placeholders, the output, in-place and mutating ops, training-mode batch norm, and ops
  // declared with side effects.
  bool is_impure() const noexcept;

  // "'conv2d' (aten.conv2d.default)" for error messages.
  std::string describe() const {
    std::string s = "'" + name_ + "' (";
    s += is_call_function() ? std::string(target()) : std::string(node_kind_name(kind_));
    return s + ")";
  }

 private:
  friend class Graph;
  Node() = default;

  [[noreturn]] void throw_missing(std::string_view what) const;

  // Hot fields first: a walk over the graph and a target test touch one cache line per node.
  NodeKind kind_ = NodeKind::call_function;
  bool erased_ = false;
  bool sentinel_ = false;  // the graph's list head
  std::uint32_t num_users_ = 0;
  const OpSchema* op_ = nullptr;
  Node* prev_ = nullptr;  // the graph's sentinel at the ends
  Node* next_ = nullptr;
  std::uint64_t order_ = 0;
  detail::Use* users_head_ = nullptr;
  std::unique_ptr<Meta> meta_;  // up here: passes look for annotations on every node
  Graph* owner_ = nullptr;
  detail::Use* users_tail_ = nullptr;
  // The positional arguments: num_args_ of them at args_, an array the graph's ArgStore owns
  // (constructed, moved and destroyed by the Graph only).
  Argument* args_ = nullptr;
  std::uint32_t num_args_ = 0;
  mutable std::uint32_t index_ = 0;  // dense index for Boost.Graph property maps
  detail::SmallVec<detail::Use*, 3> inputs_;  // most nodes read at most three nodes
  std::unique_ptr<Kwargs> kwargs_;  // null when there are none (most nodes): 8 bytes, not 24
  std::string name_;
  std::string_view target_;  // non-call_function nodes: its characters live in the graph (key_arena_)
};

// ---------------------------------------------------------------------------------------------

inline void Node::throw_missing(std::string_view what) const {
  std::string msg = "node " + describe() + ": ";
  if (!op_) {
    msg += "argument " + std::string(what) + " read by name, but a " +
           std::string(node_kind_name(kind_)) + " node has no schema";
  } else if (!op_->has_signature()) {
    msg += "no schema is registered for " + op_->name() + ", so argument " + std::string(what) +
           " cannot be read by name";
  } else if (auto i = op_->index_of(what); !i) {
    msg += op_->name() + " has no argument named '" + std::string(what) + "' (its arguments are " +
           op_->arg_names() + ")";
  } else {
    msg += "required argument '" + std::string(what) + "' is missing";
  }
  throw SchemaError(msg);
}

inline const Argument* Node::find_arg(std::size_t index) const noexcept {
  if (!op_ || !op_->has_signature()) return index < num_args_ ? &args_[index] : nullptr;
  const auto& specs = op_->args();
  if (index >= specs.size()) return nullptr;
  if (index < num_args_ && !specs[index].kwarg_only) return &args_[index];
  if (const Argument* kw = kwarg(specs[index].name)) return kw;
  if (specs[index].default_value) return &*specs[index].default_value;
  return nullptr;
}

inline const Argument* Node::find_arg(std::string_view arg_name) const noexcept {
  if (!op_ || !op_->has_signature()) return nullptr;
  auto i = op_->index_of(arg_name);
  return i ? find_arg(*i) : nullptr;
}

inline const Argument& Node::arg(std::string_view arg_name) const {
  if (const Argument* a = find_arg(arg_name)) return *a;
  throw_missing(arg_name);
}

inline const Argument& Node::arg(std::size_t index) const {
  if (const Argument* a = find_arg(index)) return *a;
  if (op_ && op_->has_signature() && index < op_->args().size()) throw_missing(op_->args()[index].name);
  throw SchemaError("node " + describe() + ": no argument number " + std::to_string(index));
}

inline bool Node::has_explicit_arg(std::string_view arg_name) const noexcept {
  if (kwarg(arg_name)) return true;
  if (!op_ || !op_->has_signature()) return false;
  auto i = op_->index_of(arg_name);
  return i && *i < num_args_ && !op_->args()[*i].kwarg_only;
}

inline std::vector<Argument> Node::normalized_args() const {
  if (!op_ || !op_->has_signature()) {
    if (kwargs_)
      throw SchemaError("node " + describe() + ": keyword arguments cannot be normalised without a schema");
    return args().to_vector();
  }
  std::vector<Argument> out;
  out.reserve(op_->args().size());
  for (std::size_t i = 0; i < op_->args().size(); ++i) out.push_back(arg(i));
  return out;
}

// Why `n`'s arguments do not fit its op's schema (too many positional arguments, an unknown or
// repeated keyword, a missing required argument, a value of the wrong kind), or empty when they
// do or the op has no schema. Nodes may stand for int and float values (symbolic sizes), and a
// number may stand for the `other` Tensor of a binary op (exported graphs write
// `add.Tensor(x, 1)`; it is wrapped).
inline std::string schema_mismatch(const Node& n) {
  const OpSchema* op = n.op();
  if (!n.is_call_function() || !op || !op->has_signature()) return {};
  const auto& specs = op->args();
  const std::string who = std::string(op->name()) + "(" + op->arg_names() + ")";
  if (n.args().size() > op->num_positional())
    return who + " takes at most " + std::to_string(op->num_positional()) + " positional arguments, got " +
           std::to_string(n.args().size());
  for (std::size_t i = 0; i < n.kwargs().size(); ++i) {
    const Kwarg& k = n.kwargs()[i];
    auto idx = op->index_of(k.name);
    if (!idx) return who + " has no argument named '" + k.name + "'";
    if (*idx < n.args().size() && !specs[*idx].kwarg_only)
      return who + ": argument '" + k.name + "' given both by position and by keyword";
    for (std::size_t j = 0; j < i; ++j)
      if (n.kwargs()[j].name == k.name) return who + ": keyword argument '" + k.name + "' given twice";
  }
  auto kind_ok = [](const ArgSpec& spec, const Argument& a) {
    if (a.is_none()) return spec.optional || (spec.default_value && spec.default_value->is_none());
    const bool node = a.is_node();
    switch (spec.type) {
      case ArgType::tensor: return node || ((a.is_number() || a.is_bool()) && spec.name == "other");
      case ArgType::tensor_list: {
        if (!a.is_list()) return false;
        for (const Argument& e : a.as_list())
          if (!e.is_node() && !(e.is_none() && spec.optional)) return false;
        return true;
      }
      case ArgType::integer: return a.is_int() || node;
      case ArgType::real: return a.is_number() || node;
      case ArgType::scalar: return a.is_number() || a.is_bool() || node;
      case ArgType::boolean: return a.is_bool();
      case ArgType::scalar_type: return a.is_dtype() || a.is_int();
      case ArgType::string: return a.is_string();
      case ArgType::int_list: {
        if (a.is_int() || node) return true;
        if (!a.is_list()) return false;
        for (const Argument& e : a.as_list())
          if (!e.is_int() && !e.is_node()) return false;
        return true;
      }
      case ArgType::real_list: {
        if (!a.is_list()) return false;
        for (const Argument& e : a.as_list())
          if (!e.is_number() && !e.is_node()) return false;
        return true;
      }
      case ArgType::other: return true;
    }
    return true;
  };
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const ArgSpec& spec = specs[i];
    const Argument* a = n.find_arg(i);
    if (!a) {
      if (!spec.default_value) return who + ": missing required argument '" + spec.name + "'";
      continue;
    }
    if (!kind_ok(spec, *a))
      return who + ": argument '" + spec.name + "' must be " + spec.type_text + ", got " + std::string(arg_kind_name(a->kind()));
  }
  return {};
}

inline Node* Node::prev() const noexcept { return prev_ && !prev_->sentinel_ ? prev_ : nullptr; }
inline Node* Node::next() const noexcept { return next_ && !next_->sentinel_ ? next_ : nullptr; }

inline bool Node::is_impure() const noexcept {
  if (kind_ == NodeKind::placeholder || kind_ == NodeKind::output) return true;
  if (!op_) return false;
  if (op_->has_side_effects()) return true;
  if (auto t = op_->training_index()) {
    const Argument* training = find_arg(*t);
    bool train = !training || !training->is_bool() || training->as_bool();
    return train && (op_->mutates() || op_->index_of("running_mean").has_value());
  }
  return op_->mutates();
}

}  // namespace graft
