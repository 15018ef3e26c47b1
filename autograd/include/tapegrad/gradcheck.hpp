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
//
// check_ops(f) localises a failure: it checks every op of f on its own and names the first
// whose backward disagrees with its forward, with its tape position and scope.
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

/// An op whose backward disagrees with its own forward (check_ops).
struct OpCheckFailure {
  std::size_t position = 0;         // on the tape
  std::string op;                   // the op's name
  std::string scope;                // Tape::scope_path ("t=3/layer0"), "" outside any
  std::vector<std::size_t> inputs;  // the tape positions of its inputs
  std::vector<Shape> input_shapes;
  Shape output_shape;
  std::size_t input = 0;  // which input's gradient disagrees
  double analytic = 0, numeric = 0, abs_error = 0, rel_error = 0;  // its directional derivative
};

struct OpCheckResult {
  bool ok = true;
  std::size_t checked = 0;               // ops checked (those whose output needs a gradient)
  std::vector<OpCheckFailure> failures;  // in tape order: failures[0] is where to look first
  /// What was checked, and for each failure the op, where it was recorded, and the numbers.
  std::string report() const;
};

struct GradcheckResult {
  bool ok = true;
  std::vector<GradcheckInputReport> inputs;
  /// When the check failed: check_ops over the same function, naming the ops to blame.
  OpCheckResult ops;
  /// One line per input: worst element, analytic, numeric, absolute and relative error; after a
  /// failure, the ops whose backward disagrees with their forward.
  std::string report() const;
};

/// f builds the computation on the tape it is given, binding each input with tape.param(p),
/// and returns its output. The inputs' values are perturbed and restored; their grads are
/// overwritten with the analytic gradient.
/// When it fails, the result also holds check_ops(f) (result.ops), which names the culprit.
GradcheckResult gradcheck(const std::function<Var<double>(Tape<double>&)>& f,
                          const std::vector<Parameter<double>*>& inputs,
                          const GradcheckOptions& options = {});

/// The localising check. gradcheck says *that* a gradient is wrong; this says *where*. While f
/// records, every op whose output needs a gradient is checked on its own, as it is recorded:
/// on a tape of its own, with copies of its inputs, its backward from a random output gradient
/// u gives <dL/dx_k, d> for a random direction d of each input x_k, which must agree with the
/// central difference (<u, op(x_k + eps d)> - <u, op(x_k - eps d)>) / (2 eps) of its forward
/// (options.directions directions per input, at least 1; eps, atol, rtol as for gradcheck).
/// The first failure is the first op on the tape whose backward is not its forward's
/// derivative. Any f that gradcheck takes: the ops run inside it, so whatever their state
/// points at is alive.
OpCheckResult check_ops(const std::function<Var<double>(Tape<double>&)>& f,
                        const GradcheckOptions& options = {});

}  // namespace tapegrad
