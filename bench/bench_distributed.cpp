// Data-parallel training speed: the training step of workload.hpp (an RNN or LSTM language model,
// float32, full BPTT, SGD) with its global batch of B streams shared among the processes of
// `mpirun -np N`, each process on B / N streams, the gradients averaged by
// train::GradientAverager (one allreduce per step). bench/run_distributed.sh runs it with N = 1
// and N = 2 and compares.
//
//   mpirun -np N bench_distributed rnn|lstm H B T V [--seconds S] [--independent]
//
// --independent: every process trains its share without averaging, as N unrelated one-core jobs
// would: what N processes on this machine can reach at best (its cores may slow each other down).
//
// Rank 0 prints one JSON line: steps per second of the global batch, the share of the step
// spent averaging (the allreduce, waiting for the slower process included, and the copies), the
// time of one allreduce of the gradient buffer alone (the processes waiting for nothing else),
// every process's peak resident size, and the loss of the first two steps (which must not
// depend on N: the same global batch, the same weights).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <tapegrad/distributed/communicator.hpp>
#include <tapegrad/nn/nn.hpp>
#include <tapegrad/train/data_parallel.hpp>
#include <tapegrad/train/stream_batcher.hpp>

#include "args.hpp"
#include "workload.hpp"

namespace {

using tapegrad::Indices;
using tapegrad::Parameter;
using tapegrad::Tape;
using tapegrad::Var;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void load(Parameter<float>& p, const std::vector<float>& values) {
  if (values.size() != p.value.size()) throw tapegrad::Error("load: size mismatch");
  std::copy(values.begin(), values.end(), p.value.begin());
}

// The weights of workload.hpp for a one-layer cell (G gates) and the head.
template <class Cell>
void load_workload(Cell& cell, tapegrad::nn::Linear<float>& head, std::size_t gates,
                   const bench::Args& a) {
  load(cell.weight_ih(), bench::init_weight(bench::kWeightIH, gates * a.H, a.V, a.H));
  load(cell.weight_hh(), bench::init_weight(bench::kWeightHH, gates * a.H, a.H, a.H));
  cell.bias_ih().value.fill(0.0f);
  cell.bias_hh().value.fill(0.0f);
  load(head.weight(), bench::init_weight(bench::kWeightHY, a.V, a.H, a.H));
  head.bias().value.fill(0.0f);
}

template <class Recurrent>
int run(tapegrad::distributed::Communicator& world, const char* cell_name, std::size_t gates,
        const bench::Args& a, bool independent) {
  const std::size_t N = world.size();
  if (a.B % N != 0) {
    if (world.rank() == 0)
      std::fprintf(stderr, "bench_distributed: B %zu does not divide among %zu processes\n", a.B,
                   N);
    return 2;
  }
  tapegrad::nn::Rng rng(0);
  Recurrent recurrent(a.V, a.H, 1, rng);
  tapegrad::nn::Linear<float> head(a.H, a.V, rng);
  load_workload(recurrent.layer(0), head, gates, a);
  std::vector<Parameter<float>*> params = recurrent.parameters();
  for (Parameter<float>* p : head.parameters()) params.push_back(p);
  tapegrad::nn::SGD<float> sgd(params, bench::kLearningRate);
  tapegrad::train::GradientAverager<float> average(world, params, 1);

  // This process's share of the global batch: the same streams one process reads, cut by the
  // global batch.
  const tapegrad::train::Batch batch =
      tapegrad::train::StreamBatcher(bench::make_chars(a.B, a.T, a.V), a.B, a.T, "symbols",
                                     tapegrad::train::shard_of(&world))
          .next();
  Tape<float> tape;
  std::vector<Var<float>> xs;
  auto step = [&]() -> float {
    xs.clear();
    for (const Indices& in : batch.inputs) xs.push_back(tape.one_hot(in, a.V));
    auto seq = recurrent(xs);
    Var<float> loss =
        tapegrad::softmax_cross_entropy(head(tapegrad::concat(seq.outputs, 0)), batch.targets);
    float value = loss.item();
    tape.backward(loss);
    if (!independent) average(&value);  // the global batch's gradients and loss
    sgd.step();
    sgd.zero_grad();
    tape.clear();
    return value;
  };

  const float loss0 = step();
  const float loss1 = step();
  // Every process must take the same number of steps (each one's allreduce waits for all):
  // rank 0 times a few and decides for everyone.
  for (int i = 0; i < 3; ++i) step();
  world.barrier();
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 5; ++i) step();
  std::uint64_t steps = std::uint64_t(std::max(10.0, a.seconds / (since(t0) / 5)));
  world.broadcast(&steps, sizeof steps, 0);

  const double averaging_before = average.sum_seconds() + average.copy_seconds();
  const double copy_before = average.copy_seconds();
  world.barrier();
  t0 = Clock::now();
  for (std::uint64_t i = 0; i < steps; ++i) step();
  world.barrier();
  const double elapsed = since(t0);
  const double averaging = average.sum_seconds() + average.copy_seconds() - averaging_before;
  const double copying = average.copy_seconds() - copy_before;

  // The allreduce alone: the gradient buffer summed back to back, nobody computing.
  std::vector<float> buffer(average.values(), 1.0f);
  const int reps = 50;
  world.barrier();
  t0 = Clock::now();
  for (int i = 0; i < reps; ++i) world.sum(buffer.data(), buffer.size());
  const double allreduce = since(t0) / reps;

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const std::int64_t mine = usage.ru_maxrss;  // kB
  std::vector<std::int64_t> peaks(N);
  world.gather(&mine, sizeof mine, peaks.data(), 0);
  // Each process's own work per step (the step without the averaging): with N processes on N
  // cores it should be the N = 1 step over N; more means the cores slow each other down.
  const double compute_ms = 1000 * (elapsed - averaging) / double(steps);
  std::vector<double> computes(N);
  world.gather(&compute_ms, sizeof compute_ms, computes.data(), 0);
  double shares[2] = {averaging / elapsed, copying / elapsed};  // the means over the processes
  world.sum(shares, 2);

  if (world.rank() == 0) {
    std::string rss;
    for (std::size_t r = 0; r < N; ++r) rss += (r ? ", " : "") + std::to_string(peaks[r]);
    std::string compute;
    for (std::size_t r = 0; r < N; ++r) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.3f", r ? ", " : "", computes[r]);
      compute += buf;
    }
    std::printf(
        "{\"impl\": \"%s\", \"cell\": \"%s\", \"processes\": %zu, \"H\": %zu, \"B\": %zu, "
        "\"T\": %zu, \"V\": %zu, \"gradient_floats\": %zu, \"loss0\": %.9g, \"loss1\": %.9g, "
        "\"steps\": %llu, \"steps_per_s\": %.6g, \"averaging_share\": %.6g, \"copy_share\": %.6g, "
        "\"allreduce_alone_s\": %.6g, \"compute_ms\": [%s], \"peak_rss_kb\": [%s]}\n",
        independent ? "independent" : "tapegrad", cell_name, N, a.H, a.B, a.T, a.V,
        average.values() - 1, double(loss0), double(loss1), static_cast<unsigned long long>(steps),
        double(steps) / elapsed, shares[0] / double(N), shares[1] / double(N), allreduce,
        compute.c_str(), rss.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tapegrad::distributed::Communicator world(&argc, &argv);
  // The cell comes first; the sizes and flags are the other programs' (args.hpp).
  const std::string cell = argc > 1 ? argv[1] : "";
  if (cell != "rnn" && cell != "lstm") {
    if (world.rank() == 0)
      std::fprintf(stderr,
                   "usage: mpirun -np N bench_distributed rnn|lstm H B T V [--seconds S] "
                   "[--independent]: the "
                   "cell must be rnn or lstm, got '%s'\n",
                   cell.c_str());
    return 2;
  }
  std::vector<char*> rest{argv[0]};
  bool independent = false;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--independent")
      independent = true;
    else
      rest.push_back(argv[i]);
  }
  const bench::Args a = bench::parse_args(int(rest.size()), rest.data());
  try {
    return cell == "rnn" ? run<tapegrad::nn::RNN<float>>(world, "rnn", 1, a, independent)
                         : run<tapegrad::nn::LSTM<float>>(world, "lstm", 4, a, independent);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_distributed: process %zu: %s\n", world.rank(), e.what());
    world.abort(1);
  }
}
