// What the tape says when something is wrong: stale handles, and anomaly mode's NaN/Inf checks
// after each forward and backward (Tape::set_anomaly_detection).
#include <cmath>

#include "tapegrad/op.hpp"

namespace tapegrad {

namespace detail {

void throw_empty_var() {
  throw Error("Var: this Var is empty (default-constructed); it refers to no tape");
}

void throw_stale_var(std::size_t index, std::uint32_t var_gen, std::uint32_t tape_gen) {
  throw Error("Var: stale handle to tape position " + std::to_string(index) +
              ": the tape was cleared after this Var was recorded (recorded in generation " +
              std::to_string(var_gen) + ", tape is now in generation " + std::to_string(tape_gen) +
              ")");
}

namespace {
template <class T>
bool all_finite(const Tensor<T>& t) {
  for (const T& v : t)
    if (!std::isfinite(v)) return false;
  return true;
}
}  // namespace

}  // namespace detail

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
    const std::uint32_t input = edges_[n.in_begin + k];
    const detail::Node<T>& in = nodes_[input];
    if (!in.requires_grad) continue;
    if (!detail::all_finite(in.param ? in.param->grad : in.grad))
      throw Error(std::string("anomaly: the backward of ") + op_name(i) + " at tape position " +
                  std::to_string(i) + " produced NaN or Inf in the gradient of its input " +
                  std::to_string(k) + " (" + op_name(input) + " at tape position " +
                  std::to_string(input) + ")");
  }
}

#define TAPEGRAD_TAPE_MESSAGES(T)                            \
  template const char* Tape<T>::op_name(std::size_t) const;  \
  template void Tape<T>::check_forward(std::uint32_t) const; \
  template void Tape<T>::check_backward(std::uint32_t) const;
TAPEGRAD_TAPE_MESSAGES(float)
TAPEGRAD_TAPE_MESSAGES(double)
#undef TAPEGRAD_TAPE_MESSAGES

}  // namespace tapegrad
