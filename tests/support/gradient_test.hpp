#pragma once
// Test support: random tensors, and gradient tests that the coverage suite can count.
//
//   TAPEGRAD_GRADIENT_TEST(tanh_gradient, "tanh") {
//     Parameter<double> x(random_tensor({3, 4}, rng));
//     check_gradients("tanh", [&](Tape<double>& t) { return tanh(t.param(x)); }, {&x});
//   }
//
// The macro declares (at start-up, before any test runs) that op "tanh" has a gradient test;
// check_gradients fails unless "tanh" really is on the tape it checks. The coverage suite then
// demands a declared gradient test for every op in tapegrad::registered_ops().
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/autograd.hpp>

namespace testsupport {

bool declare_gradient_test(const char* op);
/// Ops that test files define rather than the library (test_extension.cpp's example op, and the
/// deliberately wrong ones of test_gradient_check.cpp and test_op_check.cpp): no PyTorch
/// fixture, not in the docs.
const std::set<std::string>& test_defined_ops();
std::set<std::string> declared_gradient_tests();

/// Uniform values in [lo, hi), from the given generator.
tapegrad::Tensor<double> random_tensor(const tapegrad::Shape& shape, std::mt19937_64& rng,
                                       double lo = -1.0, double hi = 1.0);

/// gradcheck(f, inputs) must pass (its report is printed otherwise), and `op` must be among the
/// ops that f records.
void check_gradients(const char* op,
                     const std::function<tapegrad::Var<double>(tapegrad::Tape<double>&)>& f,
                     const std::vector<tapegrad::Parameter<double>*>& inputs,
                     const tapegrad::GradcheckOptions& options = {});

}  // namespace testsupport

#define TAPEGRAD_GRADIENT_TEST(case_name, op_name)                                        \
  static const bool case_name##_declared = ::testsupport::declare_gradient_test(op_name); \
  BOOST_AUTO_TEST_CASE(case_name)
