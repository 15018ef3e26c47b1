#pragma once
// The tape: a Wengert list of the ops a computation ran, walked once in reverse by backward().
//
//   Tape<float> tape;
//   Var<float> w = tape.param(W);            // a Parameter: persists across steps
//   Var<float> y = tanh(matmul(x, w));       // each op appends one node to the tape
//   tape.backward(sum(y));                   // reverse walk; W.grad += dL/dW
//   tape.clear();                            // next step reuses every node's buffers
//
// Every op -- the library's and a user's -- is a small struct with a `name`, a `forward` and a
// `backward` side by side, recorded with apply(op, inputs...). See ops.hpp for the built-ins
// and README.md for writing your own.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xnoalias.hpp>

#include "tapegrad/error.hpp"
#include "tapegrad/tensor.hpp"

namespace tapegrad {

template <class T>
class Tape;
template <class T>
class Var;
template <class T>
class ForwardContext;
template <class T>
class BackwardContext;

/// A tensor that outlives tapes (a weight). Each backward() adds into `grad` until zero_grad().
template <class T>
struct Parameter {
  Tensor<T> value;
  Tensor<T> grad;
  std::string name;

  Parameter() = default;
  explicit Parameter(Tensor<T> v, std::string n = {})
      : value(std::move(v)), grad(Tensor<T>::from_shape(value.shape())), name(std::move(n)) {
    grad.fill(T(0));
  }
  void zero_grad() {
    if (grad.shape() != value.shape()) grad.resize(value.shape());
    grad.fill(T(0));
  }

  // Where Tape::param last bound this parameter. Binding it again on the same tape before the
  // next clear() returns that node, so a weight used at every time step is one node, not T.
  const void* bound_tape = nullptr;
  std::uint32_t bound_index = 0;
};

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

/// Names of every op type recorded anywhere in this program (the library's own are all there).
/// The test suite uses it to prove each op has a gradient test.
std::vector<std::string> registered_ops();

namespace detail {

bool register_op(const char* name);
[[noreturn]] void throw_stale_var(std::size_t index, std::uint32_t var_gen, std::uint32_t tape_gen);
[[noreturn]] void throw_empty_var();
template <class T>
bool all_finite(const Tensor<T>& t) {
  for (const T& v : t)
    if (!std::isfinite(v)) return false;
  return true;
}
// Adds g, summed over its broadcast axes, into dst (whose shape g broadcasts from).
// With overwrite, dst's old contents are ignored. Defined for float and double.
template <class T>
void sum_to(const Tensor<T>& g, Tensor<T>& dst, bool overwrite);

template <class T>
struct OpInfo {
  const char* name;
  void (*backward)(const void* op_state, BackwardContext<T>& c);
};

template <class Op, class T>
void backward_thunk(const void* state, BackwardContext<T>& c) {
  Op op;
  std::memcpy(static_cast<void*>(&op), state, sizeof(Op));
  op.backward(c);
}

template <class Op, class T>
struct OpInfoFor {
  static inline const OpInfo<T> info{Op::name, &backward_thunk<Op, T>};
  static inline const bool registered = register_op(Op::name);
};

constexpr std::size_t kMaxOpState = 64;

enum class NodeKind : std::uint8_t { op, constant, leaf, parameter };

template <class T>
struct Node {
  NodeKind kind = NodeKind::constant;
  bool requires_grad = false;
  bool grad_live = false;  // grad holds this backward pass's sum (else it is stale)
  bool one_hot = false;    // a constant made by Tape::one_hot: saved_indices holds its columns
  std::uint32_t in_begin = 0, in_count = 0;
  const OpInfo<T>* op = nullptr;
  Parameter<T>* param = nullptr;
  alignas(std::max_align_t) unsigned char op_state[kMaxOpState];
  Tensor<T> value;  // unused for parameters: their value lives in the Parameter
  Tensor<T> grad;
  std::vector<Tensor<T>> saved;  // what backward needs beyond inputs and output
  Indices saved_indices;

  const Tensor<T>& val() const { return param ? param->value : value; }
};

// The tape's nodes: chunks of 64 that never move once made (references from value() stay valid
// while more ops are recorded), indexed with a shift and a mask -- std::deque's indexing cost
// 6% of a small RNN step (callgrind).
template <class T>
class NodeStore {
 public:
  Node<T>& operator[](std::size_t i) { return chunks_[i >> kShift][i & (kChunk - 1)]; }
  const Node<T>& operator[](std::size_t i) const { return chunks_[i >> kShift][i & (kChunk - 1)]; }
  /// Nodes made so far (all kept for reuse).
  std::size_t size() const { return count_; }
  void grow() {
    if (count_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<Node<T>[]>(kChunk));
    ++count_;
  }
  void release() {
    chunks_.clear();
    chunks_.shrink_to_fit();
    count_ = 0;
  }

 private:
  static constexpr std::size_t kShift = 6, kChunk = std::size_t(1) << kShift;
  std::vector<std::unique_ptr<Node<T>[]>> chunks_;
  std::size_t count_ = 0;
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
  T item() const;
  bool requires_grad() const { return node().requires_grad; }
  /// Position on the tape (the order ops ran in).
  std::size_t index() const { return check(), index_; }
  const char* op_name() const { return tape().op_name(index_); }
  Tape<T>& tape() const {
    check();
    return *tape_;
  }
  /// backward() on this Var's tape, seeded with 1 (this Var must hold a single element).
  void backward() const { tape().backward(*this); }

 private:
  friend class Tape<T>;
  template <class Op, class U>
  friend Var<U> record(const Op& op, const Var<U>* const* inputs, std::size_t n);
  Var(Tape<T>* t, std::uint32_t i, std::uint32_t g) : tape_(t), index_(i), generation_(g) {}
  void check() const;
  const detail::Node<T>& node() const {
    check();
    return tape_->nodes_[index_];
  }

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
  /// A value that receives a gradient, read with Var::grad() after backward().
  Var<T> leaf(const Tensor<T>& value) { return leaf_node(value, detail::NodeKind::leaf); }
  /// Binds a parameter for this step; backward() adds into p.grad. p must outlive the step.
  Var<T> param(Parameter<T>& p);

  /// Reverse-mode pass from a single-element output, seeded with 1.
  void backward(const Var<T>& loss);
  /// Reverse-mode pass from any output, seeded with `seed` (same shape as the output).
  void backward(const Var<T>& output, const Tensor<T>& seed);

  /// Forgets every recorded op (invalidating all Vars) but keeps the nodes' buffers, so the
  /// next step of the same computation records without allocating.
  void clear();
  /// clear(), and also frees the kept buffers.
  void release_memory();

  /// Number of recorded nodes, and the number whose buffers are kept for reuse.
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return nodes_.size(); }
  /// The op at position i: its name, or "constant", "leaf" or "parameter".
  const char* op_name(std::size_t i) const;

  /// When on, the first op whose forward output or backward gradient holds NaN/Inf raises an
  /// Error naming the op and its tape position.
  void set_anomaly_detection(bool on) { anomaly_ = on; }
  bool anomaly_detection() const { return anomaly_; }

 private:
  friend class Var<T>;
  friend class ForwardContext<T>;
  friend class BackwardContext<T>;
  template <class Op, class U>
  friend Var<U> record(const Op& op, const Var<U>* const* inputs, std::size_t n);

  Var<T> leaf_node(const Tensor<T>& value, detail::NodeKind kind);
  void run_backward(const Var<T>& output, const Tensor<T>* seed);
  std::uint32_t push_node(detail::NodeKind kind);
  const Tensor<T>& grad_of(std::uint32_t i);
  Tensor<T>& grad_buffer(std::uint32_t i, bool& fresh);
  void check_forward(std::uint32_t i) const;
  void check_backward(std::uint32_t i) const;
  Var<T> var(std::uint32_t i) { return Var<T>(this, i, generation_); }

  // nodes_[0, size_) are live; the rest are kept buffers. Recording more ops never moves
  // existing nodes: references from value() and grad() stay valid until clear().
  detail::NodeStore<T> nodes_;
  std::size_t size_ = 0;
  std::vector<std::uint32_t> edges_;  // the inputs of every node, node.in_begin .. + in_count
  std::uint32_t generation_ = 1;      // bumped by clear(): tells stale Vars apart
  bool released_ = false;             // backward() ran since the last clear()
  bool anomaly_ = false;
  Tensor<T> scratch_;  // broadcast gradients before they are summed to an input's shape
};

/// What an op's forward sees: its inputs and the output buffer to fill.
template <class T>
class ForwardContext {
 public:
  std::size_t num_inputs() const { return node().in_count; }
  const Tensor<T>& input(std::size_t i) const {
    return tape_.nodes_[tape_.edges_[node().in_begin + i]].val();
  }
  /// The output buffer. It keeps its memory across steps; write it with xt::noalias(out) = ...
  /// or resize() and fill it, so that a reused tape does not allocate.
  Tensor<T>& output() { return tape_.nodes_[index_].value; }
  /// Extra tensors backward needs (e.g. softmax probabilities); kept across steps like output().
  Tensor<T>& save(std::size_t k) {
    auto& saved = tape_.nodes_[index_].saved;
    if (saved.size() <= k) saved.resize(k + 1);
    return saved[k];
  }
  Indices& save_indices() { return tape_.nodes_[index_].saved_indices; }
  /// The indices of input i when it is a Tape::one_hot constant, else nullptr.
  const Indices* one_hot_input(std::size_t i) const {
    const detail::Node<T>& in = tape_.nodes_[tape_.edges_[node().in_begin + i]];
    return in.one_hot ? &in.saved_indices : nullptr;
  }
  /// False under NoGradGuard or when no input needs a gradient: saving can then be skipped.
  bool requires_grad() const { return node().requires_grad; }

 private:
  template <class Op, class U>
  friend Var<U> record(const Op& op, const Var<U>* const* inputs, std::size_t n);
  ForwardContext(Tape<T>& t, std::uint32_t i) : tape_(t), index_(i) {}
  const detail::Node<T>& node() const { return tape_.nodes_[index_]; }
  Tape<T>& tape_;
  std::uint32_t index_;
};

/// What an op's backward sees: inputs, output, the output's gradient, and the input gradients
/// to add into.
template <class T>
class BackwardContext {
 public:
  std::size_t num_inputs() const { return node().in_count; }
  const Tensor<T>& input(std::size_t i) const { return tape_.nodes_[input_index(i)].val(); }
  const Tensor<T>& output() const { return node().value; }
  const Tensor<T>& grad_output() const { return node().grad; }
  const Tensor<T>& saved(std::size_t k) const { return node().saved[k]; }
  const Indices& saved_indices() const { return node().saved_indices; }
  bool needs_grad(std::size_t i) const { return tape_.nodes_[input_index(i)].requires_grad; }
  /// The indices of input i when it is a Tape::one_hot constant, else nullptr.
  const Indices* one_hot_input(std::size_t i) const {
    const detail::Node<T>& in = tape_.nodes_[input_index(i)];
    return in.one_hot ? &in.saved_indices : nullptr;
  }

  /// grad(input i) += expr. expr may have the broadcast shape of the op's output: it is summed
  /// back to the input's shape. Does nothing when input i needs no gradient.
  template <class E>
  void accumulate_grad(std::size_t i, const E& expr) {
    if (!needs_grad(i)) return;
    bool fresh = false;
    Tensor<T>& g = tape_.grad_buffer(input_index(i), fresh);
    if constexpr (std::is_same_v<E, Tensor<T>>) {  // no temporary needed for a plain tensor
      if (expr.shape() != g.shape()) return detail::sum_to(expr, g, fresh);
    }
    const auto& es = expr.shape();
    if (es.size() == g.dimension() && std::equal(es.begin(), es.end(), g.shape().begin())) {
      if (fresh)
        xt::noalias(g) = expr;
      else
        xt::noalias(g) += expr;
    } else {
      xt::noalias(tape_.scratch_) = expr;
      detail::sum_to(tape_.scratch_, g, fresh);
    }
  }

  /// Direct access to input i's gradient buffer, shaped like the input, for ops that write it
  /// themselves (matmul through BLAS, scatter-add). When `fresh` is true its contents are
  /// garbage and must be overwritten, not added to. Only call when needs_grad(i).
  Tensor<T>& grad_buffer(std::size_t i, bool& fresh) {
    return tape_.grad_buffer(input_index(i), fresh);
  }
  /// Same, but zeroed when fresh: for ops that only ever add.
  Tensor<T>& grad_buffer_zeroed(std::size_t i) {
    bool fresh = false;
    Tensor<T>& g = tape_.grad_buffer(input_index(i), fresh);
    if (fresh) g.fill(T(0));
    return g;
  }

 private:
  friend class Tape<T>;
  BackwardContext(Tape<T>& t, std::uint32_t i) : tape_(t), index_(i) {}
  const detail::Node<T>& node() const { return tape_.nodes_[index_]; }
  std::uint32_t input_index(std::size_t i) const { return tape_.edges_[node().in_begin + i]; }
  Tape<T>& tape_;
  std::uint32_t index_;
};

// ---------------------------------------------------------------------------------------------
// Recording an op. An op is a trivially copyable struct (its fields are the op's attributes):
//
//   struct Softplus {                                   // y = log(1 + e^x)
//     static constexpr const char* name = "softplus";
//     template <class T> void forward(ForwardContext<T>& c) const {
//       xt::noalias(c.output()) = xt::log1p(xt::exp(c.input(0)));
//     }
//     template <class T> void backward(BackwardContext<T>& c) const {   // dy/dx = sigmoid(x)
//       c.accumulate_grad(0, c.grad_output() / (T(1) + xt::exp(-c.input(0))));
//     }
//   };
//   Var<T> y = apply(Softplus{}, x);

template <class Op, class T>
Var<T> record(const Op& op, const Var<T>* const* inputs, std::size_t n) {
  static_assert(std::is_trivially_copyable_v<Op>, "an op's state must be trivially copyable");
  static_assert(sizeof(Op) <= detail::kMaxOpState, "an op's state must fit in 64 bytes");
  static_assert(alignof(Op) <= alignof(std::max_align_t), "over-aligned op state");
  (void)detail::OpInfoFor<Op, T>::registered;
  if (n == 0) throw Error(std::string(Op::name) + ": needs at least one input Var");
  Tape<T>& t = inputs[0]->tape();
  bool requires_grad = false;
  for (std::size_t k = 0; k < n; ++k) {
    if (&inputs[k]->tape() != &t)
      throw Error(std::string(Op::name) + ": input " + std::to_string(k) +
                  " lives on a different tape than input 0");
    requires_grad = requires_grad || inputs[k]->requires_grad();
  }
  const std::uint32_t idx = t.push_node(detail::NodeKind::op);
  detail::Node<T>& node = t.nodes_[idx];
  node.op = &detail::OpInfoFor<Op, T>::info;
  std::memcpy(node.op_state, static_cast<const void*>(&op), sizeof(Op));
  node.in_begin = static_cast<std::uint32_t>(t.edges_.size());
  node.in_count = static_cast<std::uint32_t>(n);
  for (std::size_t k = 0; k < n; ++k) t.edges_.push_back(inputs[k]->index_);
  node.requires_grad = requires_grad && grad_enabled();
  ForwardContext<T> ctx(t, idx);
  try {
    op.forward(ctx);
  } catch (...) {
    t.edges_.resize(node.in_begin);
    --t.size_;
    throw;
  }
  if (t.anomaly_) t.check_forward(idx);
  return t.var(idx);
}

/// Records `op` applied to the given Vars (all on one tape).
template <class Op, class T, class... More>
Var<T> apply(const Op& op, const Var<T>& first, const More&... more) {
  static_assert((std::is_same_v<More, Var<T>> && ...), "apply: every input must be a Var<T>");
  const Var<T>* inputs[] = {&first, &more...};
  return record(op, inputs, 1 + sizeof...(More));
}

/// Records `op` over a list of inputs (concat, stack). Not named apply: std::apply would be
/// found by argument-dependent lookup on the std::vector.
template <class Op, class T>
Var<T> apply_list(const Op& op, const std::vector<Var<T>>& inputs) {
  if (inputs.empty()) throw Error(std::string(Op::name) + ": needs at least one input Var");
  std::vector<const Var<T>*> ptrs;
  ptrs.reserve(inputs.size());
  for (const auto& v : inputs) ptrs.push_back(&v);
  return record(op, ptrs.data(), ptrs.size());
}

// ---------------------------------------------------------------------------------------------
// Implementation of the small inline members.

template <class T>
void Var<T>::check() const {
  if (tape_ == nullptr) detail::throw_empty_var();
  if (generation_ != tape_->generation_ || index_ >= tape_->size_)
    detail::throw_stale_var(index_, generation_, tape_->generation_);
}

template <class T>
T Var<T>::item() const {
  const Tensor<T>& v = value();
  if (v.size() != 1)
    throw Error("item: expected a one-element value, got shape " + shape_str(v.shape()));
  return *v.data();
}

template <class T>
std::uint32_t Tape<T>::push_node(detail::NodeKind kind) {
  if (size_ == nodes_.size()) nodes_.grow();
  detail::Node<T>& n = nodes_[size_];
  n.kind = kind;
  n.op = nullptr;
  n.param = nullptr;
  n.in_begin = n.in_count = 0;
  n.grad_live = false;
  n.one_hot = false;
  return static_cast<std::uint32_t>(size_++);
}

template <class T>
Var<T> Tape<T>::leaf_node(const Tensor<T>& value, detail::NodeKind kind) {
  const std::uint32_t idx = push_node(kind);
  detail::Node<T>& n = nodes_[idx];
  xt::noalias(n.value) = value;
  n.requires_grad = kind == detail::NodeKind::leaf && grad_enabled();
  if (anomaly_) check_forward(idx);
  return var(idx);
}

template <class T>
Var<T> Tape<T>::full(const Shape& shape, T value) {
  const std::uint32_t idx = push_node(detail::NodeKind::constant);
  detail::Node<T>& n = nodes_[idx];
  if (n.value.shape() != shape) n.value.resize(shape);
  n.value.fill(value);
  n.requires_grad = false;
  if (anomaly_) check_forward(idx);
  return var(idx);
}

template <class T>
Var<T> Tape<T>::one_hot(const Indices& indices, std::size_t classes) {
  for (std::size_t r = 0; r < indices.size(); ++r)
    if (indices[r] < 0 || static_cast<std::size_t>(indices[r]) >= classes)
      throw Error("Tape::one_hot: index " + std::to_string(indices[r]) + " at position " +
                  std::to_string(r) + " is out of range for " + std::to_string(classes) +
                  " classes");
  const std::uint32_t idx = push_node(detail::NodeKind::constant);
  detail::Node<T>& n = nodes_[idx];
  Shape shape(2);
  shape[0] = indices.size();
  shape[1] = classes;
  if (n.value.shape() != shape) n.value.resize(shape);
  n.value.fill(T(0));
  for (std::size_t r = 0; r < indices.size(); ++r)
    n.value.data()[r * classes + static_cast<std::size_t>(indices[r])] = T(1);
  n.saved_indices.assign(indices.begin(), indices.end());
  n.one_hot = true;
  n.requires_grad = false;
  return var(idx);
}

template <class T>
Var<T> Tape<T>::param(Parameter<T>& p) {
  if (p.grad.shape() != p.value.shape()) p.zero_grad();
  if (p.bound_tape == this && p.bound_index < size_) {
    // Still the node that binds p (not a copy of p, nor a node recorded after a clear())?
    const detail::Node<T>& n = nodes_[p.bound_index];
    if (n.kind == detail::NodeKind::parameter && n.param == &p && n.requires_grad == grad_enabled())
      return var(p.bound_index);
  }
  const std::uint32_t idx = push_node(detail::NodeKind::parameter);
  p.bound_tape = this;
  p.bound_index = idx;
  detail::Node<T>& n = nodes_[idx];
  n.param = &p;
  n.requires_grad = grad_enabled();
  if (anomaly_) check_forward(idx);
  return var(idx);
}

template <class T>
Tensor<T>& Tape<T>::grad_buffer(std::uint32_t i, bool& fresh) {
  detail::Node<T>& n = nodes_[i];
  if (n.param) {
    fresh = false;  // a parameter's grad accumulates across backward passes
    return n.param->grad;
  }
  fresh = !n.grad_live;
  if (fresh) {
    if (n.grad.shape() != n.value.shape()) n.grad.resize(n.value.shape());
    n.grad_live = true;
  }
  return n.grad;
}

template <class T>
const Tensor<T>& Tape<T>::grad_of(std::uint32_t i) {
  detail::Node<T>& n = nodes_[i];
  if (n.param) return n.param->grad;
  if (!n.grad_live) {
    if (n.grad.shape() != n.value.shape()) n.grad.resize(n.value.shape());
    n.grad.fill(T(0));
  }
  return n.grad;
}

}  // namespace tapegrad
