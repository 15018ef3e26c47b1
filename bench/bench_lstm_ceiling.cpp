// The LSTM variant of the workload of workload.hpp by hand (PyTorch's gate order i, f, g, o;
// W_ih [4H, V], W_hh [4H, H]; h_0 = c_0 = 0): forward, full BPTT and SGD written out on
// cblas_sgemm, no autograd, no allocation inside a step. The ceiling for bench_lstm_tapegrad,
// with the same techniques as bench_rnn_ceiling:
//  - Input projection: one gather of W_ih^T rows (stored transposed, [V, 4H]) plus b_ih + b_hh
//    for all T*B one-hot inputs, straight into the gate buffer.
//  - State buffers: the gates [T*B, 4H], cells, tanh(cell) and hidden states [T*B, H] are each
//    one contiguous time-major buffer, so the head's forward, dW_hy and dHs are one GEMM each
//    over all steps, and dW_hh is ONE GEMM dGates[1..T-1]^T Hs[0..T-2] (K = B*(T-1)).
//  - Element-wise work fused: forward, one SIMD pass per step takes the four pre-activations to
//    i, f, g, o (kept in place for backward), c and tanh(c) (kept) and h; backward, one pass per
//    step forms all four gate gradients from dh and the carried dc, writes them over the (no
//    longer needed) activations, carries f dc to the step before, and scatter-adds them into
//    dW_ih's rows and the bias gradient while the block is in cache.
// Only the recurrence runs per step: [B, H] x [H, 4H] forward, [B, 4H] x [4H, H] backward. Unlike
// bench_rnn_ceiling, the forward GEMM reads W_hh with the transpose flag: a kept W_hh^T (no flag)
// made the whole step 6% slower at (512, 32, 64, 65) (median of 3 interleaved pairs, 4.79 against
// 5.09 steps/s), the 4H x H re-transpose per step included.
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "args.hpp"
#include "ceiling.hpp"
#include "workload.hpp"

namespace {

using namespace bench::ceiling;

class LstmCeiling {
 public:
  explicit LstmCeiling(const bench::Args& a)
      : H_(a.H), G_(4 * a.H), B_(a.B), T_(a.T), V_(a.V), N_(a.B * a.T) {
    const std::vector<float> wih = bench::init_weight(bench::kWeightIH, G_, V_, H_);
    WihT_.resize(V_ * G_);
    for (std::size_t j = 0; j < G_; ++j)
      for (std::size_t c = 0; c < V_; ++c) WihT_[c * G_ + j] = wih[j * V_ + c];
    Whh_ = bench::init_weight(bench::kWeightHH, G_, H_, H_);
    Why_ = bench::init_weight(bench::kWeightHY, V_, H_, H_);
    bih_.assign(G_, 0.0f);
    bhh_.assign(G_, 0.0f);
    by_.assign(V_, 0.0f);
    gWihT_.resize(V_ * G_);
    gWhh_.resize(G_ * H_);
    gbih_.resize(G_);
    gWhy_.resize(V_ * H_);
    gby_.resize(V_);
    const std::vector<std::int64_t> chars = bench::make_chars(B_, T_, V_);
    inputs_ = bench::inputs_time_major(chars, B_, T_);
    targets_ = bench::targets_time_major(chars, B_, T_);
    gates_.resize(N_ * G_);
    hs_.resize(N_ * H_);
    cs_.resize(N_ * H_);
    tcs_.resize(N_ * H_);
    dhs_.resize(N_ * H_);
    dc_.resize(B_ * H_);
    zeros_.assign(B_ * H_, 0.0f);
    logits_.resize(N_ * V_);
    bsum_.resize(G_);
  }

  // One forward + backward + SGD update; returns the loss before the update.
  float step() {
    const int H = int(H_), G = int(G_), B = int(B_), V = int(V_), N = int(N_);
    const std::size_t BH = B_ * H_, BG = B_ * G_;
    // ---- forward ----
    for (std::size_t j = 0; j < G_; ++j) bsum_[j] = bih_[j] + bhh_[j];
    gather_rows(inputs_, WihT_.data(), bsum_.data(), G_, gates_.data());
    for (std::size_t t = 0; t < T_; ++t) {
      float* a = &gates_[t * BG];
      if (t > 0)  // gates_t += h_{t-1} W_hh^T
        step_product(B, G, H, &hs_[(t - 1) * BH], Whh_.data(), true, a);
      const float* c_prev = t > 0 ? &cs_[(t - 1) * BH] : zeros_.data();
      for (std::size_t b = 0; b < B_; ++b) {
        float* ab = a + b * G_;
        const float* cp = c_prev + b * H_;
        float* c = &cs_[t * BH + b * H_];
        float* tc = &tcs_[t * BH + b * H_];
        float* h = &hs_[t * BH + b * H_];
        for_lanes(H_, [&](auto f, std::size_t j) {
          const auto i = sigmoid_of(load(ab + j, f));
          const auto fg = sigmoid_of(load(ab + H_ + j, f));
          const auto g = tanh_of(load(ab + 2 * H_ + j, f));
          const auto o = sigmoid_of(load(ab + 3 * H_ + j, f));
          const auto cj = fg * load(cp + j, f) + i * g;
          const auto tcj = tanh_of(cj);
          store(ab + j, i);
          store(ab + H_ + j, fg);
          store(ab + 2 * H_ + j, g);
          store(ab + 3 * H_ + j, o);
          store(c + j, cj);
          store(tc + j, tcj);
          store(h + j, o * tcj);
        });
      }
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
    // ---- BPTT ----
    //   dc = dc_carry + dh o (1 - tanh(c)^2);  dc_carry for step t-1 = dc f
    //   d(pre i) = dc g i (1 - i);  d(pre f) = dc c_{t-1} f (1 - f)
    //   d(pre g) = dc i (1 - g^2);  d(pre o) = dh tanh(c) o (1 - o)
    std::fill(gWihT_.begin(), gWihT_.end(), 0.0f);
    std::fill(gbih_.begin(), gbih_.end(), 0.0f);
    std::fill(dc_.begin(), dc_.end(), 0.0f);
    for (std::size_t t = T_; t-- > 0;) {
      float* a = &gates_[t * BG];  // activations in, pre-activation gradients out
      const float* c_prev = t > 0 ? &cs_[(t - 1) * BH] : zeros_.data();
      for (std::size_t b = 0; b < B_; ++b) {
        float* ab = a + b * G_;
        const float* dh = &dhs_[t * BH + b * H_];
        const float* tc = &tcs_[t * BH + b * H_];
        const float* cp = c_prev + b * H_;
        float* dc = &dc_[b * H_];
        float* gw = &gWihT_[std::size_t(inputs_[t * B_ + b]) * G_];
        for_lanes(H_, [&](auto f, std::size_t j) {
          const auto i = load(ab + j, f), fg = load(ab + H_ + j, f);
          const auto g = load(ab + 2 * H_ + j, f), o = load(ab + 3 * H_ + j, f);
          const auto dhj = load(dh + j, f), tcj = load(tc + j, f);
          const auto dcj = load(dc + j, f) + dhj * o * (1.0f - tcj * tcj);
          store(dc + j, dcj * fg);
          const auto d_i = dcj * g * i * (1.0f - i);
          const auto d_f = dcj * load(cp + j, f) * fg * (1.0f - fg);
          const auto d_g = dcj * i * (1.0f - g * g);
          const auto d_o = dhj * tcj * o * (1.0f - o);
          const decltype(d_i) ds[4] = {d_i, d_f, d_g, d_o};
          for (std::size_t k = 0; k < 4; ++k) {
            const std::size_t at = k * H_ + j;
            store(ab + at, ds[k]);
            store(gw + at, load(gw + at, f) + ds[k]);
            store(&gbih_[at], load(&gbih_[at], f) + ds[k]);
          }
        });
      }
      if (t > 0)  // dh_{t-1} += dGates_t W_hh
        step_product(B, H, G, a, Whh_.data(), false, &dhs_[(t - 1) * BH]);
    }
    if (T_ > 1)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, B * (int(T_) - 1), 1.0f,
                  gates_.data() + BG, G, hs_.data(), H, 0.0f, gWhh_.data(), H);
    else
      std::fill(gWhh_.begin(), gWhh_.end(), 0.0f);
    // ---- SGD (b_hh's gradient equals b_ih's) ----
    sgd(WihT_, gWihT_);
    sgd(Whh_, gWhh_);
    sgd(bih_, gbih_);
    sgd(bhh_, gbih_);
    sgd(Why_, gWhy_);
    sgd(by_, gby_);
    return float(loss);
  }

 private:
  std::size_t H_, G_, B_, T_, V_, N_;                     // G = 4H: the four gates side by side
  std::vector<float> WihT_, Whh_, bih_, bhh_, Why_, by_;  // WihT [V, 4H]; the rest as PyTorch
  std::vector<float> gWihT_, gWhh_, gbih_, gWhy_, gby_;   // their gradients
  std::vector<std::int64_t> inputs_, targets_;            // time-major: row t*B + b
  std::vector<float> gates_, hs_, cs_, tcs_, dhs_;        // [T*B, 4H] and [T*B, H]
  std::vector<float> dc_, zeros_, logits_, bsum_;         // dc carried back; c_0 = 0
};

}  // namespace

int main(int argc, char** argv) {
  const bench::Args a = bench::parse_args(argc, argv);
  LstmCeiling net(a);
  const float loss0 = net.step();
  const float loss1 = net.step();
  const double rate = bench::steps_per_second(a, [&] { net.step(); });
  bench::print_result("lstm_ceiling", a, loss0, loss1, rate);
  return 0;
}
