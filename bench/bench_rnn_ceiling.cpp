// The workload of workload.hpp by hand: forward and backward written out on cblas_sgemm, no
// autograd, no allocation inside a step. The speed a library could reach on this machine.
//
// Choices (each the fastest correct method found):
//  - Input projection. x_t is one-hot, so x_t W_ih^T is a row gather of W_ih^T. This program
//    keeps W_ih stored transposed, [V, H] (SGD is element-wise, so layout is free), and gathers
//    rows for all T*B inputs up front, with b_ih + b_hh added in the same pass; its gradient is
//    the matching scatter-add of dpre rows (a GEMM over the one-hot [T*B, V] matrix would do V
//    times the work, nearly all of it multiplying zeros).
//  - Output projection: one GEMM over all B*T hidden states (logits = Hs W_hy^T), and one GEMM
//    each for dW_hy = dlogits^T Hs and dHs = dlogits W_hy.
//  - Recurrence: one [B, H] x [H, H]^T GEMM per step onto the gathered input part (beta = 1);
//    backward one GEMM per step for dh_{t-1} += dpre_t W_hh (beta = 1), and dW_hh as ONE GEMM
//    over all steps, dPre[1..T-1]^T Hs[0..T-2] (K = B*(T-1)), instead of T small ones.
#include <cblas.h>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "args.hpp"
#include "workload.hpp"

namespace {

struct Model {
  std::size_t H, V;
  std::vector<float> WihT, Whh, bih, bhh, Why, by;        // WihT [V, H]; the rest as PyTorch
  std::vector<float> gWihT, gWhh, gbih, gbhh, gWhy, gby;  // their gradients
};

// Vectorised tanh (xsimd, as xtensor uses inside tapegrad and Sleef inside libtorch): scalar
// std::tanh would cost a large share of the step at big sizes.
void tanh_inplace(float* x, std::size_t n) {
  using batch = xsimd::batch<float>;
  std::size_t k = 0;
  for (; k + batch::size <= n; k += batch::size)
    xsimd::tanh(batch::load_unaligned(x + k)).store_unaligned(x + k);
  for (; k < n; ++k) x[k] = std::tanh(x[k]);
}

class Ceiling {
 public:
  Ceiling(const bench::Args& a) : H_(a.H), B_(a.B), T_(a.T), V_(a.V), N_(a.B * a.T) {
    const std::vector<float> wih = bench::init_weight(bench::kWeightIH, H_, V_, H_);
    m_.WihT.resize(V_ * H_);
    for (std::size_t j = 0; j < H_; ++j)
      for (std::size_t c = 0; c < V_; ++c) m_.WihT[c * H_ + j] = wih[j * V_ + c];
    m_.Whh = bench::init_weight(bench::kWeightHH, H_, H_, H_);
    m_.Why = bench::init_weight(bench::kWeightHY, V_, H_, H_);
    m_.bih.assign(H_, 0.0f);
    m_.bhh.assign(H_, 0.0f);
    m_.by.assign(V_, 0.0f);
    m_.gWihT.resize(V_ * H_);
    m_.gWhh.resize(H_ * H_);
    m_.gbih.resize(H_);
    m_.gbhh.resize(H_);
    m_.gWhy.resize(V_ * H_);
    m_.gby.resize(V_);
    const std::vector<std::int64_t> chars = bench::make_chars(B_, T_, V_);
    inputs_.resize(N_);
    for (std::size_t t = 0; t < T_; ++t)
      for (std::size_t b = 0; b < B_; ++b) inputs_[t * B_ + b] = chars[b * (T_ + 1) + t];
    targets_ = bench::targets_time_major(chars, B_, T_);
    hs_.resize(N_ * H_);
    dhs_.resize(N_ * H_);
    logits_.resize(N_ * V_);
    bsum_.resize(H_);
  }

  // One forward + backward + SGD update; returns the loss before the update.
  float step() {
    const int H = int(H_), B = int(B_), V = int(V_), N = int(N_);
    // ---- forward: hs[t] = tanh(gather(W_ih^T, c_t) + b_ih + b_hh + hs[t-1] W_hh^T) ----
    for (std::size_t j = 0; j < H_; ++j) bsum_[j] = m_.bih[j] + m_.bhh[j];
    for (std::size_t r = 0; r < N_; ++r) {
      const float* w = &m_.WihT[std::size_t(inputs_[r]) * H_];
      float* h = &hs_[r * H_];
      for (std::size_t j = 0; j < H_; ++j) h[j] = w[j] + bsum_[j];
    }
    for (std::size_t t = 0; t < T_; ++t) {
      float* h = &hs_[t * B_ * H_];
      if (t > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, H, 1.0f, h - B_ * H_, H,
                    m_.Whh.data(), H, 1.0f, h, H);
      tanh_inplace(h, B_ * H_);
    }
    // ---- logits = Hs W_hy^T + b_y; loss; dlogits = (softmax - one_hot) / N, in place ----
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, V, H, 1.0f, hs_.data(), H,
                m_.Why.data(), H, 0.0f, logits_.data(), V);
    double loss = 0;
    const float inv_n = 1.0f / float(N_);
    for (std::size_t r = 0; r < N_; ++r) {
      float* z = &logits_[r * V_];
      float mx = -INFINITY;
      for (std::size_t v = 0; v < V_; ++v) mx = std::max(mx, z[v] += m_.by[v]);
      float sum = 0;
      for (std::size_t v = 0; v < V_; ++v) sum += (z[v] = std::exp(z[v] - mx));
      const std::size_t y = std::size_t(targets_[r]);
      loss += double(std::log(sum)) - std::log(z[y]);
      const float scale = inv_n / sum;
      for (std::size_t v = 0; v < V_; ++v) z[v] *= scale;
      z[y] -= inv_n;
    }
    // ---- output layer backward ----
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, H, N, 1.0f, logits_.data(), V,
                hs_.data(), H, 0.0f, m_.gWhy.data(), H);
    std::fill(m_.gby.begin(), m_.gby.end(), 0.0f);
    for (std::size_t r = 0; r < N_; ++r)
      for (std::size_t v = 0; v < V_; ++v) m_.gby[v] += logits_[r * V_ + v];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, H, V, 1.0f, logits_.data(), V,
                m_.Why.data(), H, 0.0f, dhs_.data(), H);
    // ---- BPTT: dpre_t = dh_t (1 - h_t^2) in place; dh_{t-1} += dpre_t W_hh ----
    for (std::size_t t = T_; t-- > 0;) {
      float* d = &dhs_[t * B_ * H_];
      const float* h = &hs_[t * B_ * H_];
      for (std::size_t k = 0; k < B_ * H_; ++k) d[k] *= 1.0f - h[k] * h[k];
      if (t > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, H, 1.0f, d, H, m_.Whh.data(),
                    H, 1.0f, d - B_ * H_, H);
    }
    if (T_ > 1)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, H, B * (int(T_) - 1), 1.0f,
                  dhs_.data() + B_ * H_, H, hs_.data(), H, 0.0f, m_.gWhh.data(), H);
    else
      std::fill(m_.gWhh.begin(), m_.gWhh.end(), 0.0f);
    std::fill(m_.gbih.begin(), m_.gbih.end(), 0.0f);
    std::fill(m_.gWihT.begin(), m_.gWihT.end(), 0.0f);
    for (std::size_t r = 0; r < N_; ++r) {
      const float* d = &dhs_[r * H_];
      float* g = &m_.gWihT[std::size_t(inputs_[r]) * H_];
      for (std::size_t j = 0; j < H_; ++j) {
        m_.gbih[j] += d[j];
        g[j] += d[j];
      }
    }
    m_.gbhh = m_.gbih;
    // ---- SGD ----
    sgd(m_.WihT, m_.gWihT);
    sgd(m_.Whh, m_.gWhh);
    sgd(m_.bih, m_.gbih);
    sgd(m_.bhh, m_.gbhh);
    sgd(m_.Why, m_.gWhy);
    sgd(m_.by, m_.gby);
    return float(loss / double(N_));
  }

 private:
  static void sgd(std::vector<float>& w, const std::vector<float>& g) {
    for (std::size_t k = 0; k < w.size(); ++k) w[k] -= bench::kLearningRate * g[k];
  }

  std::size_t H_, B_, T_, V_, N_;
  Model m_;
  std::vector<std::int64_t> inputs_, targets_;  // time-major: row t*B + b
  std::vector<float> hs_, dhs_, logits_, bsum_;
};

}  // namespace

int main(int argc, char** argv) {
  const bench::Args a = bench::parse_args(argc, argv);
  Ceiling net(a);
  const float loss0 = net.step();
  const float loss1 = net.step();
  const double rate = bench::steps_per_second(a, [&] { net.step(); });
  bench::print_result("ceiling", a, loss0, loss1, rate);
  return 0;
}
