// detail::gemm: the one place the ops reach BLAS (OpenBLAS, linked privately).
#include "tapegrad/detail/blas.hpp"

#include <cblas.h>

#include <algorithm>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace tapegrad::detail {

namespace {

// C[m,n] = op(A) op(B) + beta C, row-major, contiguous operands, beta 0 or 1.
// Tiny products (the tutorial's 1x5 . 5x5) spend more time in BLAS's argument handling than in
// arithmetic, so below kSmallGemm multiply-adds a plain loop does them.
constexpr std::size_t kSmallGemm = 4096;

// One loop nest per transposition, so the tiny product carries no per-element branches. With B
// transposed (linear's x W^T) each element is a dot product over two contiguous rows; otherwise
// rows of B are added into the row of C (contiguous, vectorised). Both add the k products in
// order onto C's start value (0 or C), as the BLAS path does. The fallback of register_gemm below.
template <bool TA, bool TB, class T>
void loop_gemm(std::size_t m, std::size_t n, std::size_t k, const T* __restrict a,
               const T* __restrict b, T beta, T* __restrict c) {
  for (std::size_t i = 0; i < m; ++i) {
    T* __restrict row = c + i * n;
    if constexpr (TB) {
      for (std::size_t j = 0; j < n; ++j) {
        T s = beta == T(0) ? T(0) : row[j];
        for (std::size_t p = 0; p < k; ++p) s += (TA ? a[p * m + i] : a[i * k + p]) * b[j * k + p];
        row[j] = s;
      }
    } else {
      if (beta == T(0)) std::fill(row, row + n, T(0));
      for (std::size_t p = 0; p < k; ++p) {
        const T aip = TA ? a[p * m + i] : a[i * k + p];
        for (std::size_t j = 0; j < n; ++j) row[j] += aip * b[p * n + j];
      }
    }
  }
}

#if defined(__AVX2__) && defined(__FMA__)
// The tiny products of a small model ([4, 5] x [5, 5], a [1, 5] state times W^T) are mostly
// tails: loop_gemm runs a 5-wide row as one 4-lane step and one scalar step, and stores and
// reloads C's row for each of the k products (perf: a quarter of the (5, 1, 4, 5) step). Here
// each row of C is held in registers, a batch at a time, while the k products are added onto it
// in order, and stored once; a partial batch is read and written with masked loads and stores
// (no scratch copy: small memcpy calls cost more than the arithmetic at these sizes). For B
// stored [k, n] only: with B^T (x W^T) the copy that would turn its columns into rows cost more
// than loop_gemm's dot products over contiguous rows.
template <class T>
struct Avx;
template <>
struct Avx<float> {
  using V = __m256;
  static constexpr std::size_t W = 8;
  static __m256i mask(std::size_t len) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(len)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load(const float* p, __m256i m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, V v, __m256i m) { _mm256_maskstore_ps(p, m, v); }
  static V fma(float a, V b, V c) { return _mm256_fmadd_ps(_mm256_set1_ps(a), b, c); }
};
template <>
struct Avx<double> {
  using V = __m256d;
  static constexpr std::size_t W = 4;
  static __m256i mask(std::size_t len) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(len)),
                              _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static V load(const double* p, __m256i m) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static void store(double* p, V v, __m256i m) { _mm256_maskstore_pd(p, m, v); }
  static V fma(double a, V b, V c) { return _mm256_fmadd_pd(_mm256_set1_pd(a), b, c); }
};

template <bool TA, class T>
void register_gemm(std::size_t m, std::size_t n, std::size_t k, const T* __restrict a,
                   const T* __restrict b, T beta, T* __restrict c) {
  using S = Avx<T>;
  constexpr std::size_t W = S::W;
  const std::size_t whole = n / W * W;
  const __m256i tail = S::mask(n - whole);
  for (std::size_t i = 0; i < m; ++i) {
    T* __restrict row = c + i * n;
    for (std::size_t j0 = 0; j0 < n; j0 += W) {
      const bool full = j0 < whole;
      typename S::V acc = S::zero();
      if (beta != T(0)) acc = full ? S::load(row + j0) : S::load(row + j0, tail);
      for (std::size_t p = 0; p < k; ++p) {
        const T* r = b + p * n + j0;
        acc = S::fma(TA ? a[p * m + i] : a[i * k + p], full ? S::load(r) : S::load(r, tail), acc);
      }
      if (full)
        S::store(row + j0, acc);
      else
        S::store(row + j0, acc, tail);
    }
  }
}
#endif

template <bool TA, bool TB, class T>
void small_gemm(std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta, T* c) {
#if defined(__AVX2__) && defined(__FMA__)
  if constexpr (!TB) return register_gemm<TA>(m, n, k, a, b, beta, c);
#endif
  loop_gemm<TA, TB>(m, n, k, a, b, beta, c);
}

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda,
               const float* b, int ldb, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, n);
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a,
               int lda, const double* b, int ldb, double beta, double* c) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, n);
}
// y = beta y + op(M) x with M [rows, cols] row-major.
void blas_gemv(CBLAS_TRANSPOSE t, int rows, int cols, const float* m, const float* x, float beta,
               float* y) {
  cblas_sgemv(CblasRowMajor, t, rows, cols, 1.0f, m, cols, x, 1, beta, y, 1);
}
void blas_gemv(CBLAS_TRANSPOSE t, int rows, int cols, const double* m, const double* x, double beta,
               double* y) {
  cblas_dgemv(CblasRowMajor, t, rows, cols, 1.0, m, cols, x, 1, beta, y, 1);
}
// C [m, n] += x y^T.
void blas_ger(int m, int n, const float* x, const float* y, float* c) {
  cblas_sger(CblasRowMajor, m, n, 1.0f, x, 1, y, 1, c, n);
}
void blas_ger(int m, int n, const double* x, const double* y, double* c) {
  cblas_dger(CblasRowMajor, m, n, 1.0, x, 1, y, 1, c, n);
}

// A product with a single row, a single column or an inner dimension of one (a batch of one
// sequence: h W^T, its gradient, and dW = dy^T h) is a matrix-vector product or an outer
// product. sgemm would spend most of its time packing operands for a kernel that then runs one
// row (perf: 75% of the (100, 1, 25, 65) step); the level-2 routines read them in place.
template <class T>
bool thin_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a,
               const T* b, T beta, T* c) {
  const int M = static_cast<int>(m), N = static_cast<int>(n), K = static_cast<int>(k);
  if ((m == 1 || n == 1 || k == 1) && beta == T(0)) {
    // A fresh output holds the previous step's values, possibly NaN. BLAS libraries differ on
    // whether beta = 0 means "ignore y" or "scale y by 0" (which keeps a NaN); zeroing it here
    // makes the result independent of which one is linked.
    std::fill(c, c + m * n, T(0));
    beta = T(1);
  }
  if (m == 1) {  // c = op(B)^T-style: c[j] = sum_p a[p] op(B)[p, j]; a is contiguous either way
    if (tb)
      blas_gemv(CblasNoTrans, N, K, b, a, beta, c);  // B stored [n, k]
    else
      blas_gemv(CblasTrans, K, N, b, a, beta, c);  // B stored [k, n]
    return true;
  }
  if (n == 1) {  // c[i] = sum_p op(A)[i, p] b[p]; b is contiguous either way
    if (ta)
      blas_gemv(CblasTrans, K, M, a, b, beta, c);  // A stored [k, m]
    else
      blas_gemv(CblasNoTrans, M, K, a, b, beta, c);  // A stored [m, k]
    return true;
  }
  if (k == 1) {  // c += a b^T; both operands are contiguous vectors either way
    blas_ger(M, N, a, b, c);
    return true;
  }
  return false;
}

}  // namespace

template <class T>
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b,
          T beta, T* c) {
  if (m == 0 || n == 0) return;
  if (m * n * k <= kSmallGemm) {
    if (ta)
      return tb ? small_gemm<true, true>(m, n, k, a, b, beta, c)
                : small_gemm<true, false>(m, n, k, a, b, beta, c);
    return tb ? small_gemm<false, true>(m, n, k, a, b, beta, c)
              : small_gemm<false, false>(m, n, k, a, b, beta, c);
  }
  if (thin_gemm(ta, tb, m, n, k, a, b, beta, c)) return;
  const int lda = static_cast<int>(std::max<std::size_t>(1, ta ? m : k));
  const int ldb = static_cast<int>(std::max<std::size_t>(1, tb ? k : n));
  blas_gemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
            static_cast<int>(n), static_cast<int>(k), a, lda, b, ldb, beta, c);
}

template void gemm<float>(bool, bool, std::size_t, std::size_t, std::size_t, const float*,
                          const float*, float, float*);
template void gemm<double>(bool, bool, std::size_t, std::size_t, std::size_t, const double*,
                           const double*, double, double*);

}  // namespace tapegrad::detail
