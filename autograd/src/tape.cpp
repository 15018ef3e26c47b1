// The non-template half of the tape: backward's reverse walk, clearing, anomaly checks, the op
// registry and the broadcast-gradient reduction. Instantiated for float and double.
#include "tapegrad/tape.hpp"

#include <algorithm>
#include <mutex>
#include <set>

namespace tapegrad {

namespace {
thread_local int no_grad_depth = 0;

std::set<std::string>& op_registry() {
  static std::set<std::string> names;
  return names;
}
std::mutex& op_registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

NoGradGuard::NoGradGuard() { ++no_grad_depth; }
NoGradGuard::~NoGradGuard() { --no_grad_depth; }
bool grad_enabled() { return no_grad_depth == 0; }

// Each op file defines one of these anchors. Calling them from registered_ops() makes the linker
// keep every op file of the static library in any program that asks for the registry, so all
// built-in ops have registered themselves (at start-up) before the list is read.
namespace detail {
void link_ops_elementwise();
void link_ops_linalg();
void link_ops_shape();
void link_ops_reduce();
void link_ops_loss();
}  // namespace detail

std::vector<std::string> registered_ops() {
  detail::link_ops_elementwise();
  detail::link_ops_linalg();
  detail::link_ops_shape();
  detail::link_ops_reduce();
  detail::link_ops_loss();
  std::lock_guard<std::mutex> lock(op_registry_mutex());
  return {op_registry().begin(), op_registry().end()};
}

namespace detail {

bool register_op(const char* name) {
  std::lock_guard<std::mutex> lock(op_registry_mutex());
  op_registry().insert(name);
  return true;
}

void throw_empty_var() {
  throw Error("Var: this Var is empty (default-constructed); it refers to no tape");
}

void throw_stale_var(std::size_t index, std::uint32_t var_gen, std::uint32_t tape_gen) {
  throw Error("Var: stale handle to tape position " + std::to_string(index) +
              ": the tape was cleared after this Var was recorded (recorded in generation " +
              std::to_string(var_gen) + ", tape is now in generation " + std::to_string(tape_gen) +
              ")");
}

// g has the broadcast shape; dst has the input's shape. Sum g over the axes dst was broadcast
// along. Row-major odometer over g; a broadcast axis of dst has stride 0.
template <class T>
void sum_to(const Tensor<T>& g, Tensor<T>& dst, bool overwrite) {
  const std::size_t gd = g.dimension(), dd = dst.dimension();
  bool ok = dd <= gd;
  for (std::size_t k = 0; ok && k < dd; ++k) {
    const std::size_t a = dst.shape()[k], b = g.shape()[gd - dd + k];
    ok = a == b || a == 1;
  }
  if (!ok)
    throw Error("gradient of shape " + shape_str(g.shape()) +
                " cannot be summed to an input of shape " + shape_str(dst.shape()));
  if (overwrite) dst.fill(T(0));
  const T* src = g.data();
  T* out = dst.data();
  const std::size_t n = g.size();
  if (n == 0) return;
  // Fast path: dst is the trailing block of g (a bias row broadcast over leading axes).
  std::size_t inner = 1, k = dd;
  while (k > 0 && dst.shape()[k - 1] == g.shape()[gd - dd + k - 1]) inner *= dst.shape()[--k];
  bool leading_all_broadcast = true;
  for (std::size_t j = 0; j < k; ++j) leading_all_broadcast &= dst.shape()[j] == 1;
  if (leading_all_broadcast) {
    for (std::size_t base = 0; base < n; base += inner)
      for (std::size_t j = 0; j < inner; ++j) out[j] += src[base + j];
    return;
  }
  // General path.
  std::vector<std::size_t> shape(g.shape().begin(), g.shape().end()), stride(gd, 0), idx(gd, 0);
  std::size_t s = 1;
  for (std::size_t j = dd; j-- > 0;) {
    if (dst.shape()[j] != 1) stride[gd - dd + j] = s;
    s *= dst.shape()[j];
  }
  std::size_t off = 0;
  for (std::size_t i = 0; i < n; ++i) {
    out[off] += src[i];
    for (std::size_t a = gd; a-- > 0;) {
      off += stride[a];
      if (++idx[a] < shape[a]) break;
      off -= stride[a] * shape[a];
      idx[a] = 0;
    }
  }
}

template void sum_to<float>(const Tensor<float>&, Tensor<float>&, bool);
template void sum_to<double>(const Tensor<double>&, Tensor<double>&, bool);

}  // namespace detail

template <class T>
void Tape<T>::backward(const Var<T>& loss) {
  const Tensor<T>& v = loss.value();
  if (v.size() != 1)
    throw Error("backward: the output has shape " + shape_str(v.shape()) +
                "; backward() without a seed needs a single-element output (pass a seed "
                "gradient of the output's shape for anything else)");
  run_backward(loss, nullptr);
}

template <class T>
void Tape<T>::backward(const Var<T>& output, const Tensor<T>& seed) {
  run_backward(output, &seed);
}

// seed == nullptr: a single-element output seeded with 1 (no seed tensor is built).
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

template <class T>
void Tape<T>::clear() {
  ++generation_;
  size_ = 0;
  edges_.clear();
  released_ = false;
}

template <class T>
void Tape<T>::release_memory() {
  clear();
  nodes_.release();
  std::vector<std::uint32_t>().swap(edges_);
  scratch_ = Tensor<T>();
}

template <class T>
const char* Tape<T>::op_name(std::size_t i) const {
  if (i >= size_)
    throw Error("Tape::op_name: position " + std::to_string(i) + " is past the tape's size " +
                std::to_string(size_));
  const detail::Node<T>& n = nodes_[i];
  switch (n.kind) {
    case detail::NodeKind::op:
      return n.op->name;
    case detail::NodeKind::constant:
      return "constant";
    case detail::NodeKind::leaf:
      return "leaf";
    case detail::NodeKind::parameter:
      return "parameter";
  }
  return "?";
}

template <class T>
void Tape<T>::check_forward(std::uint32_t i) const {
  if (detail::all_finite(nodes_[i].val())) return;
  throw Error(std::string("anomaly: the forward of ") + op_name(i) + " at tape position " +
              std::to_string(i) + " produced NaN or Inf (output shape " +
              shape_str(nodes_[i].val().shape()) + ")");
}

template <class T>
void Tape<T>::check_backward(std::uint32_t i) const {
  const detail::Node<T>& n = nodes_[i];
  for (std::uint32_t k = 0; k < n.in_count; ++k) {
    const detail::Node<T>& in = nodes_[edges_[n.in_begin + k]];
    if (!in.requires_grad) continue;
    const Tensor<T>& g = in.param ? in.param->grad : in.grad;
    if (!detail::all_finite(g))
      throw Error(std::string("anomaly: the backward of ") + op_name(i) + " at tape position " +
                  std::to_string(i) + " produced NaN or Inf in the gradient of its input " +
                  std::to_string(k) + " (" + op_name(edges_[n.in_begin + k]) +
                  " at tape position " + std::to_string(edges_[n.in_begin + k]) + ")");
  }
}

template class Tape<float>;
template class Tape<double>;

}  // namespace tapegrad
