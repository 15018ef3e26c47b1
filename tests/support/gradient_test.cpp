#include "support/gradient_test.hpp"

#include <cstring>

namespace testsupport {

namespace {
std::set<std::string>& declared() {
  static std::set<std::string> names;
  return names;
}
}  // namespace

bool declare_gradient_test(const char* op) {
  declared().insert(op);
  return true;
}

std::set<std::string> declared_gradient_tests() { return declared(); }

const std::set<std::string>& test_defined_ops() {
  static const std::set<std::string> ops = {"softplus", "wrong_square_for_gradcheck_test",
                                            "tanh_with_wrong_backward_for_check_ops_test",
                                            "mul_with_wrong_second_gradient_for_check_ops_test"};
  return ops;
}

tapegrad::Tensor<double> random_tensor(const tapegrad::Shape& shape, std::mt19937_64& rng,
                                       double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  tapegrad::Tensor<double> t = tapegrad::Tensor<double>::from_shape(shape);
  for (double& v : t) v = u(rng);
  return t;
}

void check_gradients(const char* op,
                     const std::function<tapegrad::Var<double>(tapegrad::Tape<double>&)>& f,
                     const std::vector<tapegrad::Parameter<double>*>& inputs,
                     const tapegrad::GradcheckOptions& options) {
  {
    tapegrad::Tape<double> tape;
    f(tape);
    bool found = false;
    for (std::size_t i = 0; i < tape.size() && !found; ++i)
      found = std::strcmp(tape.op_name(i), op) == 0;
    BOOST_TEST(found,
               "the function given to check_gradients(\"" << op << "\") never records " << op);
  }
  const tapegrad::GradcheckResult r = tapegrad::gradcheck(f, inputs, options);
  BOOST_TEST(r.ok, "gradcheck of " << op << " failed:\n" << r.report());
}

}  // namespace testsupport
