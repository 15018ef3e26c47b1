#pragma once
// The tape: a Wengert list of the ops a computation ran, walked once in reverse by backward().
//
//   Tape<float> tape;
//   Var<float> w = tape.param(W);            // a Parameter: persists across steps
//   Var<float> y = tanh(matmul(x, w));       // each op appends one node to the tape
//   tape.backward(sum(y));                   // reverse walk; W.grad += dL/dW
//   tape.clear();                            // next step reuses every node's buffers
//
// This header is the whole data structure: a Node per recorded value, Var (a checked handle to
// a node), Tape (recording, clearing) and record(), which appends one op's node and runs its
// forward. tape.cpp holds the reverse walk, leaves.cpp the nodes that are not ops. What an op
// author writes against -- ForwardContext, BackwardContext, apply() -- is in op.hpp; the
// built-in ops are in ops.hpp.
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tapegrad/detail/node_store.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/parameter.hpp"
#include "tapegrad/tensor.hpp"

namespace tapegrad {

template <class T>
class Tape;
template <class T>
class ForwardContext;
template <class T>
class BackwardContext;
template <class T>
class Var;

/// While one of these lives (on this thread), ops record values but nothing requires a gradient:
/// inference without backward bookkeeping.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
};
bool grad_enabled();

namespace detail {

/// What a node knows of its op's type: the name, and backward() behind a plain function pointer
/// (op.hpp makes one per op type). The op's fields are copied into Node::op_state.
template <class T>
struct OpInfo {
  const char* name;
  void (*backward)(const void* op_state, BackwardContext<T>& c);
};
template <class Op, class T>
const OpInfo<T>* op_info();  // op.hpp

/// A sequence of steps of indices (Tape::one_hot, gather_rows): at least one step, and as many
/// indices at every step as at step 0 (one per sequence), else an Error naming `who`.
inline void check_steps(const char* who, const std::vector<Indices>& steps) {
  if (steps.empty()) throw Error(std::string(who) + ": expected at least one step, got none");
  for (std::size_t t = 0; t < steps.size(); ++t)
    if (steps[t].size() != steps[0].size())
      throw Error(std::string(who) + ": step " + std::to_string(t) + " has " +
                  std::to_string(steps[t].size()) + " indices, step 0 has " +
                  std::to_string(steps[0].size()) + "; every step needs one per sequence");
}
}  // namespace detail
namespace ops {
template <class Op, class T>
void run_forward(const Op& op, ForwardContext<T>& c);  // op.hpp: calls op.forward(c)
template <class Op, class T>
void run_backward(const void* op_state, BackwardContext<T>& c);  // op.hpp: op.backward(c)
}  // namespace ops
namespace detail {

enum class NodeKind : std::uint8_t { op, constant, leaf, parameter };
constexpr std::size_t kMaxOpState = 64;

template <class T>
struct Node {
  NodeKind kind = NodeKind::constant;
  bool requires_grad = false;
  bool grad_live = false;   // grad holds this backward pass's sum (else it is stale)
  bool one_hot = false;     // a constant made by Tape::one_hot: saved_indices holds its columns
  std::uint32_t scope = 0;  // the Tape::scope it was recorded in (0: none)
  // How many of `saved` (and whether saved_indices) this recording's op wrote: the rest are
  // kept buffers of an earlier recording, held for reuse but not for this node's backward.
  std::uint8_t saved_live = 0;
  bool indices_live = false;
  std::uint32_t in_begin = 0, in_count = 0;  // its inputs: Tape::edges_[in_begin, + in_count)
  const OpInfo<T>* op = nullptr;
  Parameter<T>* param = nullptr;
  alignas(std::max_align_t) unsigned char op_state[kMaxOpState];
  Tensor<T> value;  // unused for parameters: their value lives in the Parameter
  Tensor<T> grad;
  std::vector<Tensor<T>> saved;  // what backward needs beyond inputs and output
  Indices saved_indices;

  const Tensor<T>& val() const { return param ? param->value : value; }
};

[[noreturn]] void throw_stale_var(std::size_t index, std::uint32_t var_gen, std::uint32_t tape_gen);
[[noreturn]] void throw_empty_var();

// A label of Tape::scope: either text, or a fixed name followed by a number ("t=" and 3 read
// "t=3"), which a recurrent layer can give at every step without formatting a string.
struct ScopeLabel {
  std::uint32_t parent = 0;
  const char* name = nullptr;  // with `number`, when not null
  std::size_t number = 0;
  std::string text;  // otherwise; its capacity is kept across clear()
};

// Records one op again on a tape of its own: what the op check (gradcheck.hpp, check_ops)
// needs of the op's type, behind a plain function pointer so the check itself is compiled once.
struct Rerecord {
  const void* op;
  Var<double> (*record)(const void* op, Tape<double>& tape, const Var<double>* const* inputs,
                        std::size_t n);
};
// The checking side of check_ops: when a tape has one, every op is checked as it is recorded.
class OpChecker {
 public:
  virtual ~OpChecker() = default;
  virtual void check(Tape<double>& tape, std::uint32_t node, const Rerecord& op) = 0;
};

}  // namespace detail

/// A handle to one value on a tape: cheap to copy, checked on every use. A Var whose tape has
/// been cleared raises tapegrad::Error instead of reading reused memory. A Var must not outlive
/// its Tape object.
template <class T>
class Var {
 public:
  Var() = default;

  const Tensor<T>& value() const { return node().val(); }
  /// The gradient of the last backward() with respect to this value (zeros if it received none).
  /// For a parameter: the Parameter's accumulated grad.
  const Tensor<T>& grad() const { return tape().grad_of(index_); }
  const Shape& shape() const { return value().shape(); }
  std::size_t dim() const { return value().dimension(); }
  std::size_t size() const { return value().size(); }
  /// The single element of a one-element value.
  T item() const {
    if (size() != 1)
      throw Error("item: expected a one-element value, got shape " + shape_str(shape()));
    return *value().data();
  }
  bool requires_grad() const { return node().requires_grad; }
  /// Position on the tape (the order ops ran in).
  std::size_t index() const { return check(), index_; }
  const char* op_name() const { return tape().op_name(index_); }
  Tape<T>& tape() const { return check(), *tape_; }
  /// backward() on this Var's tape, seeded with 1 (this Var must hold a single element).
  void backward() const { tape().backward(*this); }
  /// A gradient hook: in the next backward(), `fn` is called with the gradient that reached
  /// this value, once it is complete and before it flows on to the value's inputs. `fn` may
  /// read it or change it in place (scale, clip, zero), and its inputs receive what it leaves.
  /// Hooks on one value run in the order they were added; a value no gradient reaches calls
  /// none. For a parameter, `fn` sees Parameter::grad after this pass added into it. Hooks
  /// belong to the recording: clear() forgets them. An Error for a value that requires no
  /// gradient (a constant, or recorded under NoGradGuard).
  void on_grad(std::function<void(Tensor<T>& grad)> fn) const {
    tape().add_hook(index_, std::move(fn));
  }

 private:
  friend class Tape<T>;
  Var(Tape<T>* t, std::uint32_t i, std::uint32_t g) : tape_(t), index_(i), generation_(g) {}
  void check() const {
    if (tape_ == nullptr) detail::throw_empty_var();
    if (generation_ != tape_->generation_ || index_ >= tape_->size_)
      detail::throw_stale_var(index_, generation_, tape_->generation_);
  }
  const detail::Node<T>& node() const { return check(), tape_->nodes_[index_]; }

  Tape<T>* tape_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint32_t generation_ = 0;
};

template <class T>
class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;  // Vars point at their tape
  Tape& operator=(const Tape&) = delete;

  /// A value that never receives a gradient (data, targets).
  Var<T> constant(const Tensor<T>& value) { return leaf_node(value, detail::NodeKind::constant); }
  /// The constant full(shape, value) (e.g. a recurrent layer's zero initial state), filled in the
  /// node's kept buffer: no tensor is built and copied.
  Var<T> full(const Shape& shape, T value);
  /// The constant one_hot(indices, classes) [indices.size(), classes] that also remembers its
  /// indices, so that linear() and matmul() consuming it gather rows or columns of the weight
  /// instead of multiplying by zeros (and their backward scatter-adds). The full matrix is
  /// still its value(), so every other op reads it as an ordinary constant.
  Var<T> one_hot(const Indices& indices, std::size_t classes);
  /// A sequence of them as one [T, B, classes] constant: steps[t] holds the B indices of step t
  /// (a batch of streams read time-major, as train::Batch::inputs). linear() over it is one
  /// gather for all T*B rows.
  Var<T> one_hot(const std::vector<Indices>& steps, std::size_t classes);
  /// A value that receives a gradient, read with Var::grad() after backward().
  Var<T> leaf(const Tensor<T>& value) { return leaf_node(value, detail::NodeKind::leaf); }
  /// Binds a parameter for this step; backward() adds into p.grad. p must outlive the step.
  /// Under NoGradGuard, p is only read: threads may bind one model's parameters at once, each
  /// on its own tape.
  Var<T> param(Parameter<T>& p);

  /// Appends a node for `op` applied to inputs[0, n) (all on this tape) and runs its forward.
  /// Ops are recorded through apply() (op.hpp), which calls this.
  template <class Op>
  Var<T> record(const Op& op, const Var<T>* const* inputs, std::size_t n);

  /// Reverse-mode pass from a single-element output, seeded with 1.
  void backward(const Var<T>& loss);
  /// Reverse-mode pass from any output, seeded with `seed` (same shape as the output).
  void backward(const Var<T>& output, const Tensor<T>& seed);

  /// Forgets every recorded op (invalidating all Vars) but keeps the nodes' buffers, so the
  /// next step of the same computation records without allocating.
  void clear() {
    ++generation_;
    size_ = 0;
    edges_.clear();
    hooks_.clear();
    released_ = false;
    scope_count_ = 1;
    current_scope_ = 0;
  }
  /// clear(), and also frees the kept buffers.
  void release_memory();

  /// Number of recorded nodes, and the number whose buffers are kept for reuse.
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return nodes_.size(); }
  /// The op at position i: its name, or "constant", "leaf" or "parameter".
  const char* op_name(std::size_t i) const;
  /// Walking the tape: the value at position i (an Error past size()), the positions of its
  /// inputs (none for a constant, leaf or parameter), and the indices of a Tape::one_hot
  /// constant (else nullptr).
  Var<T> at(std::size_t i) {
    check_position("Tape::at", i);
    return var(static_cast<std::uint32_t>(i));
  }
  std::vector<std::size_t> inputs_of(std::size_t i) const {
    check_position("Tape::inputs_of", i);
    const detail::Node<T>& n = nodes_[i];
    return std::vector<std::size_t>(edges_.begin() + n.in_begin,
                                    edges_.begin() + n.in_begin + n.in_count);
  }
  const Indices* one_hot_indices(std::size_t i) const {
    check_position("Tape::one_hot_indices", i);
    return nodes_[i].one_hot ? &nodes_[i].saved_indices : nullptr;
  }

  /// Labels the nodes recorded while it lives (Tape::scope). Scopes nest: a node recorded in
  /// scope "layer0" inside scope "t=3" is labelled "t=3/layer0".
  class Scope {
   public:
    ~Scope() {
      // A clear() inside the scope dropped its label: later nodes are then unlabelled.
      tape_.current_scope_ = tape_.generation_ == generation_ ? previous_ : 0;
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    friend class Tape;
    Scope(Tape& t, std::uint32_t previous)
        : tape_(t), previous_(previous), generation_(t.generation_) {}
    Tape& tape_;
    std::uint32_t previous_, generation_;
  };
  /// `auto s = tape.scope("encoder");` labels every node recorded until `s` goes out of scope,
  /// for listing(), to_dot() and the op check's report. Reusing a tape, it allocates nothing
  /// once the labels have been seen (their storage is kept across clear()).
  [[nodiscard]] Scope scope(std::string_view label) {
    detail::ScopeLabel& l = push_scope();
    l.name = nullptr;
    l.text.assign(label.data(), label.size());
    return Scope(*this, l.parent);
  }
  /// The label `name` followed by `number` ("t=", 3 reads "t=3"; "layer", 0 reads "layer0"),
  /// formatted only when read: what a layer gives at every step. `name` must outlive the tape
  /// (a string literal).
  [[nodiscard]] Scope scope(const char* name, std::size_t number) {
    detail::ScopeLabel& l = push_scope();
    l.name = name;
    l.number = number;
    return Scope(*this, l.parent);
  }
  /// The scope path node i was recorded in ("t=3/layer0"), or "" outside any scope.
  std::string scope_path(std::size_t i) const;

  /// Bytes node i holds until clear() for the backward pass: its output (a parameter's value
  /// lives in the Parameter: 0) and whatever its op saved (extra tensors, indices).
  std::size_t saved_bytes(std::size_t i) const;
  /// Bytes of saved_bytes() and node counts per scope path, in the order the paths first
  /// appear on the tape ("" for nodes outside any scope).
  struct ScopeTotal {
    std::string path;
    std::size_t nodes = 0, bytes = 0;
  };
  std::vector<ScopeTotal> saved_bytes_by_scope() const;
  /// The Wengert list, one line per node:
  ///   %12 = tanh(%11)  [32, 256]  saved 32.0 KiB  t=3/layer0
  /// then saved bytes per scope and in all. per_node = false prints only the totals.
  std::string listing(bool per_node = true) const;
  /// Graphviz DOT of the recording: a cluster per scope (nested as the scopes nest), each
  /// parameter drawn once outside the clusters with an edge to every op that reads it, and --
  /// after backward() -- every edge coloured and labelled by the norm of the gradient that
  /// flowed back along it into its source, so a gradient fading along an unrolled chain shows.
  std::string to_dot() const;

  /// When on, the first op whose forward output or backward gradient holds NaN/Inf raises an
  /// Error naming the op and its tape position.
  void set_anomaly_detection(bool on) { anomaly_ = on; }
  bool anomaly_detection() const { return anomaly_; }

 private:
  friend class Var<T>;
  friend class ForwardContext<T>;
  friend class BackwardContext<T>;

  std::uint32_t push_node(detail::NodeKind kind);
  Var<T> leaf_node(const Tensor<T>& value, detail::NodeKind kind);
  template <class S>
  void fill_one_hot(detail::Node<T>& n, const S& shape);
  void run_backward(const Var<T>& output, const Tensor<T>* seed);
  void add_hook(std::uint32_t i, std::function<void(Tensor<T>&)> fn);
  const Tensor<T>& grad_of(std::uint32_t i);
  Tensor<T>& grad_buffer(std::uint32_t i, bool& fresh);
  void check_position(const char* who, std::size_t i) const {
    if (i >= size_)
      throw Error(std::string(who) + ": position " + std::to_string(i) +
                  " is past the tape's size " + std::to_string(size_));
  }
  void check_forward(std::uint32_t i) const;   // anomaly mode
  void check_backward(std::uint32_t i) const;  // anomaly mode
  Var<T> var(std::uint32_t i) { return Var<T>(this, i, generation_); }
  const Tensor<T>& input_value(std::uint32_t node, std::size_t k) const {
    return nodes_[edges_[nodes_[node].in_begin + k]].val();
  }

  // nodes_[0, size_) are live; the rest are kept buffers. Recording more ops never moves
  // existing nodes: references from value() and grad() stay valid until clear().
  detail::NodeStore<detail::Node<T>> nodes_;
  std::size_t size_ = 0;
  std::vector<std::uint32_t> edges_;  // the inputs of every node, node.in_begin .. + in_count
  std::uint32_t generation_ = 1;      // bumped by clear(): tells stale Vars apart
  bool released_ = false;             // backward() ran since the last clear()
  // Var::on_grad's hooks, (node, fn) in the order added; backward() visits them by node.
  std::vector<std::pair<std::uint32_t, std::function<void(Tensor<T>&)>>> hooks_;
  bool anomaly_ = false;
  Tensor<T> scratch_;  // broadcast gradients before they are summed to an input's shape
  std::vector<Tensor<T>> workspaces_;  // ops' temporaries (ForwardContext::workspace)
  Tensor<T>& workspace(std::size_t k) {
    if (workspaces_.size() <= k) workspaces_.resize(k + 1);
    return workspaces_[k];
  }
  // Tape::scope's labels: scopes_[0] is the root (no label), scopes_[1, scope_count_) this
  // recording's; entries past scope_count_ are kept for reuse, strings and all.
  std::vector<detail::ScopeLabel> scopes_ = std::vector<detail::ScopeLabel>(1);
  std::uint32_t scope_count_ = 1;
  std::uint32_t current_scope_ = 0;
  detail::OpChecker* op_checker_ = nullptr;  // check_ops (gradcheck.hpp); only for double

  detail::ScopeLabel& push_scope() {
    if (scope_count_ == scopes_.size()) scopes_.emplace_back();
    detail::ScopeLabel& l = scopes_[scope_count_];
    l.parent = current_scope_;
    current_scope_ = scope_count_++;
    return l;
  }
  void append_label(std::uint32_t scope, std::string& out) const;

 public:
  /// check_ops (gradcheck.hpp) sets this: every op recorded from now on is checked.
  void set_op_checker(detail::OpChecker* checker) { op_checker_ = checker; }
};

// ---------------------------------------------------------------------------------------------
// Recording.

template <class T>
std::uint32_t Tape<T>::push_node(detail::NodeKind kind) {
  if (size_ == nodes_.size()) nodes_.grow();
  detail::Node<T>& n = nodes_[size_];
  n.kind = kind;
  n.op = nullptr;
  n.param = nullptr;
  n.in_begin = n.in_count = 0;
  n.grad_live = n.one_hot = n.indices_live = false;
  n.saved_live = 0;
  n.requires_grad = false;
  // A parameter is bound once per tape, not per step: it belongs to no scope.
  n.scope = kind == detail::NodeKind::parameter ? 0 : current_scope_;
  return static_cast<std::uint32_t>(size_++);
}

template <class T>
template <class Op>
Var<T> Tape<T>::record(const Op& op, const Var<T>* const* inputs, std::size_t n) {
  static_assert(std::is_trivially_copyable_v<Op>, "an op's state must be trivially copyable");
  static_assert(sizeof(Op) <= detail::kMaxOpState, "an op's state must fit in 64 bytes");
  static_assert(alignof(Op) <= alignof(std::max_align_t), "over-aligned op state");
  if (n == 0) throw Error(std::string(Op::name) + ": needs at least one input Var");
  bool requires_grad = false;
  for (std::size_t k = 0; k < n; ++k) {
    if (&inputs[k]->tape() != this)
      throw Error(std::string(Op::name) + ": input " + std::to_string(k) +
                  " lives on a different tape than input 0");
    requires_grad = requires_grad || inputs[k]->requires_grad();
  }
  const std::uint32_t idx = push_node(detail::NodeKind::op);
  detail::Node<T>& node = nodes_[idx];
  node.op = detail::op_info<Op, T>();
  std::memcpy(node.op_state, static_cast<const void*>(&op), sizeof(Op));
  node.in_begin = static_cast<std::uint32_t>(edges_.size());
  node.in_count = static_cast<std::uint32_t>(n);
  for (std::size_t k = 0; k < n; ++k) edges_.push_back(inputs[k]->index_);
  node.requires_grad = requires_grad && grad_enabled();
  ForwardContext<T> ctx(*this, idx);
  try {
    ops::run_forward(op, ctx);
  } catch (...) {  // a forward that throws leaves no node behind
    edges_.resize(node.in_begin);
    --size_;
    throw;
  }
  if (anomaly_) check_forward(idx);
  if constexpr (std::is_same_v<T, double>) {
    if (op_checker_ && node.requires_grad) {
      const detail::Rerecord again{
          &op, [](const void* o, Tape<double>& t, const Var<double>* const* in, std::size_t k) {
            return t.record(*static_cast<const Op*>(o), in, k);
          }};
      op_checker_->check(*this, idx, again);
    }
  }
  return var(idx);
}

}  // namespace tapegrad
