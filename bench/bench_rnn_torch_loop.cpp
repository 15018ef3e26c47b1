// The workload of workload.hpp in libtorch, written as an explicit loop over time steps with
// autograd (addmm, tanh, cross_entropy): the same ops, in the same order, as bench_rnn_tapegrad.
// One intra-op thread unless OMP_NUM_THREADS says more (bench::threads_from_env); the SGD update
// runs under NoGradGuard.
#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <vector>

#include "args.hpp"
#include "workload.hpp"

namespace {

torch::Tensor weight(std::uint64_t id, std::size_t rows, std::size_t cols, std::size_t hidden) {
  const std::vector<float> w = bench::init_weight(id, rows, cols, hidden);
  return torch::from_blob(const_cast<float*>(w.data()), {std::int64_t(rows), std::int64_t(cols)},
                          torch::kFloat32)
      .clone()
      .requires_grad_(true);
}

int run(const bench::Args& a) {
  torch::set_num_threads(bench::threads_from_env());
  const std::int64_t H = std::int64_t(a.H), B = std::int64_t(a.B), T = std::int64_t(a.T),
                     V = std::int64_t(a.V);
  std::vector<torch::Tensor> params = {
      weight(bench::kWeightIH, a.H, a.V, a.H),    // W_ih [H, V]
      weight(bench::kWeightHH, a.H, a.H, a.H),    // W_hh [H, H]
      torch::zeros({H}, torch::requires_grad()),  // b_ih
      torch::zeros({H}, torch::requires_grad()),  // b_hh
      weight(bench::kWeightHY, a.V, a.H, a.H),    // W_hy [V, H]
      torch::zeros({V}, torch::requires_grad()),  // b_y
  };
  const torch::Tensor &W_ih = params[0], &W_hh = params[1], &b_ih = params[2], &b_hh = params[3],
                      &W_hy = params[4], &b_y = params[5];

  // The batch, prepared once: one [B, V] one-hot matrix per step, targets time-major.
  std::vector<std::int64_t> chars = bench::make_chars(a.B, a.T, a.V);
  std::vector<torch::Tensor> xs;
  for (std::size_t t = 0; t < a.T; ++t) {
    std::vector<std::int64_t> in = bench::inputs_at(chars, a.B, a.T, t);
    xs.push_back(torch::one_hot(torch::tensor(in, torch::kInt64), V).to(torch::kFloat32));
  }
  const torch::Tensor targets =
      torch::tensor(bench::targets_time_major(chars, a.B, a.T), torch::kInt64);

  auto step = [&]() -> float {
    torch::Tensor h = torch::zeros({B, H});
    std::vector<torch::Tensor> logits;
    logits.reserve(a.T);
    for (std::int64_t t = 0; t < T; ++t) {
      h = torch::tanh(torch::addmm(b_ih, xs[t], W_ih.t()) + torch::addmm(b_hh, h, W_hh.t()));
      logits.push_back(torch::addmm(b_y, h, W_hy.t()));
    }
    torch::Tensor loss = torch::nn::functional::cross_entropy(torch::cat(logits, 0), targets);
    const float value = loss.item<float>();
    loss.backward();
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : params) {
      p.sub_(p.grad(), bench::kLearningRate);
      p.grad().zero_();
    }
    return value;
  };

  const float loss0 = step();
  const float loss1 = step();
  const double rate = bench::steps_per_second(a, step);
  bench::print_result("torch_loop", a, loss0, loss1, rate);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args a = bench::parse_args(argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}
