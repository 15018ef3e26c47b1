// The LSTM variant of the workload of workload.hpp with libtorch's modules: torch::nn::LSTM
// (one layer) over the whole [T, B, V] one-hot sequence, torch::nn::Linear on all T*B hidden states
// at once, cross_entropy, torch::optim::SGD. Weights copied in from the shared hashed init. One
// thread unless OMP_NUM_THREADS says more (bench::threads_from_env).
#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <vector>

#include "args.hpp"
#include "workload.hpp"

namespace {

void load(torch::Tensor p, std::uint64_t id, std::size_t rows, std::size_t cols,
          std::size_t hidden) {
  std::vector<float> w = bench::init_weight(id, rows, cols, hidden);
  torch::NoGradGuard no_grad;
  p.copy_(torch::from_blob(w.data(), {std::int64_t(rows), std::int64_t(cols)}, torch::kFloat32));
}

int run(const bench::Args& a) {
  torch::set_num_threads(bench::threads_from_env());
  const std::int64_t B = std::int64_t(a.B), T = std::int64_t(a.T), V = std::int64_t(a.V);
  constexpr std::size_t G = 4;  // gate blocks in the stacked weights: i, f, g, o
  torch::nn::LSTM rnn(
      torch::nn::LSTMOptions(V, std::int64_t(a.H)).num_layers(1).bias(true).batch_first(false));
  torch::nn::Linear out(torch::nn::LinearOptions(std::int64_t(a.H), V));
  load(rnn->named_parameters()["weight_ih_l0"], bench::kWeightIH, G * a.H, a.V, a.H);
  load(rnn->named_parameters()["weight_hh_l0"], bench::kWeightHH, G * a.H, a.H, a.H);
  load(out->weight, bench::kWeightHY, a.V, a.H, a.H);
  {
    torch::NoGradGuard no_grad;
    rnn->named_parameters()["bias_ih_l0"].zero_();
    rnn->named_parameters()["bias_hh_l0"].zero_();
    out->bias.zero_();
  }
  std::vector<torch::Tensor> params = rnn->parameters();
  for (const torch::Tensor& p : out->parameters()) params.push_back(p);
  torch::optim::SGD sgd(params, torch::optim::SGDOptions(bench::kLearningRate));

  // The batch, prepared once: [T, B, V] one-hot (time-major, as torch::nn::RNN expects).
  std::vector<std::int64_t> chars = bench::make_chars(a.B, a.T, a.V);
  std::vector<std::int64_t> inputs;
  for (std::size_t t = 0; t < a.T; ++t)
    for (std::int64_t c : bench::inputs_at(chars, a.B, a.T, t)) inputs.push_back(c);
  const torch::Tensor x =
      torch::one_hot(torch::tensor(inputs, torch::kInt64), V).to(torch::kFloat32).view({T, B, V});
  const torch::Tensor targets =
      torch::tensor(bench::targets_time_major(chars, a.B, a.T), torch::kInt64);

  auto step = [&]() -> float {
    torch::Tensor hs = std::get<0>(rnn->forward(x));  // [T, B, H], zero initial state
    torch::Tensor logits = out->forward(hs.reshape({T * B, std::int64_t(a.H)}));
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, targets);
    const float value = loss.item<float>();
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    return value;
  };

  const float loss0 = step();
  const float loss1 = step();
  const double rate = bench::steps_per_second(a, step);
  bench::print_result("lstm_torch_nn_lstm", a, loss0, loss1, rate);
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
