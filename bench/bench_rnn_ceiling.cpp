// The workload of workload.hpp by hand: forward and backward written out on cblas_sgemm, no
// autograd, no allocation inside a step. The speed a library could reach on this machine, as a
// careful engineer writes it:
//  - Input projection: one pass for all T*B inputs. x_t is one-hot, so x_t W_ih^T is a row of
//    W_ih^T; this program keeps W_ih stored transposed, [V, H] (SGD is element-wise, so the
//    layout is free), and gathers every row with b_ih + b_hh added in the same pass. A GEMM over
//    the one-hot [T*B, V] matrix would do V times the work, nearly all of it on zeros.
//  - Hidden states: one contiguous [T*B, H] buffer, time-major, written in place (the gathered
//    input part, then the recurrence GEMM onto it with beta = 1, then tanh), so the head's
//    forward, dW_hy and dHs are each ONE GEMM over all steps, and so is dW_hh (dPre[1..T-1]^T
//    Hs[0..T-2], K = B*(T-1)), with no concatenation or copy.
//  - Head: logits, then one pass per row that adds b_y, takes each exp once (SIMD), forms
//    dlogits in place and sums db_y.
//  - BPTT: the head's GEMM writes dh for every step at once; stepping back, the recurrence GEMM
//    adds dpre_t W_hh onto dh_{t-1} (beta = 1), and ONE pass over step t's block forms
//    dpre_t = dh_t (1 - h_t^2) in place and scatter-adds it into dW_ih's rows and the bias
//    gradient while the block is in cache.
// Only the recurrence runs per step (two [B, H] x [H, H] GEMMs, forward and back; sgemv for a
// batch of one, see step_product): step t needs h_{t-1}. Neither carries a transpose flag: W_hh is
// also kept transposed (see transpose() in ceiling.hpp for why and what it costs).
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "args.hpp"
#include "ceiling.hpp"
#include "workload.hpp"

namespace {

using namespace bench::ceiling;

class Ceiling {
 public:
  explicit Ceiling(const bench::Args& a) : H_(a.H), B_(a.B), T_(a.T), V_(a.V), N_(a.B * a.T) {
    const std::vector<float> wih = bench::init_weight(bench::kWeightIH, H_, V_, H_);
    WihT_.resize(V_ * H_);
    for (std::size_t j = 0; j < H_; ++j)
      for (std::size_t c = 0; c < V_; ++c) WihT_[c * H_ + j] = wih[j * V_ + c];
    Whh_ = bench::init_weight(bench::kWeightHH, H_, H_, H_);
    WhhT_.resize(H_ * H_);
    transpose(Whh_.data(), H_, H_, WhhT_.data());
    Why_ = bench::init_weight(bench::kWeightHY, V_, H_, H_);
    bih_.assign(H_, 0.0f);
    bhh_.assign(H_, 0.0f);
    by_.assign(V_, 0.0f);
    gWihT_.resize(V_ * H_);
    gWhh_.resize(H_ * H_);
    gbih_.resize(H_);
    gWhy_.resize(V_ * H_);
    gby_.resize(V_);
    const std::vector<std::int64_t> chars = bench::make_chars(B_, T_, V_);
    inputs_ = bench::inputs_time_major(chars, B_, T_);
    targets_ = bench::targets_time_major(chars, B_, T_);
    hs_.resize(N_ * H_);
    dhs_.resize(N_ * H_);
    logits_.resize(N_ * V_);
    bsum_.resize(H_);
  }

  // One forward + backward + SGD update; returns the loss before the update.
  float step() {
    const int H = int(H_), B = int(B_), V = int(V_), N = int(N_);
    const std::size_t BH = B_ * H_;
    // ---- forward: hs[t] = tanh(W_ih^T[c_t] + b_ih + b_hh + hs[t-1] W_hh^T) ----
    for (std::size_t j = 0; j < H_; ++j) bsum_[j] = bih_[j] + bhh_[j];
    gather_rows(inputs_, WihT_.data(), bsum_.data(), H_, hs_.data());
    for (std::size_t t = 0; t < T_; ++t) {
      float* h = &hs_[t * BH];
      if (t > 0) step_product(B, H, H, h - BH, WhhT_.data(), false, h);
      for_lanes(BH, [&](auto f, std::size_t k) { store(h + k, tanh_of(load(h + k, f))); });
    }
    // ---- head: logits = Hs W_hy^T + b_y; loss; dlogits in place; db_y ----
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, V, H, 1.0f, hs_.data(), H, Why_.data(),
                H, 0.0f, logits_.data(), V);
    const double loss = softmax_xent(logits_.data(), N_, V_, by_.data(), targets_, gby_.data());
    // dHs = dlogits W_hy (before W_hy changes), dW_hy = dlogits^T Hs
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, H, V, 1.0f, logits_.data(), V,
                Why_.data(), H, 0.0f, dhs_.data(), H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, H, N, 1.0f, logits_.data(), V,
                hs_.data(), H, 0.0f, gWhy_.data(), H);
    // ---- BPTT: dpre_t = dh_t (1 - h_t^2) in place, scattered into dW_ih and the bias in the
    // same pass; dh_{t-1} += dpre_t W_hh ----
    std::fill(gWihT_.begin(), gWihT_.end(), 0.0f);
    std::fill(gbih_.begin(), gbih_.end(), 0.0f);
    for (std::size_t t = T_; t-- > 0;) {
      float* d = &dhs_[t * BH];
      const float* h = &hs_[t * BH];
      for (std::size_t b = 0; b < B_; ++b) {
        float* db = d + b * H_;
        const float* hb = h + b * H_;
        float* g = &gWihT_[std::size_t(inputs_[t * B_ + b]) * H_];
        for_lanes(H_, [&](auto f, std::size_t j) {
          const auto y = load(hb + j, f);
          const auto x = load(db + j, f) * (1.0f - y * y);
          store(db + j, x);
          store(g + j, load(g + j, f) + x);
          store(&gbih_[j], load(&gbih_[j], f) + x);
        });
      }
      if (t > 0) step_product(B, H, H, d, Whh_.data(), false, d - BH);
    }
    if (T_ > 1)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, H, B * (int(T_) - 1), 1.0f,
                  dhs_.data() + BH, H, hs_.data(), H, 0.0f, gWhh_.data(), H);
    else
      std::fill(gWhh_.begin(), gWhh_.end(), 0.0f);
    // ---- SGD (b_hh's gradient equals b_ih's) ----
    sgd(WihT_, gWihT_);
    sgd(Whh_, gWhh_);
    transpose(Whh_.data(), H_, H_, WhhT_.data());
    sgd(bih_, gbih_);
    sgd(bhh_, gbih_);
    sgd(Why_, gWhy_);
    sgd(by_, gby_);
    return float(loss);
  }

 private:
  std::size_t H_, B_, T_, V_, N_;
  std::vector<float> WihT_, Whh_, bih_, bhh_, Why_, by_;  // WihT [V, H]; the rest as PyTorch
  std::vector<float> WhhT_;                               // W_hh^T [H, H], read by forward
  std::vector<float> gWihT_, gWhh_, gbih_, gWhy_, gby_;   // their gradients
  std::vector<std::int64_t> inputs_, targets_;            // time-major: row t*B + b
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
