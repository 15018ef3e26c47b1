// detail::gemm against a plain triple loop in long double, for every transposition, both betas
// and shapes on each side of the SIMD width and of the tiny-product and BLAS thresholds: the
// small products have their own kernels, which the op tests reach only at a few shapes.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/detail/blas.hpp>

namespace {

template <class T>
void check_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T beta,
                std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> a(m * k), b(k * n), c(m * n);
  for (T& v : a) v = static_cast<T>(u(rng));
  for (T& v : b) v = static_cast<T>(u(rng));
  // beta 0 must ignore C's old contents, NaN included (a fresh gradient buffer holds garbage).
  for (T& v : c) v = beta == T(0) ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(u(rng));
  std::vector<long double> want(m * n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      long double s = beta == T(0) ? 0.0L : static_cast<long double>(c[i * n + j]);
      for (std::size_t p = 0; p < k; ++p)
        s += static_cast<long double>(ta ? a[p * m + i] : a[i * k + p]) *
             static_cast<long double>(tb ? b[j * k + p] : b[p * n + j]);
      want[i * n + j] = s;
    }
  tapegrad::detail::gemm(ta, tb, m, n, k, a.data(), b.data(), beta, c.data());
  const double tol = 8 * static_cast<double>(k + 1) * std::numeric_limits<T>::epsilon();
  for (std::size_t e = 0; e < m * n; ++e)
    BOOST_TEST(std::fabs(static_cast<double>(c[e] - static_cast<T>(want[e]))) <= tol,
               "ta " << ta << " tb " << tb << " [" << m << ", " << n << ", " << k << "] beta "
                     << beta << " element " << e << ": got " << c[e] << ", expected "
                     << static_cast<double>(want[e]));
}

template <class T>
void check_all_shapes() {
  std::mt19937 rng(16);
  const std::size_t sizes[] = {1, 3, 4, 5, 8, 9, 17, 33};
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::size_t m : sizes)
        for (std::size_t n : sizes)
          for (std::size_t k : sizes)
            for (T beta : {T(0), T(1)}) check_gemm<T>(ta, tb, m, n, k, beta, rng);
  // Past the tiny-product threshold (BLAS level 2 and 3), and a wide row of several batches.
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (T beta : {T(0), T(1)}) {
        check_gemm<T>(ta, tb, 1, 70, 65, beta, rng);
        check_gemm<T>(ta, tb, 20, 30, 40, beta, rng);
        check_gemm<T>(ta, tb, 2, 100, 3, beta, rng);
      }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gemm)

BOOST_AUTO_TEST_CASE(every_transposition_and_beta_matches_a_plain_loop_float) {
  check_all_shapes<float>();
}

BOOST_AUTO_TEST_CASE(every_transposition_and_beta_matches_a_plain_loop_double) {
  check_all_shapes<double>();
}

BOOST_AUTO_TEST_SUITE_END()
