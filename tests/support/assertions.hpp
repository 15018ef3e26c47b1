#pragma once
// Assertions shared by the op tests: element-wise tensor comparison, error-message predicates,
// and column literals (which xtensor cannot parse from nested braces).
#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/autograd.hpp>
#include <xtensor/xbuilder.hpp>

namespace testsupport {

using tapegrad::Error;
using tapegrad::Shape;
using tapegrad::shape_str;
using tapegrad::Tensor;

// Element-wise comparison with an absolute-plus-relative bound, so that expected zeros work.
template <class T>
inline void check_tensor(const Tensor<T>& actual, const Tensor<T>& expected, double tol = 1e-12) {
  BOOST_TEST_REQUIRE(shape_str(actual.shape()) == shape_str(expected.shape()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double a = static_cast<double>(actual.data()[i]);
    const double e = static_cast<double>(expected.data()[i]);
    BOOST_TEST(std::fabs(a - e) <= tol * (1.0 + std::fabs(e)),
               "flat element " << i << ": got " << a << ", expected " << e);
  }
}

// An [n, 1] column: xtensor reads a literal like {{1.}, {2.}} ambiguously.
template <class T>
Tensor<T> column(std::initializer_list<T> values) {
  // Not from_shape({n, 1}): GCC 12 at -O3 then reports the inline storage of xtensor's shape
  // type "may be used uninitialized" in some including files (a false positive).
  Tensor<T> t = xt::zeros<T>({values.size(), std::size_t(1)});
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

// A predicate for BOOST_CHECK_EXCEPTION: the message must hold every part of `all` and, if
// given, at least one of `one_of`. A mismatch is reported with the whole message, which Boost's
// own "incorrect exception" line does not show.
inline std::function<bool(const Error&)> mentions(std::vector<std::string> all,
                                                  std::vector<std::string> one_of = {}) {
  return [all, one_of](const Error& e) {
    const std::string what = e.what();
    for (const std::string& p : all)
      if (what.find(p) == std::string::npos) {
        BOOST_ERROR("error message \"" << what << "\" does not contain \"" << p << "\"");
        return false;
      }
    if (one_of.empty()) return true;
    for (const std::string& p : one_of)
      if (what.find(p) != std::string::npos) return true;
    BOOST_ERROR("error message \"" << what << "\" contains none of " << one_of.size()
                                   << " alternatives, the first being \"" << one_of[0] << "\"");
    return false;
  };
}

// Relative for large values, absolute near zero, so one tolerance serves both.
template <class T>
inline void expect_values(const Tensor<T>& actual, const Shape& shape,
                          const std::vector<double>& expected, double tol) {
  BOOST_TEST_REQUIRE(shape_str(actual.shape()) == shape_str(shape));
  BOOST_TEST_REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double a = static_cast<double>(actual.data()[i]);
    BOOST_TEST(std::fabs(a - expected[i]) <= tol * std::max(1.0, std::fabs(expected[i])),
               "element " << i << ": got " << a << ", expected " << expected[i]);
  }
}

}  // namespace testsupport
