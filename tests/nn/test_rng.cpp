// nn::Rng's state: restoring it continues the very same sequence (uniforms and the kept half of
// a Box-Muller pair), and text that is not a state is refused without changing the generator.
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/nn/init.hpp>

using namespace tapegrad;

BOOST_AUTO_TEST_SUITE(rng)

BOOST_AUTO_TEST_CASE(a_restored_state_continues_the_same_draws) {
  nn::Rng rng(42);
  for (int i = 0; i < 7; ++i) rng.uniform(0, 1);
  rng.normal();  // keeps the second normal of the pair: part of the state
  const std::string saved = rng.state();
  std::vector<double> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(rng.normal());
  expected.push_back(rng.uniform(-1, 1));

  nn::Rng other(7);
  other.set_state(saved);
  std::vector<double> got;
  for (int i = 0; i < 5; ++i) got.push_back(other.normal());
  got.push_back(other.uniform(-1, 1));
  BOOST_TEST(got == expected, boost::test_tools::per_element());
  BOOST_TEST(other.state() == rng.state());
}

BOOST_AUTO_TEST_CASE(text_that_is_not_a_state_is_an_error_and_changes_nothing) {
  nn::Rng rng(3);
  const std::string before = rng.state();
  for (const std::string& bad : {std::string(""), std::string("1 2 3"), before + " extra",
                                 before.substr(0, before.rfind(' ')) + " zz"}) {
    BOOST_CHECK_THROW(rng.set_state(bad), Error);
    BOOST_TEST(rng.state() == before);
  }
  nn::Rng fresh(3);
  BOOST_TEST(rng.next() == fresh.next());
}

BOOST_AUTO_TEST_SUITE_END()
