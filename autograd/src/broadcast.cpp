// detail::sum_to: a broadcast gradient summed back to its input's shape.
#include <vector>

#include "tapegrad/broadcast.hpp"

namespace tapegrad::detail {

// g has the broadcast shape; dst has the input's shape. Sum g over the axes dst was broadcast
// along. Row-major odometer over g; a broadcast axis of dst has stride 0.
template <class T>
void sum_to(const Tensor<T>& g, Tensor<T>& dst, bool overwrite) {
  const std::size_t gd = g.dimension(), dd = dst.dimension();
  bool ok = dd <= gd;
  for (std::size_t k = 0; ok && k < dd; ++k) {
    const std::size_t a = dst.shape()[k], b = g.shape()[gd - dd + k];
    ok = a == b || a == 1;
  }
  if (!ok)
    throw Error("gradient of shape " + shape_str(g.shape()) +
                " cannot be summed to an input of shape " + shape_str(dst.shape()));
  if (overwrite) dst.fill(T(0));
  const T* src = g.data();
  T* out = dst.data();
  const std::size_t n = g.size();
  if (n == 0) return;
  // Fast path: dst is the trailing block of g (a bias row broadcast over leading axes).
  std::size_t inner = 1, k = dd;
  while (k > 0 && dst.shape()[k - 1] == g.shape()[gd - dd + k - 1]) inner *= dst.shape()[--k];
  bool leading_all_broadcast = true;
  for (std::size_t j = 0; j < k; ++j) leading_all_broadcast &= dst.shape()[j] == 1;
  if (leading_all_broadcast) {
    for (std::size_t base = 0; base < n; base += inner)
      for (std::size_t j = 0; j < inner; ++j) out[j] += src[base + j];
    return;
  }
  // General path.
  std::vector<std::size_t> shape(g.shape().begin(), g.shape().end()), stride(gd, 0), idx(gd, 0);
  std::size_t s = 1;
  for (std::size_t j = dd; j-- > 0;) {
    if (dst.shape()[j] != 1) stride[gd - dd + j] = s;
    s *= dst.shape()[j];
  }
  std::size_t off = 0;
  for (std::size_t i = 0; i < n; ++i) {
    out[off] += src[i];
    for (std::size_t a = gd; a-- > 0;) {
      off += stride[a];
      if (++idx[a] < shape[a]) break;
      off -= stride[a] * shape[a];
      idx[a] = 0;
    }
  }
}

template void sum_to<float>(const Tensor<float>&, Tensor<float>&, bool);
template void sum_to<double>(const Tensor<double>&, Tensor<double>&, bool);

}  // namespace tapegrad::detail
