#pragma once
// Writing an op. An op is a trivially copyable struct (its fields are the op's attributes) with
// its math as data, a forward that fills the output and a backward that adds into the inputs'
// gradients; a public function checks the inputs and records it with apply():
//
//   struct Softplus {
//     static constexpr const char* name = "softplus";
//     static constexpr OpMath math{"y = log(1 + exp(x))", {{"x", "gy * sigmoid(x)"}}};
//     template <class T> void forward(ForwardContext<T>& c) const {
//       xt::noalias(c.output()) = xt::log1p(xt::exp(c.input(0)));
//     }
//     template <class T> void backward(BackwardContext<T>& c) const {
//       c.accumulate_grad(0, c.grad_output() / (T(1) + xt::exp(-c.input(0))));
//     }
//   };
//   TAPEGRAD_REGISTER_OP(Softplus);  // listed by registered_ops() and docs/derivatives.md
//   template <class T> Var<T> softplus(const Var<T>& x) { return apply(Softplus{}, x); }
//
// The built-in ops in ops/*.hpp are written exactly this way.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xnoalias.hpp>

#include "tapegrad/broadcast.hpp"
#include "tapegrad/tape.hpp"

namespace tapegrad {

/// One input's vector-Jacobian product, as a formula over the op's inputs, its output y and
/// the output's gradient gy: what backward() adds into that input's gradient.
struct Derivative {
  const char* input = nullptr;
  const char* vjp = nullptr;
};
/// An op's math: the output as a formula of the inputs, and each input's VJP.
struct OpMath {
  static constexpr std::size_t kMaxInputs = 6;
  const char* output = nullptr;
  Derivative inputs[kMaxInputs] = {};
};

/// What an op's forward sees: its inputs and the output buffer to fill.
template <class T>
class ForwardContext {
 public:
  std::size_t num_inputs() const { return node().in_count; }
  const Tensor<T>& input(std::size_t i) const { return tape_.input_value(index_, i); }
  /// The output buffer. It keeps its memory across steps; write it with xt::noalias(out) = ...
  /// or resize() and fill it, so that a reused tape does not allocate.
  Tensor<T>& output() { return tape_.nodes_[index_].value; }
  /// Extra tensors backward needs (e.g. softmax probabilities); kept across steps like output().
  Tensor<T>& save(std::size_t k) {
    detail::Node<T>& n = tape_.nodes_[index_];
    if (n.saved.size() <= k) n.saved.resize(k + 1);
    if (n.saved_live <= k) n.saved_live = static_cast<std::uint8_t>(k + 1);
    return n.saved[k];
  }
  Indices& save_indices() {
    detail::Node<T>& n = tape_.nodes_[index_];
    n.indices_live = true;
    return n.saved_indices;
  }
  /// The indices of input i when it is a Tape::one_hot constant, else nullptr.
  const Indices* one_hot_input(std::size_t i) const {
    const detail::Node<T>& in = tape_.nodes_[tape_.edges_[node().in_begin + i]];
    return in.one_hot ? &in.saved_indices : nullptr;
  }
  /// Scratch buffer k of the tape, for temporaries that live only during this call (a
  /// transposed weight, say). Shared by every op's forward and backward: its contents are
  /// undefined on entry and gone after the call. Take n elements of it with
  /// detail::at_least(c.workspace(k), n), which only grows it: kept across clear(), it then
  /// stops allocating once the largest user has run.
  Tensor<T>& workspace(std::size_t k) { return tape_.workspace(k); }
  /// False under NoGradGuard or when no input needs a gradient: saving can then be skipped.
  bool requires_grad() const { return node().requires_grad; }

 private:
  friend class Tape<T>;
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
  const Tensor<T>& input(std::size_t i) const { return tape_.input_value(index_, i); }
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
      if (!detail::same_shape(expr.shape(), g.shape())) return detail::sum_to(expr, g, fresh);
    }
    if (detail::same_shape(expr.shape(), g.shape())) {
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
  /// Scratch buffer k of the tape (see ForwardContext::workspace): undefined on entry, gone
  /// after the call.
  Tensor<T>& workspace(std::size_t k) { return tape_.workspace(k); }
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
// The registry: every op type a program knows, with its math (registered_ops(), op_catalog()).

/// An op type as the registry knows it. math is null for an op that declares none.
struct OpEntry {
  std::string name;
  const OpMath* math = nullptr;
};
/// Every op type registered in this program, sorted by name. All built-in ops are always there
/// (registry.cpp includes ops.hpp); a user's op appears once it is recorded or registered with
/// TAPEGRAD_REGISTER_OP.
std::vector<OpEntry> op_catalog();
/// The names of op_catalog(). The test suite uses it to prove each op has a gradient test.
std::vector<std::string> registered_ops();
/// docs/derivatives.md: each op of `ops` that declares its math, with its output and each
/// input's vector-Jacobian product.
std::string derivatives_markdown(const std::vector<OpEntry>& ops);

namespace detail {

bool register_op(const char* name, const OpMath* math);

template <class Op, class = void>
struct math_of {
  static constexpr const OpMath* get() { return nullptr; }
};
template <class Op>
struct math_of<Op, std::void_t<decltype(Op::math)>> {
  static constexpr const OpMath* get() { return &Op::math; }
};
template <class Op>
bool register_op() {
  return register_op(Op::name, math_of<Op>::get());
}

template <class Op, class T>
struct OpInfoFor {
  static inline const OpInfo<T> info{Op::name, &ops::run_backward<Op, T>};
  static inline const bool registered = register_op<Op>();
};
template <class Op, class T>
const OpInfo<T>* op_info() {
  (void)OpInfoFor<Op, T>::registered;
  return &OpInfoFor<Op, T>::info;
}

}  // namespace detail

namespace ops {
// Every op's forward and backward are reached through these two (not inline) functions. For a
// built-in op TAPEGRAD_BUILTIN_OP declares them extern, so a program that calls the op compiles
// neither them nor -- since GCC would otherwise instantiate an op's in-class (inline) forward
// and backward just to consider inlining them -- the op's bodies. They live in namespace ops
// because an explicit instantiation must be written in the template's own namespace.
template <class Op, class T>
void run_forward(const Op& op, ForwardContext<T>& c) {
  op.forward(c);
}
template <class Op, class T>
void run_backward(const void* state, BackwardContext<T>& c) {
  Op op;
  std::memcpy(static_cast<void*>(&op), state, sizeof(Op));
  op.backward(c);
}
}  // namespace ops

/// Registers an op type at start-up of every program that includes the line.
#define TAPEGRAD_REGISTER_OP(Op) \
  inline const bool tapegrad_registered_##Op = ::tapegrad::detail::register_op<Op>()

/// The library's own ops (ops/*.hpp, written inside namespace tapegrad::ops): registered like
/// any op, and their forward and backward compiled once for float and double in the library --
/// src/ops_<family>.cpp defines TAPEGRAD_COMPILING_BUILTIN_OPS and includes its header --
/// instead of in every program.
#ifdef TAPEGRAD_COMPILING_BUILTIN_OPS
#define TAPEGRAD_BUILTIN_OP_INSTANCE template
#else
#define TAPEGRAD_BUILTIN_OP_INSTANCE extern template
#endif
#define TAPEGRAD_BUILTIN_OP(Op)                                                                    \
  TAPEGRAD_REGISTER_OP(Op);                                                                        \
  TAPEGRAD_BUILTIN_OP_INSTANCE void run_forward<Op, float>(const Op&, ForwardContext<float>&);     \
  TAPEGRAD_BUILTIN_OP_INSTANCE void run_forward<Op, double>(const Op&, ForwardContext<double>&);   \
  TAPEGRAD_BUILTIN_OP_INSTANCE void run_backward<Op, float>(const void*, BackwardContext<float>&); \
  TAPEGRAD_BUILTIN_OP_INSTANCE void run_backward<Op, double>(const void*, BackwardContext<double>&)

/// Records `op` applied to the given Vars (all on one tape).
template <class Op, class T, class... More>
Var<T> apply(const Op& op, const Var<T>& first, const More&... more) {
  static_assert((std::is_same_v<More, Var<T>> && ...), "apply: every input must be a Var<T>");
  const Var<T>* inputs[] = {&first, &more...};
  return first.tape().record(op, inputs, 1 + sizeof...(More));
}

/// Records `op` over a list of inputs (concat, stack). Not named apply: std::apply would be
/// found by argument-dependent lookup on the std::vector.
template <class Op, class T>
Var<T> apply_list(const Op& op, const std::vector<Var<T>>& inputs) {
  if (inputs.empty()) throw Error(std::string(Op::name) + ": needs at least one input Var");
  std::vector<const Var<T>*> ptrs;
  ptrs.reserve(inputs.size());
  for (const auto& v : inputs) ptrs.push_back(&v);
  return inputs[0].tape().record(op, ptrs.data(), ptrs.size());
}

}  // namespace tapegrad
