// The reverse walk and the gradient buffers it fills. Instantiated for float and double. The
// nodes that are not ops (constants, leaves, parameters) are made in leaves.cpp; anomaly checks
// and messages are in anomaly.cpp.
#include "tapegrad/tape.hpp"

#include <algorithm>

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
  if (seed && !detail::same_shape(seed->shape(), out.val().shape()))
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
  // Hooks by node, last node first (the walk's order), the order added kept for one node.
  std::stable_sort(hooks_.begin(), hooks_.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::size_t hook = 0;
  while (hook < hooks_.size() && hooks_[hook].first > top) ++hook;  // after the output: unreached
  for (std::uint32_t i = top + 1; i-- > 0;) {
    detail::Node<T>& n = nodes_[i];
    // A node's gradient is complete here (its consumers come later on the tape): its hooks see
    // it, and may change it, before its op passes it on.
    for (; hook < hooks_.size() && hooks_[hook].first == i; ++hook)
      if (n.grad_live) hooks_[hook].second(n.param ? n.param->grad : n.grad);
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
    n.grad_live = true;  // received a gradient this pass (its hooks run)
    return n.param->grad;
  }
  fresh = !n.grad_live;
  if (fresh) {
    if (!detail::same_shape(n.grad.shape(), n.value.shape())) n.grad.resize(n.value.shape());
    n.grad_live = true;
  }
  return n.grad;
}

template <class T>
void Tape<T>::add_hook(std::uint32_t i, std::function<void(Tensor<T>&)> fn) {
  if (!nodes_[i].requires_grad)
    throw Error(std::string("on_grad: the value at tape position ") + std::to_string(i) + " (" +
                op_name(i) +
                ") requires no gradient (a constant, or recorded under NoGradGuard): no "
                "gradient will reach it");
  if (!fn) throw Error("on_grad: the hook is empty");
  hooks_.emplace_back(i, std::move(fn));
}

template <class T>
const Tensor<T>& Tape<T>::grad_of(std::uint32_t i) {
  detail::Node<T>& n = nodes_[i];
  if (n.param) return n.param->grad;
  if (!n.grad_live) {
    if (!detail::same_shape(n.grad.shape(), n.value.shape())) n.grad.resize(n.value.shape());
    n.grad.fill(T(0));
  }
  return n.grad;
}

template <class T>
void Tape<T>::release_memory() {
  clear();
  nodes_.release();
  std::vector<std::uint32_t>().swap(edges_);
  scratch_ = Tensor<T>();
  std::vector<Tensor<T>>().swap(workspaces_);
  std::vector<detail::ScopeLabel>(1).swap(scopes_);
}

template class Tape<float>;
template class Tape<double>;

}  // namespace tapegrad
