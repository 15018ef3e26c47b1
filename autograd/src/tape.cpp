// The reverse walk, and the nodes that are not ops (constants, leaves, parameters).
// Instantiated for float and double. Anomaly checks and messages are in anomaly.cpp.
#include "tapegrad/tape.hpp"

#include "tapegrad/op.hpp"

namespace tapegrad {

namespace {
thread_local int no_grad_depth = 0;
}  // namespace

NoGradGuard::NoGradGuard() { ++no_grad_depth; }
NoGradGuard::~NoGradGuard() { --no_grad_depth; }
bool grad_enabled() { return no_grad_depth == 0; }

template <class T>
void Tape<T>::backward(const Var<T>& loss) {
  if (loss.size() != 1)
    throw Error("backward: the output has shape " + shape_str(loss.shape()) +
                "; backward() without a seed needs a single-element output (pass a seed "
                "gradient of the output's shape for anything else)");
  run_backward(loss, nullptr);
}

template <class T>
void Tape<T>::backward(const Var<T>& output, const Tensor<T>& seed) {
  run_backward(output, &seed);
}

// The reverse walk: seed the output's gradient, then visit every op node from the output back
// to the start of the tape, each adding its inputs' gradients (vector-Jacobian products) from
// its own. Nodes record in topological order, so a node's gradient is complete when it is
// reached. seed == nullptr: a single-element output seeded with 1 (no seed tensor is built).
template <class T>
void Tape<T>::run_backward(const Var<T>& output, const Tensor<T>* seed) {
  if (&output.tape() != this) throw Error("backward: the output Var belongs to another tape");
  if (released_)
    throw Error(
        "backward: this tape was already walked by backward() since its last clear(); "
        "record the computation again (after clear()) to take another gradient");
  const std::uint32_t top = output.index_;
  detail::Node<T>& out = nodes_[top];
  if (!out.requires_grad)
    throw Error(std::string("backward: the output (") + op_name(top) + " at tape position " +
                std::to_string(top) +
                ") does not require a gradient: it depends on no leaf or parameter, or was "
                "computed under NoGradGuard");
  if (seed && seed->shape() != out.val().shape())
    throw Error("backward: seed gradient has shape " + shape_str(seed->shape()) +
                ", the output has shape " + shape_str(out.val().shape()));
  for (std::size_t i = 0; i <= top; ++i) nodes_[i].grad_live = false;
  released_ = true;
  bool fresh = false;
  Tensor<T>& g = grad_buffer(top, fresh);
  if (!seed)
    *g.data() = fresh ? T(1) : *g.data() + T(1);
  else if (fresh)
    xt::noalias(g) = *seed;
  else
    xt::noalias(g) += *seed;
  for (std::uint32_t i = top + 1; i-- > 0;) {
    detail::Node<T>& n = nodes_[i];
    if (n.kind != detail::NodeKind::op || !n.requires_grad || !n.grad_live) continue;
    BackwardContext<T> ctx(*this, i);
    n.op->backward(n.op_state, ctx);
    if (anomaly_) check_backward(i);
  }
}

// Input i's gradient buffer. A parameter's accumulates across passes; any other node's is
// `fresh` (holding last pass's values, to be overwritten) until its first writer of this pass.
template <class T>
Tensor<T>& Tape<T>::grad_buffer(std::uint32_t i, bool& fresh) {
  detail::Node<T>& n = nodes_[i];
  if (n.param) {
    fresh = false;
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
void Tape<T>::release_memory() {
  clear();
  nodes_.release();
  std::vector<std::uint32_t>().swap(edges_);
  scratch_ = Tensor<T>();
}

template class Tape<float>;
template class Tape<double>;

}  // namespace tapegrad
