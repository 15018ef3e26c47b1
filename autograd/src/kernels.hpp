#pragma once
// What the op files share (private to the library): the op author's API and the explicit
// instantiation of each public op function for float and double.
#include "tapegrad/op.hpp"
#include "tapegrad/ops.hpp"

/// Explicit instantiation of an op function for both element types.
#define TAPEGRAD_INSTANTIATE(sig_float, sig_double) \
  template sig_float;                               \
  template sig_double;
