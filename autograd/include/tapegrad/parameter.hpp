#pragma once
// A weight: a tensor that outlives tapes, and the gradient every backward() adds into.
#include <cstdint>
#include <string>

#include "tapegrad/tensor.hpp"

namespace tapegrad {

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

}  // namespace tapegrad
