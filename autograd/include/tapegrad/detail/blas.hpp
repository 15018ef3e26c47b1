#pragma once
// Matrix products for the ops, behind one function: a plain loop for tiny products, BLAS
// level 2 for a single row, column or inner dimension, and gemm otherwise. Defined in blas.cpp
// for float and double, so that cblas.h stays out of the public headers.
#include <cstddef>

namespace tapegrad::detail {

/// C[m, n] = op(A) op(B) + beta C, row-major, contiguous operands, beta 0 or 1; op(A) is A^T
/// when ta (A stored [k, m]), op(B) is B^T when tb (B stored [n, k]). With beta 0, C's old
/// contents (possibly NaN) never reach the result.
template <class T>
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b,
          T beta, T* c);

}  // namespace tapegrad::detail
