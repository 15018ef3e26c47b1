// A parameter keeps its shape: every way of assigning a tensor to `value` that could change it
// is refused on the spot with the parameter's name and both shapes, and leaves the value as it
// was; the ways that keep the shape (and element writes) work as on any tensor, and xtensor's
// functions take a parameter's value like any other expression.
#include <memory>
#include <string>

#include <boost/test/unit_test.hpp>
#include <tapegrad/autograd.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xview.hpp>

#include "support/allocation_count.hpp"
#include "support/error_of.hpp"

using namespace tapegrad;
using testsupport::error_of;

namespace {
const Tensor<double> kTwoByThree{{1, 2, 3}, {4, 5, 6}};
}

BOOST_AUTO_TEST_SUITE(parameter)

BOOST_AUTO_TEST_CASE(assigning_a_tensor_of_another_shape_is_refused_where_it_happens) {
  Parameter<double> w(kTwoByThree, "fc.weight");
  const std::string has = "parameter 'fc.weight' has shape [2, 3]; ";
  const std::string fixed = " (a parameter's shape is fixed; expected the same shape)";
  BOOST_TEST(error_of([&] {
               w.value = Tensor<double>{{1, 2}, {3, 4}};
             }) == has + "`value =` was given shape [2, 2]" + fixed);
  const Tensor<double> wide = xt::ones<double>({2, 4});
  BOOST_TEST(error_of([&] { w.value = wide; }) == has + "`value =` was given shape [2, 4]" + fixed);
  BOOST_TEST(error_of([&] {
               w.value = xt::zeros<double>({3, 2});
             }) == has + "`value =` was given shape [3, 2]" + fixed);
  BOOST_TEST(error_of([&] { w.value = 2.0 * wide + 1.0; }) ==
             has + "`value =` was given shape [2, 4]" + fixed);
  Parameter<double> other(Tensor<double>{1, 2, 3}, "other");
  BOOST_TEST(error_of([&] { w.value = other.value; }) ==
             has + "`value =` was given shape [3]" + fixed);
  BOOST_TEST(error_of([&] { xt::noalias(w.value) = wide; }) ==
             has + "`value =` was given shape [2, 4]" + fixed);
  // Compound assignment: xtensor would grow the value to the broadcast shape without a word.
  const std::string grows = " (expected a shape that broadcasts to the parameter's)";
  BOOST_TEST(error_of([&] {
               w.value += xt::ones<double>({4, 2, 3});
             }) == has + "`value +=` was given shape [4, 2, 3]" + grows);
  BOOST_TEST(error_of([&] { w.value -= wide; }) ==
             has + "`value -=` was given shape [2, 4]" + grows);
  BOOST_TEST(error_of([&] { xt::noalias(w.value) *= wide; }) ==
             has + "`value *=` was given shape [2, 4]" + grows);
  BOOST_TEST(error_of([&] {
               w.value /= xt::ones<double>({5, 1});
             }) == has + "`value /=` was given shape [5, 1]" + grows);
  // Nothing happened to the value.
  BOOST_TEST((w.value == kTwoByThree));
}

BOOST_AUTO_TEST_CASE(assignments_that_keep_the_shape_work_as_on_a_tensor) {
  Parameter<double> w(kTwoByThree, "w");
  w.value = Tensor<double>{{0, 0, 0}, {1, 1, 1}};
  BOOST_TEST((w.value == Tensor<double>{{0, 0, 0}, {1, 1, 1}}));
  w.value += Tensor<double>{1, 2, 3};  // broadcasts into the value's shape
  BOOST_TEST((w.value == Tensor<double>{{1, 2, 3}, {2, 3, 4}}));
  w.value *= 2.0;
  w.value -= 1.0;
  BOOST_TEST((w.value == Tensor<double>{{1, 3, 5}, {3, 5, 7}}));
  xt::noalias(w.value) = kTwoByThree + 1.0;
  xt::noalias(w.value) -= xt::ones<double>({1, 3});
  BOOST_TEST((w.value == kTwoByThree));
  w.value(1, 2) = -1;
  w.value.fill(0.5);
  BOOST_TEST(w.value(1, 2) == 0.5);

  // xtensor's functions and views take the value like any expression.
  w.value = kTwoByThree;
  BOOST_TEST(xt::sum(w.value)() == 21.0);
  const Tensor<float> f = xt::cast<float>(w.value);
  BOOST_TEST(f(1, 0) == 4.0f);
  BOOST_TEST(Tensor<double>(xt::view(w.value, 1))(2) == 6.0);
  xt::view(w.value, 0) = Tensor<double>{7, 8, 9};  // a view writes elements in place
  BOOST_TEST(w.value(0, 2) == 9.0);

  // A same-shape assignment into the value's own buffer allocates nothing.
  const Tensor<double> source = kTwoByThree * 3.0;
  xt::noalias(w.value) = source;
  const std::size_t before = testsupport::allocations_so_far();
  for (int i = 0; i < 10; ++i) xt::noalias(w.value) = source;
  if (testsupport::allocations_counted())
    BOOST_TEST(testsupport::allocations_so_far() - before == 0u);
  BOOST_TEST((w.value == source));
}

BOOST_AUTO_TEST_CASE(a_parameter_without_a_value_takes_the_shape_of_its_first) {
  Parameter<double> p;
  p.name = "late";
  p.value = Tensor<double>{1, 2, 3, 4};
  BOOST_TEST(error_of([&] {
               p.value = Tensor<double>{1, 2};
             }) ==
             "parameter 'late' has shape [4]; `value =` was given shape [2] (a parameter's shape "
             "is fixed; expected the same shape)");
}

BOOST_AUTO_TEST_CASE(copies_name_their_own_parameter_and_plain_copies_are_plain_tensors) {
  auto original = std::make_unique<Parameter<double>>(kTwoByThree, "original");
  Parameter<double> copy = *original;
  copy.name = "copy";
  Parameter<double> moved = std::move(*original);
  original.reset();  // the copies must not point at its name
  BOOST_TEST(error_of([&] { copy.value = Tensor<double>{1}; }) ==
             "parameter 'copy' has shape [2, 3]; `value =` was given shape [1] (a parameter's "
             "shape is fixed; expected the same shape)");
  BOOST_TEST(error_of([&] {
               moved.value = Tensor<double>{1};
             }).rfind("parameter 'original' has shape [2, 3]", 0) == 0);
  // Replacing a whole Parameter replaces its shape too.
  copy = Parameter<double>(Tensor<double>{1, 2}, "replaced");
  BOOST_TEST(copy.value.size() == 2u);
  BOOST_TEST(error_of([&] {
               copy.value = kTwoByThree;
             }).rfind("parameter 'replaced' has shape [2]", 0) == 0);
  // A value copied out of its parameter is an ordinary tensor.
  auto plain = moved.value;
  plain = Tensor<double>{1, 2, 3, 4, 5};
  BOOST_TEST(plain.size() == 5u);
}

BOOST_AUTO_TEST_SUITE_END()
