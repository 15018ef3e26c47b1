#pragma once
// gradcheck: compares the tape's gradients with central differences, in double precision.
//
//   Parameter<double> x(random_tensor), w(random_tensor);
//   GradcheckResult r = gradcheck([&](Tape<double>& t) {
//     return tanh(matmul(t.param(x), t.param(w)));
//   }, {&x, &w});
//   if (!r.ok) std::cerr << r.report();
//
// A non-scalar output y is reduced to L = sum(y * r) with a fixed random r, so one backward
// pass yields dL/dinput, which is then compared element by element (or along random directions,
// the dot-product test, for large inputs) with (L(x + eps) - L(x - eps)) / (2 eps).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/tape.hpp"

namespace tapegrad {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-7;  // an element passes if |analytic - numeric| <= atol + rtol * max(|a|, |n|)
  double rtol = 1e-5;
  /// 0: check every element of every input. k > 0: instead check k random unit directions per
  /// input: <grad, d> against (L(x + eps d) - L(x - eps d)) / (2 eps).
  std::size_t directions = 0;
  std::uint64_t seed = 20261125;  // for the output projection and the directions
};

struct GradcheckInputReport {
  std::string name;                      // the Parameter's name, or "input k"
  Shape shape;                           // the input's shape
  std::size_t checked = 0;               // elements (or directions) compared
  std::size_t failures = 0;              // how many of them failed the tolerance
  std::vector<std::size_t> worst_index;  // multi-index of the worst element ({k}: direction k)
  double analytic = 0, numeric = 0, abs_error = 0, rel_error = 0;  // at the worst element
  bool ok = true;
};

struct GradcheckResult {
  bool ok = true;
  std::vector<GradcheckInputReport> inputs;
  /// One line per input: worst element, analytic, numeric, absolute and relative error.
  std::string report() const;
};

/// f builds the computation on the tape it is given, binding each input with tape.param(p),
/// and returns its output. The inputs' values are perturbed and restored; their grads are
/// overwritten with the analytic gradient.
GradcheckResult gradcheck(const std::function<Var<double>(Tape<double>&)>& f,
                          const std::vector<Parameter<double>*>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace tapegrad
