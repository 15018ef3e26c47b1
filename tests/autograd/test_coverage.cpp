// Every op the program knows (the library's and the ones tests define) must have a declared
// gradient test: a new op without one fails here.
#include "support/gradient_test.hpp"

BOOST_AUTO_TEST_SUITE(coverage)

BOOST_AUTO_TEST_CASE(every_op_has_a_gradient_test) {
  const std::vector<std::string> ops = tapegrad::registered_ops();
  BOOST_TEST(ops.size() >= 30u, "only " << ops.size() << " ops registered");
  const std::set<std::string> tested = testsupport::declared_gradient_tests();
  for (const std::string& op : ops)
    BOOST_TEST(tested.count(op) == 1u, "op '" << op << "' has no TAPEGRAD_GRADIENT_TEST");
}

BOOST_AUTO_TEST_SUITE_END()
