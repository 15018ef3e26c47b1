// The nodes that are not ops: constants (data), leaves (values that receive a gradient) and
// parameters (weights bound for one step, one node however often they are used).
#include "tapegrad/tape.hpp"

#include <algorithm>
#include <array>

#include <xtensor/xnoalias.hpp>

namespace tapegrad {

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
  if (!detail::same_shape(n.value.shape(), shape)) n.value.resize(shape);
  n.value.fill(value);
  if (anomaly_) check_forward(idx);
  return var(idx);
}

namespace {
void check_classes(const Indices& indices, std::size_t classes, const char* where,
                   std::size_t step) {
  for (std::size_t r = 0; r < indices.size(); ++r)
    if (indices[r] < 0 || static_cast<std::size_t>(indices[r]) >= classes)
      throw Error("Tape::one_hot: index " + std::to_string(indices[r]) + " at position " +
                  std::to_string(r) + where + (*where ? std::to_string(step) : std::string()) +
                  " is out of range for " + std::to_string(classes) + " classes");
}
}  // namespace

template <class T>
Var<T> Tape<T>::one_hot(const Indices& indices, std::size_t classes) {
  check_classes(indices, classes, "", 0);
  const std::uint32_t idx = push_node(detail::NodeKind::constant);
  detail::Node<T>& n = nodes_[idx];
  n.saved_indices.assign(indices.begin(), indices.end());
  fill_one_hot(n, std::array<std::size_t, 2>{indices.size(), classes});
  return var(idx);
}

template <class T>
Var<T> Tape<T>::one_hot(const std::vector<Indices>& steps, std::size_t classes) {
  detail::check_steps("Tape::one_hot", steps);
  for (std::size_t t = 0; t < steps.size(); ++t) check_classes(steps[t], classes, " of step ", t);
  const std::uint32_t idx = push_node(detail::NodeKind::constant);
  detail::Node<T>& n = nodes_[idx];
  n.saved_indices.clear();
  for (const Indices& s : steps) n.saved_indices.insert(n.saved_indices.end(), s.begin(), s.end());
  fill_one_hot(n, std::array<std::size_t, 3>{steps.size(), steps[0].size(), classes});
  return var(idx);
}

// The node's value: zeros of `shape` (the last axis the classes) with a 1 at each of its
// saved_indices, one per row.
template <class T>
template <class S>
void Tape<T>::fill_one_hot(detail::Node<T>& n, const S& shape) {
  if (!detail::same_shape(n.value.shape(), shape)) n.value.resize(shape);
  n.value.fill(T(0));
  const std::size_t classes = shape.back();
  for (std::size_t r = 0; r < n.saved_indices.size(); ++r)
    n.value.data()[r * classes + static_cast<std::size_t>(n.saved_indices[r])] = T(1);
  n.one_hot = n.indices_live = true;
}

template <class T>
Var<T> Tape<T>::param(Parameter<T>& p) {
  if (!grad_enabled()) {
    // Without gradients the parameter is only read -- neither its gradient nor the binding
    // cache is touched -- so that threads may run one model at once, each on its own tape (a
    // predictor session each). The price: a weight used at T steps is T nodes here, not one.
    const std::uint32_t idx = push_node(detail::NodeKind::parameter);
    nodes_[idx].param = &p;
    if (anomaly_) check_forward(idx);
    return var(idx);
  }
  if (!detail::same_shape(p.grad.shape(), p.value.shape())) p.zero_grad();
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

#define TAPEGRAD_TAPE_LEAVES(T)                                               \
  template Var<T> Tape<T>::leaf_node(const Tensor<T>&, detail::NodeKind);     \
  template Var<T> Tape<T>::full(const Shape&, T);                             \
  template Var<T> Tape<T>::one_hot(const Indices&, std::size_t);              \
  template Var<T> Tape<T>::one_hot(const std::vector<Indices>&, std::size_t); \
  template Var<T> Tape<T>::param(Parameter<T>&);
TAPEGRAD_TAPE_LEAVES(float)
TAPEGRAD_TAPE_LEAVES(double)
#undef TAPEGRAD_TAPE_LEAVES

}  // namespace tapegrad
