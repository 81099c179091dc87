// graft/graph/graph.hpp - an FX-shaped dataflow graph.
//
// Nodes live in one list that is always a topological order: every mutation checks that a node
// only reads nodes placed before it, so a cycle or a use before definition cannot be built.
// Users are kept in sync with arguments, names are unique (FX style: conv2d, conv2d_1, ...),
// and every walk is iterative, so graphs of millions of nodes are fine.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "graft/graph/argument.hpp"
#include "graft/graph/detail/name_index.hpp"
#include "graft/graph/detail/pool.hpp"
#include "graft/graph/detail/reserve.hpp"
#include "graft/graph/detail/string_table.hpp"
#include "graft/error.hpp"
#include "graft/fault.hpp"
#include "graft/graph/detail/arg_store.hpp"
#include "graft/graph/meta.hpp"
#include "graft/graph/node.hpp"
#include "graft/graph/schema.hpp"

namespace graft {

// How create_node treats the requested name.
enum class NameMode : std::uint8_t {
  unique,  // use it as a candidate and add `_N` when needed, as FX does
  exact,   // use it as is; a name already used in this graph is an error
};

class Graph {
 public:
  Graph() : root_(new Node()) {
    root_->sentinel_ = true;
    root_->owner_ = this;
    root_->prev_ = root_.get();
    root_->next_ = root_.get();
    root_->name_ = "<root>";
  }
  // Destroys every node, live or erased.
  ~Graph() { release_all(); }

  // Deep copy: same names, order, arguments and metadata; metadata references are re-pointed to
  // the copies (a reference to a node that is not live in `other` becomes null).
  Graph(const Graph& other) : Graph() { copy_from(other, nullptr); }
  Graph& operator=(const Graph& other) {
    if (this != &other) {
      Graph tmp(other);
      swap(tmp);
    }
    return *this;
  }
  Graph(Graph&& other) noexcept : Graph() { swap(other); }
  Graph& operator=(Graph&& other) noexcept {
    if (this != &other) {
      Graph tmp(std::move(other));
      swap(tmp);
    }
    return *this;
  }
  // Exchanges two graphs in O(1); node pointers keep pointing at the same nodes.
  void swap(Graph& other) noexcept;

  // A deep copy that also reports which copy each original node became.
  Graph clone(std::unordered_map<const Node*, Node*>* mapping) const {
    Graph g;
    g.copy_from(*this, mapping);
    return g;
  }

  // ---- Iteration --------------------------------------------------------------------------
  class NodeIterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = Node*;
    using difference_type = std::ptrdiff_t;
    using pointer = Node* const*;
    using reference = Node*;
    NodeIterator() = default;
    explicit NodeIterator(Node* n) : n_(n) {}
    Node* operator*() const noexcept { return n_; }
    // Erasing the current node is allowed: the walk goes on from where the node was.
    NodeIterator& operator++() noexcept {
      do n_ = n_->next_;
      while (n_->erased_);
      return *this;
    }
    NodeIterator operator++(int) noexcept {
      auto t = *this;
      ++*this;
      return t;
    }
    NodeIterator& operator--() noexcept {
      do n_ = n_->prev_;
      while (n_->erased_);
      return *this;
    }
    NodeIterator operator--(int) noexcept {
      auto t = *this;
      --*this;
      return t;
    }
    friend bool operator==(NodeIterator a, NodeIterator b) { return a.n_ == b.n_; }
    friend bool operator!=(NodeIterator a, NodeIterator b) { return a.n_ != b.n_; }

   private:
    Node* n_ = nullptr;
  };
  struct NodeRange {
    Node* root;
    NodeIterator begin() const { return NodeIterator(root->next_); }
    NodeIterator end() const { return NodeIterator(root); }
  };
  class ReverseNodeIterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Node*;
    using difference_type = std::ptrdiff_t;
    using pointer = Node* const*;
    using reference = Node*;
    explicit ReverseNodeIterator(Node* n) : n_(n) {}
    Node* operator*() const noexcept { return n_; }
    ReverseNodeIterator& operator++() noexcept {
      do n_ = n_->prev_;
      while (n_->erased_);
      return *this;
    }
    friend bool operator==(ReverseNodeIterator a, ReverseNodeIterator b) { return a.n_ == b.n_; }
    friend bool operator!=(ReverseNodeIterator a, ReverseNodeIterator b) { return a.n_ != b.n_; }

   private:
    Node* n_;
  };
  struct ReverseNodeRange {
    Node* root;
    ReverseNodeIterator begin() const { return ReverseNodeIterator(root->prev_); }
    ReverseNodeIterator end() const { return ReverseNodeIterator(root); }
  };

  // The live nodes in graph (topological) order.
  NodeRange nodes() const noexcept { return NodeRange{root_.get()}; }
  // The live nodes last to first.
  ReverseNodeRange reverse_nodes() const noexcept { return ReverseNodeRange{root_.get()}; }
  // The number of live nodes, whether there are none, and the first and last (null when empty).
  std::size_t size() const noexcept { return num_nodes_; }
  bool empty() const noexcept { return num_nodes_ == 0; }
  Node* first() const noexcept { return root_->next_ == root_.get() ? nullptr : root_->next_; }
  Node* last() const noexcept { return root_->prev_ == root_.get() ? nullptr : root_->prev_; }
  // The live node called `name`, or null.
  Node* find(std::string_view name) const {
    return names_.find(name);
  }
  // The output node (normally the last node), or null.
  Node* output_node() const noexcept {
    for (Node* n : reverse_nodes())
      if (n->is_output()) return n;
    return nullptr;
  }
  // True when `n` is a live node of this graph.
  bool contains(const Node* n) const noexcept { return n && n->owner_ == this && !n->erased_; }

  // ---- Ops --------------------------------------------------------------------------------
  // Resolves an op name ("aten.conv2d.default", "aten::conv2d", "torch.ops.aten.add.Tensor"):
  // this graph's own schemas first, then the built-in table; an unknown name gets a name-only
  // schema (its arguments can be read by position only).
  const OpSchema* resolve_op(std::string_view name) {
    // Rules name their targets with the same string literals for every node they build: a few
    // hints, picked by the characters' address, answer those without hashing. The address only
    // picks the hint; the hint's own copy of the spelling (in key_arena_) must match, so another
    // string at a reused address is not mistaken for it.
    OpHint& hint = op_hints_[(reinterpret_cast<std::uintptr_t>(name.data()) >> 4) % kOpHints];
    if (hint.op && hint.name.size() == name.size() &&
        (name.empty() || std::memcmp(hint.name.data(), name.data(), name.size()) == 0))
      return hint.op;
    // Remembered per spelling.
    const std::uint64_t h = detail::hash_string(name);
    if (const auto* cached = op_cache_.find(name, h)) {
      hint = OpHint{cached->key_view(), cached->value};
      return cached->value;
    }
    std::string canonical = canonical_op_name(name);
    const OpSchema* s = ops_.find(canonical);
    if (!s) s = OpRegistry::builtin().find(canonical);
    if (!s) s = ops_.add(OpSchema(canonical));
    op_cache_.reserve_more();
    const std::string_view stored = key_arena_.store(name);
    op_cache_.insert_new(stored, h, s);
    hint = OpHint{stored, s};
    return s;
  }
  // Adds a schema for this graph's custom ops, e.g.
  // `g.register_op("mylib.fused.default(Tensor x, int k=3) -> Tensor")`.
  const OpSchema* register_op(std::string_view schema_text) {
    return register_op(OpSchema::parse(schema_text));
  }
  // The same, with a schema already parsed (OpSchema::parse).
  const OpSchema* register_op(OpSchema schema) {
    const OpSchema* s = ops_.add(std::move(schema));
    op_cache_.clear();  // a name resolved to a built-in schema now resolves to this one
    op_hints_ = {};
    return s;
  }

  // ---- Building ---------------------------------------------------------------------------
  // Inserts new nodes before `pos` (null: at the end) until the guard goes out of scope.
  class InsertionGuard {
   public:
    InsertionGuard(Graph& g, Node* pos) : g_(&g), saved_(g.insert_before_) {
      g.insert_before_ = pos ? pos : g.root_.get();
    }
    InsertionGuard(const InsertionGuard&) = delete;
    InsertionGuard& operator=(const InsertionGuard&) = delete;
    InsertionGuard(InsertionGuard&& o) noexcept : g_(o.g_), saved_(o.saved_) { o.g_ = nullptr; }
    ~InsertionGuard() {
      if (g_) g_->insert_before_ = saved_;
    }

   private:
    Graph* g_;
    Node* saved_;
  };
  // New nodes go right before `pos` (null: at the end) while the returned guard lives.
  [[nodiscard]] InsertionGuard inserting_before(Node* pos) {
    check_live(pos, "insertion point");
    return InsertionGuard(*this, pos);
  }
  // New nodes go right after `pos`, in the order they are created.
  [[nodiscard]] InsertionGuard inserting_after(Node* pos) {
    check_live(pos, "insertion point");
    return InsertionGuard(*this, pos->next_);
  }
  // The node new nodes are inserted before; null when they are appended.
  Node* insertion_point() const noexcept {
    return insert_before_ == root_.get() ? nullptr : insert_before_;
  }

  // Creates a node at the insertion point. Every node it reads must be live in this graph and
  // placed before the insertion point.
  Node* create_node(NodeKind kind, std::string_view target, std::vector<Argument> args = {},
                    Kwargs kwargs = {}, std::string_view name = {},
                    NameMode mode = NameMode::unique) {
    const OpSchema* op = kind == NodeKind::call_function ? resolve_op(target) : nullptr;
    return create(kind, op, target, std::move(args), std::move(kwargs), name, mode);
  }
  // A graph input named `name` (FX-uniquified when taken).
  Node* placeholder(std::string_view name) {
    return create(NodeKind::placeholder, nullptr, name, {}, {}, name, NameMode::unique);
  }
  // A read of the parameter or buffer at `attr_path` ("layer1.0.conv1.weight").
  Node* get_attr(std::string_view attr_path) {
    return create(NodeKind::get_attr, nullptr, attr_path, {}, {}, attr_path, NameMode::unique);
  }
  // A call of `op`; arguments are checked against its schema, node references against the order.
  Node* call_function(const OpSchema* op, std::vector<Argument> args = {}, Kwargs kwargs = {},
                      std::string_view name = {}) {
    if (!op) throw GraphError("call_function: null op schema");
    return create(NodeKind::call_function, op, {}, std::move(args), std::move(kwargs), name,
                  NameMode::unique);
  }
  // A call of the op named `target` ("aten.conv2d.default"; "aten::conv2d" spellings too).
  Node* call_function(std::string_view target, std::vector<Argument> args = {},
                      Kwargs kwargs = {}, std::string_view name = {}) {
    return call_function(resolve_op(target), std::move(args), std::move(kwargs), name);
  }
  // The same, with the arguments moved out of the `count` values at `args` (each left None): for
  // code that builds arguments in a buffer of its own (the pattern rewriter builds them on the
  // stack), so that no std::vector is made per node.
  Node* call_function_moved(const OpSchema* op, Argument* args, std::size_t count, Kwargs kwargs = {}) {
    if (!op) throw GraphError("call_function: null op schema");
    return create(NodeKind::call_function, op, {}, args, count, std::move(kwargs), {}, NameMode::unique);
  }
  // The output node; `value` is a node or a list of nodes.
  Node* output(Argument value) {
    return create(NodeKind::output, nullptr, "output", {std::move(value)}, {}, "output",
                  NameMode::unique);
  }

  // ---- Mutation ---------------------------------------------------------------------------
  // Replaces all positional arguments of `n` (keywords kept); users are updated.
  void set_args(Node* n, std::vector<Argument> args) {
    check_live(n, "set_args");
    update(n, std::move(args), Kwargs(n->kwargs()));
  }
  // Replaces all keyword arguments of `n` (positional ones kept).
  void set_kwargs(Node* n, Kwargs kwargs) {
    check_live(n, "set_kwargs");
    update(n, n->args().to_vector(), std::move(kwargs));
  }
  // Sets positional argument `index`; the argument list grows with None up to it.
  void set_arg(Node* n, std::size_t index, Argument value) {
    check_live(n, "set_arg");
    std::vector<Argument> args = n->args().to_vector();
    if (args.size() <= index) args.resize(index + 1);
    args[index] = std::move(value);
    update(n, std::move(args), Kwargs(n->kwargs()));
  }
  // Sets keyword argument `key`, replacing it in place or appending it.
  void set_kwarg(Node* n, std::string_view key, Argument value) {
    check_live(n, "set_kwarg");
    Kwargs kwargs = n->kwargs();
    auto it = std::find_if(kwargs.begin(), kwargs.end(), [&](const Kwarg& k) { return k.name == key; });
    if (it != kwargs.end()) it->value = std::move(value);
    else kwargs.push_back(Kwarg{std::string(key), std::move(value)});
    update(n, n->args().to_vector(), std::move(kwargs));
  }
  // Removes keyword argument `key`; false when it was not there.
  bool remove_kwarg(Node* n, std::string_view key) {
    check_live(n, "remove_kwarg");
    Kwargs kwargs = n->kwargs();
    auto it = std::find_if(kwargs.begin(), kwargs.end(), [&](const Kwarg& k) { return k.name == key; });
    if (it == kwargs.end()) return false;
    kwargs.erase(it);
    update(n, n->args().to_vector(), std::move(kwargs));
    return true;
  }
  // Sets schema argument `arg_name` where it already is (positional slot or keyword), or as a
  // keyword when it was left to its default.
  void set_named_arg(Node* n, std::string_view arg_name, Argument value) {
    check_live(n, "set_named_arg");
    const OpSchema* op = n->op_;
    auto i = op && op->has_signature() ? op->index_of(arg_name) : std::nullopt;
    if (!i) n->throw_missing(arg_name);
    if (*i < n->num_args_ && !op->args()[*i].kwarg_only) set_arg(n, *i, std::move(value));
    else set_kwarg(n, arg_name, std::move(value));
  }

  // Makes `n` read `replacement` wherever it read `old`.
  void replace_input_with(Node* n, Node* old, Node* replacement) {
    check_live(n, "replace_input_with");
    auto map = [&](Node* r) { return r == old ? replacement : r; };
    std::vector<Argument> args = n->args().to_vector();
    Kwargs kwargs = n->kwargs();
    for (Argument& a : args) a.map_nodes(map);
    for (Kwarg& k : kwargs) k.value.map_nodes(map);
    update(n, std::move(args), std::move(kwargs));
  }

  // Makes every user of `old` (for which `filter`, when given, returns true) read `replacement`
  // instead. Checks all users first, so a refusal changes nothing. Returns the changed users.
  std::vector<Node*> replace_all_uses_with(Node* old, Node* replacement,
                                           const std::function<bool(Node*)>& filter = {}) {
    check_live(old, "replace_all_uses_with");
    check_live(replacement, "replace_all_uses_with");
    std::vector<Node*> users;
    for (Node* u : old->users())
      if (u != replacement && (!filter || filter(u))) users.push_back(u);
    for (Node* u : users)
      if (!replacement->is_before(*u))
        throw GraphError("replace_all_uses_with: " + u->describe() + " cannot read " +
                         replacement->describe() + " instead of " + old->describe() + ": " +
                         replacement->describe() +
                         " does not come before it, so the graph would lose its topological order");
    for (Node* u : users) replace_input_with(u, old, replacement);
    return users;
  }

  // Moves `n` before `pos` (null: to the end), keeping the order topological.
  void move_before(Node* n, Node* pos) {
    check_live(n, "move_before");
    Node* p = pos ? pos : root_.get();
    if (pos) check_live(pos, "move_before");
    if (p == n || p == n->next_) return;
    for (detail::Use* u : n->inputs_)
      if (p != root_.get() && !u->input->is_before(*p))
        throw GraphError("cannot move " + n->describe() + " before " + p->describe() + ": it reads " +
                         u->input->describe() + ", which would then come after it");
    for (detail::Use* u = n->users_head_; u; u = u->next)
      if (p == root_.get() || (u->user != p && !p->is_before(*u->user)))
        throw GraphError("cannot move " + n->describe() + " " +
                         (pos ? "before " + p->describe() : std::string("to the end")) + ": its user " +
                         u->user->describe() + " would then come before it");
    unlink(n);
    link_before(n, p);
  }
  // Moves `n` right after `pos`; refused when a user of `n` would then come before it.
  void move_after(Node* n, Node* pos) {
    check_live(pos, "move_after");
    move_before(n, pos->next_ == root_.get() ? nullptr : pos->next_);
  }

  // Renames `n` to exactly `new_name`; an error if another node has or had that name.
  void rename(Node* n, std::string_view new_name) {
    check_live(n, "rename");
    if (n->name_ == new_name) return;
    detail::NameIndex::Key key = names_.key(new_name);
    check_exact_name(key);
    std::string name(new_name);
    key.name = name;
    names_.prepare_insert(key);
    if (journal_) {
      journal_->entries.reserve_more(1);
      journal_->names.push_back(n->name_);
    }
    // The old name is freed, the new one taken; the index keys point at the node's own string.
    names_.erase(n->name_);
    n->name_.swap(name);
    names_.insert(key, n->name_, n);
    if (journal_) log(JournalEntry::Kind::node_renamed, n).payload = journal_->names.size() - 1;
  }

  // Removes `n`, which must have no users. Its name stays reserved. The erased node keeps its
  // literal arguments; its node references become None (inside a transaction, at commit).
  void erase(Node* n) {
    check_live(n, "erase");
    if (n->num_users_ != 0) {
      std::string who;
      std::size_t shown = 0;
      for (Node* u : n->users()) {
        if (shown++ == 5) {
          who += ", ...";
          break;
        }
        who += (who.empty() ? "" : ", ") + u->describe();
      }
      throw GraphError("cannot erase node " + n->describe() + ": it still has " +
                       std::to_string(n->num_users_) + (n->num_users_ == 1 ? " user (" : " users (") +
                       who + ")");
    }
    if (journal_) {
      journal_->entries.reserve_more(1 + n->inputs_.size() + 1);
      detail::reserve_one_more(journal_->released, n->inputs_.size());
      detail::reserve_one_more(journal_->inputs);
    }
    detail::reserve_one_more(graveyard_);  // so that nothing below can throw
    for (detail::Use* u : n->inputs_) unlink_use(u);
    if (journal_ && !n->inputs_.empty()) {  // the records go back in place on a rollback
      journal_->inputs.push_back(std::move(n->inputs_));
      log(JournalEntry::Kind::inputs, n).payload = journal_->inputs.size() - 1;
    }
    n->inputs_.clear();
    // An erased node keeps its literal arguments; its node references become None. Inside a
    // transaction that happens at commit (end_journal), so a rollback has nothing to restore and
    // the journal needs no copy of the arguments.
    if (!journal_) clear_node_refs(n);
    Node* next = n->next_;
    if (journal_) {  // one entry: relink between a and b, index the name again, un-erase
      JournalEntry& e = log(JournalEntry::Kind::node_erased, n);
      e.a = n->prev_;
      e.b = n->next_;
    }
    detach(n);
    n->erased_ = true;
    names_.set(n->name_, nullptr);  // the name stays reserved
    if (insert_before_ == n) insert_before_ = next;
    graveyard_.push_back(n);
    --num_nodes_;
  }

  // Erases every node that nothing reads and that is not impure (see Node::is_impure), last to
  // first so that chains disappear in one pass. Returns the number of nodes erased.
  std::size_t eliminate_dead_code() {
    std::size_t removed = 0;
    Node* n = root_->prev_;
    while (n != root_.get()) {
      Node* prev = n->prev_;
      if (n->num_users_ == 0 && !n->is_impure()) {
        erase(n);
        ++removed;
      }
      n = prev;
    }
    return removed;
  }

  // Frees the memory of erased nodes. Pointers to them (e.g. in metadata) must be gone: run
  // lint() first.
  void purge_erased() {
    if (journal_) throw GraphError("purge_erased: not inside a transaction");
    // Their names stay reserved: the index keys move from the nodes to the graph's own storage.
    for (Node* n : graveyard_) names_.unpin(n->name_, key_arena_);
    for (Node* n : graveyard_) destroy_node(n);
    graveyard_.clear();
  }
  // Erased nodes not yet purged.
  std::size_t num_erased() const noexcept { return graveyard_.size(); }

  // ---- Transactions -----------------------------------------------------------------------
  // Records every change made through the Graph API from now on, so that the graph can be put
  // back exactly as it was (nodes, arguments, users and their order, names) if something fails:
  //
  //   auto tx = g.transaction();
  //   ... rewrite ...
  //   tx.commit();            // without it, the destructor rolls everything back
  //
  // Node pointers stay valid across a rollback (nodes created inside it are destroyed).
  // Metadata written directly through node->meta() is not recorded; registered op schemas stay.
  // Transactions do not nest; purge_erased() is refused inside one.
  class Transaction {
   public:
    explicit Transaction(Graph& g) : g_(&g) { g.begin_journal(); }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    Transaction(Transaction&& o) noexcept : g_(o.g_) { o.g_ = nullptr; }
    ~Transaction() {
      if (g_) g_->rollback_journal();
    }
    void commit() {
      if (g_) g_->end_journal();
      g_ = nullptr;
    }
    void rollback() {
      if (g_) g_->rollback_journal();
      g_ = nullptr;
    }

   private:
    Graph* g_;
  };
  // Starts recording changes (see Transaction); commit() the result to keep them.
  [[nodiscard]] Transaction transaction() { return Transaction(*this); }
  // True while a transaction records changes.
  bool in_transaction() const noexcept { return journal_ != nullptr; }

  // ---- Checking ---------------------------------------------------------------------------
  // Every broken invariant, one sentence each naming the node and the rule; empty when valid.
  std::vector<std::string> lint_problems() const;
  // Throws GraphError listing every problem lint_problems() finds.
  void lint() const {
    auto problems = lint_problems();
    if (problems.empty()) return;
    std::string msg = "graph lint failed (" + std::to_string(problems.size()) + " problem" +
                      (problems.size() == 1 ? "" : "s") + "):";
    for (const auto& p : problems) msg += "\n  - " + p;
    throw GraphError(msg);
  }

  // Dense indices 0..size()-1 in graph order, for Boost.Graph property maps; recomputed
  // lazily after the graph changes.
  std::size_t index_of(const Node* n) const {
    if (indices_dirty_) {
      std::size_t i = 0;
      for (Node* m : nodes()) m->index_ = static_cast<std::uint32_t>(i++);
      indices_dirty_ = false;
    }
    return n->index_;
  }

 private:
  using InputList = decltype(Node::inputs_);
  static constexpr std::uint64_t kLabelEnd = std::uint64_t(1) << 62;
  static constexpr std::uint64_t kAppendStep = std::uint64_t(1) << 24;

  // (Arguments by rvalue reference: the public entry points take them by value and move them
  // here once, instead of once per layer.)
  Node* create(NodeKind kind, const OpSchema* op, std::string_view target,
               std::vector<Argument>&& args, Kwargs&& kwargs, std::string_view name, NameMode mode) {
    return create(kind, op, target, args.data(), args.size(), std::move(kwargs), name, mode);
  }
  // The arguments are moved out of args[0, num_args) once nothing can fail any more.
  Node* create(NodeKind kind, const OpSchema* op, std::string_view target, Argument* args,
               std::size_t num_args, Kwargs&& kwargs, std::string_view name, NameMode mode);
  void copy_from(const Graph& other, std::unordered_map<const Node*, Node*>* mapping);
  void release_all() noexcept;
  // Turns the node references in n's arguments into None (an erased node's arguments).
  static void clear_node_refs(Node* n) noexcept {
    for (std::uint32_t i = 0; i < n->num_args_; ++i) n->args_[i].map_nodes([](Node*) -> Node* { return nullptr; });
    if (n->kwargs_)
      for (Kwarg& k : *n->kwargs_) k.value.map_nodes([](Node*) -> Node* { return nullptr; });
  }
  void destroy_node(Node* n) noexcept {
    arg_store_.destroy(n->args_, n->num_args_);
    n->args_ = nullptr;
    n->num_args_ = 0;
    n->~Node();
    node_pool_.deallocate(n);
  }

  void check_live(const Node* n, std::string_view what) const {
    if (!n) throw GraphError(std::string(what) + ": null node");
    if (n->owner_ != this) throw GraphError(std::string(what) + ": node " + n->describe() + " belongs to another graph");
    if (n->erased_) throw GraphError(std::string(what) + ": node " + n->describe() + " was erased");
  }
  // The distinct nodes `args` and `kwargs` read, checked to be live and placed before `pos`,
  // into `out` (cleared first).
  void collect_inputs(ArgList args, const Kwargs& kwargs, const Node* reader,
                      std::string_view reader_name, const Node* pos, std::vector<Node*>& out) const;
  void update(Node* n, std::vector<Argument> args, Kwargs kwargs) {
    collect_inputs(ArgList(args.data(), args.size()), kwargs, n, n->name_, n, inputs_buf_);
    check_num_args(args.size(), n->name_);
    if (journal_) {  // room for the journal's records first, so that log_args cannot throw
      detail::reserve_one_more(journal_->args);
      journal_->entries.reserve_more(1);
    }
    std::unique_ptr<Kwargs> fresh_kwargs = kwargs.empty() ? nullptr : std::make_unique<Kwargs>(std::move(kwargs));
    Argument* fresh = arg_store_.take(args.data(), args.size());  // the last step that can throw
    if (journal_) {
      log_args(n);  // the old arrays move to the journal
    } else {
      arg_store_.destroy(n->args_, n->num_args_);
    }
    n->args_ = fresh;
    n->num_args_ = static_cast<std::uint32_t>(args.size());
    n->kwargs_ = std::move(fresh_kwargs);
    rebuild_uses(n, inputs_buf_);
  }
  static void check_num_args(std::size_t n, std::string_view node_name) {
    if (n > std::numeric_limits<std::uint32_t>::max())
      throw GraphError("node '" + std::string(node_name) + "': " + std::to_string(n) + " positional arguments are too many");
  }
  void rebuild_uses(Node* n, const std::vector<Node*>& inputs);
  // Links a new use record at the end of `input`'s users. Logged unless `log_it` is false (the
  // uses of a node created inside the transaction are undone with the node).
  detail::Use* make_use(Node* input, Node* user, bool log_it = true) {
    GRAFT_FAULT_POINT("graph: use added");
    if (journal_ && log_it) journal_->entries.reserve_more(1);
    detail::Use* u = uses_.make(input, user, input->users_tail_, nullptr);
    if (journal_ && log_it) log(JournalEntry::Kind::use_linked).use = u;
    if (input->users_tail_) input->users_tail_->next = u;
    else input->users_head_ = u;
    input->users_tail_ = u;
    ++input->num_users_;
    return u;
  }
  void unlink_use(detail::Use* u) {
    if (journal_) {
      JournalEntry& e = log(JournalEntry::Kind::use_unlinked);
      e.use = u;
      e.use_prev = u->prev;
      e.use_next = u->next;
      detail::reserve_one_more(journal_->released);
    }
    detach_use(u);
    if (journal_) journal_->released.push_back(u);  // kept for a rollback, freed at commit
    else uses_.release(u);
  }
  void detach_use(detail::Use* u) noexcept {
    Node* in = u->input;
    if (u->prev) u->prev->next = u->next;
    else in->users_head_ = u->next;
    if (u->next) u->next->prev = u->prev;
    else in->users_tail_ = u->prev;
    --in->num_users_;
  }
  void unlink(Node* n) {
    if (journal_) {
      JournalEntry& e = log(JournalEntry::Kind::node_unlinked, n);
      e.a = n->prev_;
      e.b = n->next_;
    }
    detach(n);
  }
  void detach(Node* n) noexcept {
    n->prev_->next_ = n->next_;
    n->next_->prev_ = n->prev_;
    indices_dirty_ = true;
  }
  void link_before(Node* n, Node* pos, bool log_it = true) {
    if (journal_ && log_it) log(JournalEntry::Kind::node_linked, n);
    n->prev_ = pos->prev_;
    n->next_ = pos;
    pos->prev_->next_ = n;
    pos->prev_ = n;
    indices_dirty_ = true;
    assign_order(n);
  }
  // A rollback step: puts `n` back between `prev` and `next`, where it was.
  void relink(Node* n, Node* prev, Node* next) {
    n->prev_ = prev;
    n->next_ = next;
    prev->next_ = n;
    next->prev_ = n;
    assign_order(n);  // cannot throw: relabelling only moves labels
  }
  void assign_order(Node* n);
  void relabel_window(Node* n);
  // FX's Namespace.create_name, without recording the choice (create() records it once the node
  // exists): the name is left in name_view(); returns the length of its base and its number.
  struct BaseCount {
    std::uint64_t count = 0;
    std::uint64_t epoch = 0;  // the transaction that last logged the old count
    std::uint32_t name_base = detail::NameIndex::kNoBase;  // the base's entry in names_, once it has one
  };
  struct NameChoice {
    std::size_t base_len;                              // name_buf_ starts with the base
    std::uint64_t num;                                 // the base's new count
    std::uint64_t base_hash;                           // hash_string(base)
    detail::StringTable<BaseCount>::Slot* count;       // the base's count, or null when it has none yet
    detail::NameIndex::Key key;                        // name_view() in the name index
  };
  NameChoice choose_unique_name(std::string_view candidate);
  void check_exact_name(const detail::NameIndex::Key& key) const {
    const std::string_view name = key.name;
    if (name.empty()) throw GraphError("node name must not be empty");
    if (Node* used = nullptr; names_.lookup(key, &used))
      throw GraphError("duplicate node name '" + std::string(name) + "'" +
                       (used ? std::string(": already used by ") + used->describe()
                                 : std::string(": used by an erased node")));
  }

  // One undoable step, logged before the change it undoes is made (32 bytes: a transaction over
  // a big graph logs many). Bulky old values live in the journal's side vectors, indexed by
  // `payload`.
  struct JournalEntry {
    enum class Kind : std::uint8_t {
      node_created,   // undo_create(b), then a, then node (a and b are null or nodes created after it)
      node_erased,    // relink node between a and b, names_[node->name_] = node, erased_ = false
      node_linked,    // unlink node
      node_unlinked,  // relink node between a and b
      use_linked,     // unlink use and free it
      use_unlinked,   // relink use between use_prev and use_next
      inputs,         // node->inputs_ = saved inputs (payload), or empty (payload == none)
      args,           // node->args_, kwargs_ = saved args (payload)
      node_renamed,   // drop the node's name, node->name_ = saved name (payload), index it
      base_count,     // base_count_[key, key_len] = old_count
    } kind;
    union {
      Node* node;
      detail::Use* use;
      const char* key;
    };
    union {
      Node* a;
      detail::Use* use_prev;
      std::size_t payload;
      std::size_t key_len;
    };
    union {
      Node* b;
      detail::Use* use_next;
      std::uint64_t old_count;
    };
    static constexpr std::size_t none = static_cast<std::size_t>(-1);
  };
  // The entries in chunks that never move (a transaction over a big graph logs many; a vector
  // would copy them all each time it grows).
  class EntryLog {
   public:
    // Makes room for `n` more entries, so that the next `n` emplace_back() calls cannot throw.
    void reserve_more(std::size_t n) {
      if (chunks_.empty() || chunks_.back().used + n > kChunk) add_chunk();
    }
    // The entry logged last, or null.
    JournalEntry* last() noexcept {
      if (chunks_.empty() || chunks_.back().used == 0) return nullptr;
      return &chunks_.back().entries[chunks_.back().used - 1];
    }
    JournalEntry& emplace_back() {
      reserve_more(1);
      Chunk& c = chunks_.back();
      return *::new (static_cast<void*>(c.entries + c.used++)) JournalEntry{};
    }
    EntryLog() = default;
    EntryLog(const EntryLog&) = delete;
    EntryLog& operator=(const EntryLog&) = delete;
    ~EntryLog() {  // the chunks go to the thread's chunk cache, for the next transaction
      for (const Chunk& c : chunks_) detail::give_chunk(c.entries, sizeof(JournalEntry) * kChunk);
    }
    template <typename F>
    void for_each_reverse(F&& f) {
      for (auto c = chunks_.rbegin(); c != chunks_.rend(); ++c)
        for (std::size_t i = c->used; i-- > 0;) f(c->entries[i]);
    }

   private:
    // 4032 entries (126 KiB): under glibc's default mmap threshold (128 KiB), so a chunk comes from
    // the heap and is reused by the next transaction instead of being mapped and unmapped (and its
    // pages faulted in again) every time.
    static constexpr std::size_t kChunk = 4032;
    struct Chunk {
      JournalEntry* entries;  // the first `used` constructed (JournalEntry is trivially destructible)
      std::size_t used;
    };
    static_assert(std::is_trivially_destructible_v<JournalEntry>);
    void add_chunk() {
      detail::reserve_one_more(chunks_);
      chunks_.push_back(Chunk{static_cast<JournalEntry*>(detail::take_chunk(sizeof(JournalEntry) * kChunk)), 0});
    }
    std::vector<Chunk> chunks_;
  };
  // A node's arguments before a change: its old array (still owned by the graph's ArgStore) and
  // keywords.
  struct SavedArgs {
    Argument* args;
    std::uint32_t num_args;
    std::unique_ptr<Kwargs> kwargs;
  };
  struct Journal {
    EntryLog entries;
    std::vector<std::string> names;
    std::vector<InputList> inputs;
    std::vector<SavedArgs> args;
    std::vector<detail::Use*> released;  // uses unlinked inside the transaction, freed at commit
    std::size_t num_nodes = 0;
    std::size_t graveyard = 0;
    Node* insert_before = nullptr;
  };
  JournalEntry& log(typename JournalEntry::Kind k, Node* n = nullptr) {
    JournalEntry& e = journal_->entries.emplace_back();
    e.kind = k;
    e.node = n;
    e.payload = JournalEntry::none;
    return e;
  }
  // A node created inside the transaction. Nodes created one after another with nothing else
  // logged in between share an entry, three to an entry (a pass creating a dozen nodes per
  // rewrite logs four entries, not twelve): undone last first, as separate entries would be.
  // Cannot throw once the entry log has room for one more entry.
  void log_created(Node* n) {
    if (JournalEntry* last = journal_->entries.last(); last && last->kind == JournalEntry::Kind::node_created) {
      if (!last->a) {
        last->a = n;
        return;
      }
      if (!last->b) {
        last->b = n;
        return;
      }
    }
    JournalEntry& e = log(JournalEntry::Kind::node_created, n);
    e.a = nullptr;
    e.b = nullptr;
  }
  void log_inputs(Node* n) {
    if (!journal_) return;
    std::size_t payload = JournalEntry::none;
    if (!n->inputs_.empty()) {
      journal_->inputs.push_back(n->inputs_);
      payload = journal_->inputs.size() - 1;
    }
    log(JournalEntry::Kind::inputs, n).payload = payload;
  }
  // Moves n's arguments to the journal (room for them reserved by the caller, so this cannot
  // throw once the entry log has room).
  void log_args(Node* n) {
    journal_->entries.reserve_more(1);
    journal_->args.push_back(SavedArgs{n->args_, n->num_args_, std::move(n->kwargs_)});
    n->args_ = nullptr;
    n->num_args_ = 0;
    log(JournalEntry::Kind::args, n).payload = journal_->args.size() - 1;
  }
  // Frees the argument arrays a journal holds (at commit: the old ones; after a rollback: the
  // ones the rollback took off the nodes).
  void release_saved_args(Journal& j) noexcept {
    for (SavedArgs& a : j.args) {
      arg_store_.destroy(a.args, a.num_args);
      a.args = nullptr;
      a.num_args = 0;
    }
  }
  void begin_journal() {
    if (journal_) throw GraphError("transaction: a transaction is already open on this graph");
    auto j = std::make_unique<Journal>();
    j->num_nodes = num_nodes_;
    j->graveyard = graveyard_.size();
    j->insert_before = insert_before_;
    journal_ = std::move(j);
    ++journal_epoch_;  // base counts log their old value once per transaction
  }
  void end_journal() noexcept {
    if (!journal_) return;
    for (std::size_t i = journal_->graveyard; i < graveyard_.size(); ++i) clear_node_refs(graveyard_[i]);
    for (detail::Use* u : journal_->released) uses_.release(u);
    release_saved_args(*journal_);
    journal_.reset();
  }
  void rollback_journal() noexcept;
  // Undoes create(): unlinks the node's use records, drops its name, unlinks and destroys it.
  void undo_create(Node* n) noexcept;

  std::unique_ptr<Node> root_;  // sentinel: root_->next_ is the first node
  Node* insert_before_ = root_.get();
  std::size_t num_nodes_ = 0;
  std::vector<Node*> graveyard_;
  detail::Pool<detail::Use> uses_;
  detail::Pool<Node, 256> node_pool_;  // creation order is memory order
  detail::ArgStore arg_store_;  // the nodes' positional arguments, also in creation order
  OpRegistry ops_;
  // Keys of the tables below that no node holds (names of purged nodes and of another graph's
  // erased nodes, base names, op spellings) and the targets of the nodes that are not
  // call_function (attribute paths, input names). Freed with the graph.
  detail::CharArena key_arena_;
  // name -> live node, or null for a name an erased node had (names are never reused). Numbered
  // names sit in per-base arrays; the others' keys point at their node's own name while the node
  // exists, else into key_arena_ (graph/detail/name_index.hpp).
  detail::NameIndex names_;
  // FX's Namespace._base_count (a missing base counts 0), with the transaction that last logged
  // each entry's old value.
  detail::StringTable<BaseCount> base_count_;
  std::uint64_t journal_epoch_ = 0;
  // resolve_op's answers by spelling (cleared when a schema is registered).
  detail::StringTable<const OpSchema*> op_cache_;
  // resolve_op's hints: spellings seen last, by address (see resolve_op).
  struct OpHint {
    std::string_view name;  // in key_arena_
    const OpSchema* op = nullptr;
  };
  static constexpr std::size_t kOpHints = 16;
  std::array<OpHint, kOpHints> op_hints_{};
  // Scratch space reused by create(): the name being chosen (raw storage: name_buf_'s size is
  // its room, the name is its first name_len_ characters) and the inputs being collected.
  std::string name_buf_;
  std::size_t name_len_ = 0;
  char* name_room(std::size_t n) {
    if (name_buf_.size() < n) name_buf_.resize(std::max<std::size_t>({n, 2 * name_buf_.size(), 64}));
    return name_buf_.data();
  }
  std::string_view name_view() const noexcept { return std::string_view(name_buf_.data(), name_len_); }
  std::vector<Node*> inputs_buf_;
  // choose_unique_name's hints: how recent candidates split into base and number.
  struct NameHint {
    char text[40];  // the candidate, which needed no sanitising
    std::uint8_t size = 0;  // 0: unused
    std::uint8_t base_len = 0;
    bool has_num = false;
    std::uint64_t num = 0;
    std::uint64_t base_hash = 0;
  };
  static constexpr std::size_t kNameHints = 16;
  std::array<NameHint, kNameHints> name_hints_{};
  mutable bool indices_dirty_ = true;
  std::unique_ptr<Journal> journal_;  // set while a transaction records
};

// ---------------------------------------------------------------------------------------------

namespace detail {

// Python keywords and builtins: FX never uses them as node names.
inline bool is_python_reserved(std::string_view s) {
  // None of them is shorter than 2 or longer than 12 characters, or has a digit (as the `_N`
  // names the graph makes do): those need no lookup.
  if (s.size() < 2 || s.size() > 12 || (s.back() >= '0' && s.back() <= '9')) return false;
  for (char c : s)
    if (c >= '0' && c <= '9') return false;
  static const std::unordered_set<std::string_view> kReserved = {
      "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
      "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
      "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
      "try", "while", "with", "yield", "abs", "all", "any", "ascii", "bin", "bool", "breakpoint",
      "bytearray", "bytes", "callable", "chr", "classmethod", "compile", "complex", "copyright",
      "credits", "delattr", "dict", "dir", "divmod", "enumerate", "eval", "exec", "exit",
      "filter", "float", "format", "frozenset", "getattr", "globals", "hasattr", "hash", "help",
      "hex", "id", "input", "int", "isinstance", "issubclass", "iter", "len", "license", "list",
      "locals", "map", "max", "memoryview", "min", "next", "object", "oct", "open", "ord", "pow",
      "print", "property", "quit", "range", "repr", "reversed", "round", "set", "setattr",
      "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "type", "vars", "zip",
      "inf", "nan", "NoneType", "torch", "device", "fx_pytree", "pytree"};
  return kReserved.count(s) != 0;
}

}  // namespace detail

inline Graph::NameChoice Graph::choose_unique_name(std::string_view candidate_in) {
  // FX's Namespace.create_name: sanitise, split a trailing `_<digits>`, count up per base.
  // Built in name_buf_ with plain character writes (no std::string calls per step).
  char* const out = name_room(candidate_in.size() + 32);  // + a leading '_', "_unnamed", a number
  std::size_t len = 0;
  std::size_t base_len = 0;
  std::uint64_t num = 0;
  bool has_num = false;
  std::uint64_t base_hash = 0;
  // A pass names its nodes after a few ops, over and over: the split of a candidate that needed
  // no sanitising is remembered in a hint picked by the characters' address (the hint's own copy
  // of the characters must match; the address only picks it).
  NameHint& hint = name_hints_[(reinterpret_cast<std::uintptr_t>(candidate_in.data()) >> 4) % kNameHints];
  if (hint.size != 0 && hint.size == candidate_in.size() &&
      std::memcmp(hint.text, candidate_in.data(), candidate_in.size()) == 0) {
    std::memcpy(out, candidate_in.data(), candidate_in.size());
    len = candidate_in.size();
    base_len = hint.base_len;
    num = hint.num;
    has_num = hint.has_num;
    base_hash = hint.base_hash;
  } else {
    auto ok = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    };
    bool plain = std::all_of(candidate_in.begin(), candidate_in.end(), ok);
    if (plain) {
      if (!candidate_in.empty()) std::memcpy(out, candidate_in.data(), candidate_in.size());  // the usual case
      len = candidate_in.size();
    } else {
      bool in_bad = false;
      for (char c : candidate_in) {
        if (ok(c)) {
          out[len++] = c;
          in_bad = false;
        } else if (!in_bad) {
          out[len++] = '_';
          in_bad = true;
        }
      }
    }
    if (len == 0) {
      constexpr std::string_view unnamed = "_unnamed";
      std::memcpy(out, unnamed.data(), unnamed.size());
      len = unnamed.size();
      plain = false;
    }
    if (out[0] >= '0' && out[0] <= '9') {
      std::memmove(out + 1, out, len);
      out[0] = '_';
      ++len;
      plain = false;
    }

    // A trailing `_<digits>` (at most 18 of them) is a number on a base.
    base_len = len;
    std::size_t first_digit = len;
    while (first_digit > 0 && out[first_digit - 1] >= '0' && out[first_digit - 1] <= '9') --first_digit;
    if (first_digit < len && first_digit > 0 && out[first_digit - 1] == '_' && len - first_digit <= 18) {
      base_len = first_digit - 1;
      for (std::size_t i = first_digit; i < len; ++i) num = num * 10 + static_cast<std::uint64_t>(out[i] - '0');
      has_num = true;
    }
    base_hash = detail::hash_string(std::string_view(out, base_len));
    if (plain && candidate_in.size() <= sizeof(hint.text)) {
      std::memcpy(hint.text, candidate_in.data(), candidate_in.size());
      hint.size = static_cast<std::uint8_t>(candidate_in.size());
      hint.base_len = static_cast<std::uint8_t>(base_len);
      hint.has_num = has_num;
      hint.num = num;
      hint.base_hash = base_hash;
    }
  }
  base_count_.reserve_more();  // so that create() can add the base without moving this slot
  auto* count = base_count_.find(std::string_view(out, base_len), base_hash);
  if (!has_num || num == 0) num = count ? count->value.count : 0;
  auto set_number = [&](std::uint64_t k) {  // base_len + 21 characters at most: within the room
    out[base_len] = '_';
    len = static_cast<std::size_t>(std::to_chars(out + base_len + 1, out + base_len + 21, k).ptr - out);
  };
  if (has_num) set_number(num);
  // Numbered candidates are looked up by their base's entry, found once.
  auto key = [&] {
    return has_num ? names_.key(std::string_view(out, len), base_len, base_hash, num,
                                count ? count->value.name_base : detail::NameIndex::kNoBase)
                   : names_.key_unnumbered(std::string_view(out, len), base_hash);  // the base itself
  };
  detail::NameIndex::Key k = key();
  while (names_.lookup(k) || detail::is_python_reserved(std::string_view(out, len))) {
    set_number(++num);
    has_num = true;
    k = key();
  }
  name_len_ = len;
  return NameChoice{base_len, num, base_hash, count, k};
}

inline void Graph::collect_inputs(ArgList args, const Kwargs& kwargs,
                                  const Node* reader, std::string_view reader_name,
                                  const Node* pos, std::vector<Node*>& out) const {
  out.clear();
  std::unordered_set<Node*> seen;  // only used for nodes with many inputs
  constexpr std::size_t kLinear = 16;
  auto visit = [&](Node* in) {
    if (in->owner_ != this)
      throw GraphError("node '" + std::string(reader_name) + "' cannot read " + in->describe() +
                       ": it belongs to another graph");
    if (in->erased_)
      throw GraphError("node '" + std::string(reader_name) + "' cannot read " + in->describe() +
                       ": that node was erased");
    if (in == reader)
      throw GraphError("node '" + std::string(reader_name) + "' cannot read itself: that would be a cycle");
    if (pos != root_.get() && !in->is_before(*pos))
      throw GraphError("node '" + std::string(reader_name) + "' cannot read " + in->describe() +
                       ": " + in->describe() + " comes after it, so the graph would have a cycle "
                       "or a use before definition");
    if (out.size() < kLinear) {
      if (std::find(out.begin(), out.end(), in) == out.end()) out.push_back(in);
      return;
    }
    if (seen.empty()) seen.insert(out.begin(), out.end());
    if (seen.insert(in).second) out.push_back(in);
  };
  for (const Argument& a : args) a.for_each_node(visit);
  for (const Kwarg& k : kwargs) k.value.for_each_node(visit);
}

inline void Graph::rebuild_uses(Node* n, const std::vector<Node*>& inputs) {
  log_inputs(n);
  InputList old = std::move(n->inputs_);
  InputList fresh;
  fresh.reserve(inputs.size());
  std::unordered_map<Node*, std::size_t> old_index;  // only for nodes with many inputs
  if (old.size() > 16)
    for (std::size_t i = 0; i < old.size(); ++i) old_index.emplace(old[i]->input, i);
  for (Node* in : inputs) {
    detail::Use* kept = nullptr;
    if (old_index.empty()) {
      for (detail::Use*& u : old)
        if (u && u->input == in) {
          kept = u;
          u = nullptr;
          break;
        }
    } else if (auto it = old_index.find(in); it != old_index.end() && old[it->second]) {
      kept = old[it->second];
      old[it->second] = nullptr;
    }
    fresh.push_back(kept ? kept : make_use(in, n));
  }
  for (detail::Use* u : old)
    if (u) unlink_use(u);
  n->inputs_ = std::move(fresh);
}

inline Node* Graph::create(NodeKind kind, const OpSchema* op, std::string_view target, Argument* args,
                           std::size_t num_args, Kwargs&& kwargs, std::string_view name, NameMode mode) {
  GRAFT_FAULT_POINT("graph: node created");
  if (insert_before_ != root_.get() && (insert_before_->erased_ || insert_before_->owner_ != this))
    throw GraphError("insertion point " + insert_before_->describe() + " is no longer in the graph");
  // Everything that can fail is checked, and all memory but the use records' is obtained,
  // before the graph changes.
  NameChoice choice{0, 0, 0, nullptr, {}};
  if (mode == NameMode::exact) {
    choice.key = names_.key(name);
    check_exact_name(choice.key);
    std::memcpy(name_room(name.size()), name.data(), name.size());
    name_len_ = name.size();
    choice.key.name = name_view();
  } else {
    std::string_view candidate = name;
    if (candidate.empty()) candidate = op ? op->op() : target;
    choice = choose_unique_name(candidate);
  }
  collect_inputs(ArgList(args, num_args), kwargs, nullptr, name_view(), insert_before_, inputs_buf_);
  check_num_args(num_args, name_view());

  names_.prepare_insert(choice.key);
  auto* count = choice.count;
  if (mode == NameMode::unique && !count)  // a new base counts 0, as an absent one does
    count = &base_count_.insert_new(key_arena_.store(std::string_view(name_buf_.data(), choice.base_len)),
                                    choice.base_hash, BaseCount{});
  if (journal_) journal_->entries.reserve_more(2);
  Node* n = ::new (node_pool_.allocate()) Node;  // default-initialised: the members say how
  try {
    n->name_.assign(name_buf_.data(), name_len_);
    if (!op) n->target_ = key_arena_.store(target);  // freed with the graph, as purged names are
    n->inputs_.reserve(inputs_buf_.size());
    if (!kwargs.empty()) n->kwargs_ = std::make_unique<Kwargs>(std::move(kwargs));
    n->args_ = arg_store_.take(args, num_args);
    n->num_args_ = static_cast<std::uint32_t>(num_args);
  } catch (...) {
    destroy_node(n);
    throw;
  }
  n->kind_ = kind;
  n->op_ = op;
  n->owner_ = this;
  // One journal entry undoes all of it: the node's name, place and use records.
  if (journal_) log_created(n);
  names_.insert(choice.key, n->name_, n);
  const std::uint64_t old_count = count ? count->value.count : 0;
  if (count && choice.key.num != 0) count->value.name_base = choice.key.base;  // remembered for the next name
  if (count) {
    if (journal_ && count->value.epoch != journal_epoch_) {
      JournalEntry& e = log(JournalEntry::Kind::base_count);
      e.key = count->key;
      e.key_len = count->len;
      e.old_count = old_count;
      count->value.epoch = journal_epoch_;
    }
    count->value.count = choice.num;
  }
  link_before(n, insert_before_, /*log_it=*/false);
  try {
    for (Node* in : inputs_buf_) n->inputs_.push_back(make_use(in, n, /*log_it=*/false));
  } catch (...) {
    if (!journal_) {  // (a transaction undoes it with the node_created entry)
      undo_create(n);
      if (count) count->value.count = old_count;
    }
    throw;
  }
  ++num_nodes_;
  return n;
}

inline void Graph::undo_create(Node* n) noexcept {
  for (std::size_t i = n->inputs_.size(); i-- > 0;) {
    detach_use(n->inputs_[i]);
    uses_.release(n->inputs_[i]);
  }
  n->inputs_.clear();
  if (names_.find(n->name_) == n) names_.erase(n->name_);
  if (n->prev_) detach(n);
  destroy_node(n);
}

inline void Graph::assign_order(Node* n) {
  const Node* p = n->prev_;
  const Node* q = n->next_;
  std::uint64_t lo = p->sentinel_ ? 0 : p->order_;
  std::uint64_t hi = q->sentinel_ ? kLabelEnd : q->order_;
  if (hi - lo >= 2) {
    n->order_ = (q->sentinel_ && hi - lo > kAppendStep) ? lo + kAppendStep : lo + (hi - lo) / 2;
    return;
  }
  relabel_window(n);
}

// Order maintenance (Bender et al., "Two simplified algorithms for maintaining order in a
// list"): grow an aligned label window around the new node until it is sparse enough, then
// spread the window's labels evenly. Amortised O(log^2 n) per insertion, no global renumbering.
inline void Graph::relabel_window(Node* n) {
  std::uint64_t x = n->prev_->sentinel_ ? 0 : n->prev_->order_;
  Node* left = n;
  Node* right = n;
  std::uint64_t count = 1;
  double cap = 1.0;
  constexpr double kGrowth = 2.0 / 1.3;
  for (int level = 1; level <= 62; ++level) {
    cap *= kGrowth;
    std::uint64_t span = std::uint64_t(1) << level;
    std::uint64_t base = x & ~(span - 1);
    std::uint64_t end = base + span;
    while (!left->prev_->sentinel_ && left->prev_->order_ >= base) {
      left = left->prev_;
      ++count;
    }
    while (!right->next_->sentinel_ && right->next_->order_ < end) {
      right = right->next_;
      ++count;
    }
    if (static_cast<double>(count) <= cap || level == 62) {
      std::uint64_t first = std::max<std::uint64_t>(base, 1);
      std::uint64_t gap = (end - first) / count;
      std::uint64_t label = first;
      for (Node* m = left;; m = m->next_) {
        m->order_ = label;
        label += gap;
        if (m == right) break;
      }
      return;
    }
  }
}

inline void Graph::swap(Graph& other) noexcept {
  root_.swap(other.root_);
  std::swap(num_nodes_, other.num_nodes_);
  graveyard_.swap(other.graveyard_);
  uses_.swap(other.uses_);
  node_pool_.swap(other.node_pool_);
  arg_store_.swap(other.arg_store_);
  std::swap(ops_, other.ops_);
  key_arena_.swap(other.key_arena_);
  names_.swap(other.names_);
  base_count_.swap(other.base_count_);
  std::swap(journal_epoch_, other.journal_epoch_);
  op_cache_.swap(other.op_cache_);
  std::swap(op_hints_, other.op_hints_);  // they point into the key arenas, swapped above
  std::swap(indices_dirty_, other.indices_dirty_);
  std::swap(insert_before_, other.insert_before_);
  // Nodes know their graph: re-point both sides.
  for (Graph* g : {this, &other}) {
    g->root_->owner_ = g;
    for (Node* n = g->root_->next_; n != g->root_.get(); n = n->next_) n->owner_ = g;
    for (Node* n : g->graveyard_) n->owner_ = g;
  }
}

inline void Graph::release_all() noexcept {
  if (!root_) return;
  if (journal_) {  // a graph destroyed inside a transaction: its saved arrays go too
    release_saved_args(*journal_);
    journal_.reset();
  }
  Node* n = root_->next_;
  while (n != root_.get()) {
    Node* next = n->next_;
    destroy_node(n);
    n = next;
  }
  root_->next_ = root_->prev_ = root_.get();
  for (Node* e : graveyard_) destroy_node(e);
  graveyard_.clear();
  names_.clear();
  num_nodes_ = 0;
}

inline void Graph::copy_from(const Graph& other, std::unordered_map<const Node*, Node*>* mapping) {
  other.ops_.for_each([&](const OpSchema& s) { ops_.add(OpSchema(s)); });
  std::unordered_map<const Node*, Node*> local;
  std::unordered_map<const Node*, Node*>& map = mapping ? *mapping : local;
  map.reserve(other.size());
  names_.reserve_like(other.names_);
  other.names_.for_each_reserved([&](std::string_view reserved) { names_.insert(key_arena_.store(reserved), nullptr); });
  base_count_.reserve_more(other.base_count_.size());
  other.base_count_.for_each([&](const auto& s) {
    base_count_.insert_new(key_arena_.store(s.key_view()), s.hash, BaseCount{s.value.count, 0, detail::NameIndex::kNoBase});
  });
  auto remap = [&](Node* r) -> Node* {
    auto it = map.find(r);
    return it == map.end() ? nullptr : it->second;
  };
  std::vector<Argument> args;  // reused from node to node: create() moves the values out
  for (Node* n : other.nodes()) {
    args.assign(n->args().begin(), n->args().end());
    Kwargs kwargs = n->kwargs();
    for (Argument& a : args) a.map_nodes(remap);
    for (Kwarg& k : kwargs) k.value.map_nodes(remap);
    const OpSchema* op = n->op_;
    if (op && other.ops_.find(op->name()) == op) op = ops_.find(op->name());
    Node* c = create(n->kind_, op, n->target_, args.data(), args.size(), std::move(kwargs), n->name_,
                     NameMode::exact);
    map.emplace(n, c);
  }
  for (Node* n : other.nodes()) {
    if (!n->meta_) continue;
    Node* c = map.at(n);
    c->meta_ = std::make_unique<Meta>(*n->meta_);
    c->meta_->for_each_node_ref([&](Node*& r) { r = remap(r); });
  }
}

inline void Graph::rollback_journal() noexcept {
  if (!journal_) return;
  std::unique_ptr<Journal> j = std::move(journal_);  // undo steps must not log
  using K = JournalEntry::Kind;
  j->entries.for_each_reverse([&](JournalEntry& e) {
    switch (e.kind) {
      case K::node_created:
        if (e.b) undo_create(e.b);
        if (e.a) undo_create(e.a);
        undo_create(e.node);
        break;
      case K::node_erased: {
        Node* n = e.node;
        n->erased_ = false;
        names_.set(n->name_, n);
        relink(n, e.a, e.b);
        break;
      }
      case K::node_linked: detach(e.node); break;
      case K::node_unlinked: relink(e.node, e.a, e.b); break;
      case K::use_linked:
        detach_use(e.use);
        uses_.release(e.use);
        break;
      case K::use_unlinked: {
        detail::Use* u = e.use;
        Node* in = u->input;
        u->prev = e.use_prev;
        u->next = e.use_next;
        if (u->prev) u->prev->next = u;
        else in->users_head_ = u;
        if (u->next) u->next->prev = u;
        else in->users_tail_ = u;
        ++in->num_users_;
        // Undone last first, so the record is normally the last one released.
        auto r = std::find(j->released.rbegin(), j->released.rend(), u);
        j->released.erase(std::next(r).base());
        break;
      }
      case K::inputs:
        if (e.payload == JournalEntry::none) e.node->inputs_.clear();
        else e.node->inputs_.swap(j->inputs[e.payload]);
        break;
      case K::args: {
        SavedArgs& saved = j->args[e.payload];
        std::swap(e.node->args_, saved.args);
        std::swap(e.node->num_args_, saved.num_args);
        std::swap(e.node->kwargs_, saved.kwargs);
        break;
      }
      case K::node_renamed: {
        Node* n = e.node;
        names_.erase(n->name_);
        n->name_.swap(j->names[e.payload]);
        names_.reinsert(n->name_, n);  // indexed before: fits
        break;
      }
      case K::base_count:
        base_count_.find(std::string_view(e.key, e.key_len))->value.count = e.old_count;
        break;
    }
  });
  release_saved_args(*j);  // now the arrays the changes had put on the nodes
  num_nodes_ = j->num_nodes;
  graveyard_.resize(j->graveyard);
  insert_before_ = j->insert_before;
  indices_dirty_ = true;
}

inline std::vector<std::string> Graph::lint_problems() const {
  std::vector<std::string> problems;
  // Argument references cannot dangle (erase refuses used nodes), so they are checked through
  // the nodes themselves. Metadata references can point anywhere, so they are looked up in a
  // set of live nodes instead of being dereferenced; the set is built only when needed.
  std::unordered_set<const Node*> live, erased;
  bool sets_built = false;
  auto meta_ref_problem = [&](const Node* n, const Node* r) {
    const std::string where = "meta quantization_annotation";
    if (!r) {
      problems.push_back("node " + n->describe() + " " + where + " refers to no node (null)");
      return;
    }
    if (!sets_built) {
      for (const Node* m : nodes()) live.insert(m);
      erased.insert(graveyard_.begin(), graveyard_.end());
      sets_built = true;
    }
    if (live.count(r)) return;
    if (erased.count(r))
      problems.push_back("node " + n->describe() + " " + where + " refers to erased node " + r->describe());
    else
      problems.push_back("node " + n->describe() + " " + where +
                         " refers to a node that is not in this graph (dangling reference)");
  };

  // Pass 1: the list, names, kinds and order.
  std::size_t count = 0, outputs = 0;
  const Node* prev = root_.get();
  for (const Node* n = root_->next_; n != root_.get(); n = n->next_) {
    ++count;
    if (n->prev_ != prev) problems.push_back("node " + n->describe() + " has a broken list link");
    if (n->owner_ != this) problems.push_back("node " + n->describe() + " does not belong to this graph");
    if (n->erased_) problems.push_back("node " + n->describe() + " is erased but still listed");
    if (!prev->sentinel_ && !(prev->order_ < n->order_))
      problems.push_back("node " + n->describe() + " has an order label not above its predecessor's");
    if (n->name_.empty()) problems.push_back("a " + std::string(node_kind_name(n->kind_)) + " node has an empty name");
    const Node* indexed = names_.find(n->name_);
    if (!indexed)
      problems.push_back("node " + n->describe() + " is missing from the name index");
    else if (indexed != n)
      problems.push_back("node name '" + n->name_ + "' is used by more than one node");
    if (n->kind_ == NodeKind::call_function && !n->op_)
      problems.push_back("call_function node " + n->describe() + " has no op");
    if (n->kind_ == NodeKind::output) {
      ++outputs;
      if (n->next_ != root_.get()) problems.push_back("output node " + n->describe() + " is not the last node");
    }
    prev = n;
  }
  if (count != num_nodes_)
    problems.push_back("graph holds " + std::to_string(count) + " nodes but counts " + std::to_string(num_nodes_));
  if (outputs == 0) problems.push_back("graph has no output node");
  if (outputs > 1) problems.push_back("graph has " + std::to_string(outputs) + " output nodes");

  // Pass 2: arguments, users and metadata references.
  std::vector<const Node*> refs;
  std::size_t input_records = 0, user_records = 0;
  for (const Node* n : nodes()) {
    refs.clear();
    bool bad = false;
    auto check = [&](const Node* r, std::size_t index, const std::string* kw) {
      auto where = [&] {
        return kw ? "keyword argument '" + *kw + "'" : "argument " + std::to_string(index);
      };
      if (r->owner_ != this || r->erased_) {
        problems.push_back("node " + n->describe() + " " + where() + " refers to " +
                           (r->erased_ ? "erased node " + r->describe() : "a node of another graph"));
        bad = true;
        return;
      }
      if (!r->is_before(*n))
        problems.push_back("node " + n->describe() + " " + where() + " uses " + r->describe() +
                           ", which comes after it (the order is not topological)");
      if (std::find(refs.begin(), refs.end(), r) == refs.end()) refs.push_back(r);
    };
    for (std::size_t i = 0; i < n->num_args_; ++i)
      n->args_[i].for_each_node([&](Node* r) { check(r, i, nullptr); });
    for (const Kwarg& k : n->kwargs()) k.value.for_each_node([&](Node* r) { check(r, 0, &k.name); });
    if (!bad) {
      bool same = refs.size() == n->inputs_.size();
      for (std::size_t i = 0; same && i < refs.size(); ++i) same = n->inputs_[i]->input == refs[i];
      if (!same) problems.push_back("node " + n->describe() + " has an input list out of sync with its arguments");
    }
    // Each input record must be linked into its input's user list; with the totals compared
    // below, the user lists then hold exactly the input records. O(edges) overall.
    for (const detail::Use* u : n->inputs_) {
      ++input_records;
      bool linked = u->user == n && (u->prev ? u->prev->next == u : u->input->users_head_ == u) &&
                    (u->next ? u->next->prev == u : u->input->users_tail_ == u);
      if (!linked)
        problems.push_back("node " + n->describe() + " reads " + u->input->describe() +
                           " but is not among its users");
    }
    std::size_t users = 0;
    for (const detail::Use* u = n->users_head_; u; u = u->next) {
      ++users;
      if (u->input != n || u->user->owner_ != this || u->user->erased_)
        problems.push_back("node " + n->describe() + " lists a user that is not a live node reading it");
    }
    user_records += users;
    if (users != n->num_users_)
      problems.push_back("node " + n->describe() + " counts " + std::to_string(n->num_users_) +
                         " users but lists " + std::to_string(users));
    if (n->meta_) n->meta_->for_each_node_ref([&](Node*& r) { meta_ref_problem(n, r); });
  }
  if (input_records != user_records)
    problems.push_back("the graph's user lists hold " + std::to_string(user_records) +
                       " records but its nodes read " + std::to_string(input_records) + " inputs");
  return problems;
}

}  // namespace graft
