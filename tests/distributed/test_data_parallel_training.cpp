// The Trainer and the LanguageModelTask over two processes (mpirun -np 2) against the same run in
// one process, which every process also trains itself as the reference: the same losses and
// parameters; resuming with 2 processes from a checkpoint written by 1 and the reverse; an
// interrupt seen by one process stops both after the same step; a process whose parameters
// drift is named; errors every process raises together.
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/train/language_model.hpp>
#include <tapegrad/train/value_error.hpp>

#include "distributed/world.hpp"
#include "support/error_of.hpp"
#include "support/scratch_dir.hpp"

using namespace tapegrad;
using namespace tapegrad::train;
using testsupport::world;

namespace {

constexpr std::size_t kVocabulary = 7, kBatch = 8, kSeqLen = 6, kSteps = 30;

Indices tokens(std::size_t n) {
  Indices out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::int64_t((i * 3 + i / 5 + i / 11) % kVocabulary);
  return out;
}

// An LSTM language model (so that the carried state has h and c), Adam, and the task over the
// global batch of 8 streams, shared among `processes` (null: alone).
struct LmJob {
  explicit LmJob(ProcessGroup* processes, std::uint64_t seed = 1)
      : rng(seed),
        net(kVocabulary, 4, 12, 2, LanguageModelNet::Cell::lstm, rng),
        adam(net.parameters(), 0.02),
        carried(net.zero_state(kBatch)),
        task(net, carried, tokens(8 * 40), tokens(90), kBatch, kSeqLen, "symbols", 1.0, processes) {
  }
  nn::Rng rng;
  LanguageModelNet net;
  nn::Adam<float> adam;
  LanguageModelNet::State carried;
  LanguageModelTask task;

  std::vector<float> parameters() {
    std::vector<float> out;
    for (Parameter<float>* p : net.parameters())
      out.insert(out.end(), p->value.begin(), p->value.end());
    return out;
  }
};

TrainerOptions options(ProcessGroup* processes, const std::string& out, std::size_t steps) {
  TrainerOptions o;
  o.max_steps = steps;
  o.validate_every = 10;
  o.checkpoint_every = 100;
  o.clip = 1.0;
  o.out_dir = out;
  o.processes = processes;
  o.verify_every = 5;
  return o;
}

// The reference: the run of one process on the whole batch (every process trains it alone).
struct Reference {
  Reference() : job(nullptr) {
    Trainer t(job.net, job.adam, job.task, options(nullptr, "", kSteps));
    t.run();
    history = t.history();
    parameters = job.parameters();
  }
  LmJob job;
  History history;
  std::vector<float> parameters;
};

const Reference& reference() {
  static const Reference r;
  return r;
}

// Two runs agree to float rounding. The processes sum their shares of every weight gradient in
// another order than one process's GEMM over all rows does, and average two per-shard mean
// losses instead of taking one mean, so the float results differ in the last bits (about 1e-7
// relative) and Adam carries such differences on. Measured over 30 steps: at most 6e-7 relative
// for the losses and 1.1e-6 for the weights; the tolerances leave a margin of 9-30x, far below
// what a wrong average (a sum, a missing share) makes.
constexpr double kLossTolerance = 2e-5, kWeightTolerance = 1e-5;

void check_losses(const std::vector<float>& got, const std::vector<float>& want) {
  BOOST_TEST_REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])) / std::abs(double(want[i])));
  BOOST_TEST_MESSAGE("largest relative loss difference " << worst);
  BOOST_TEST(worst < kLossTolerance);
}

void check_weights(const std::vector<float>& got, const std::vector<float>& want) {
  BOOST_TEST_REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])));
  BOOST_TEST_MESSAGE("largest weight difference " << worst);
  BOOST_TEST(worst < kWeightTolerance);
}

// A scratch directory both processes use: rank 0 makes it, every process gets its name.
struct SharedDir {
  SharedDir() {
    if (world().rank() == 0) dir = std::make_unique<testsupport::ScratchDir>("data_parallel");
    path = broadcast_string(world(), dir ? dir->dir.string() : "");
  }
  ~SharedDir() {
    double done = 1;
    world().sum(&done, 1);  // nobody reads it any more
  }
  std::string sub(const std::string& name) const { return path + "/" + name; }
  std::unique_ptr<testsupport::ScratchDir> dir;
  std::string path;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(data_parallel_training)

BOOST_AUTO_TEST_CASE(two_processes_train_what_one_trains) {
  const Reference& ref = reference();
  BOOST_TEST(ref.history.train_loss.back() < ref.history.train_loss.front() - 0.3f);
  SharedDir shared;
  LmJob job(&world());
  Trainer t(job.net, job.adam, job.task, options(&world(), shared.sub("run"), kSteps));
  BOOST_TEST((t.run() == Trainer::Outcome::finished));
  check_losses(t.history().train_loss, ref.history.train_loss);
  check_weights(job.parameters(), ref.parameters);
  // Gradient norms after averaging, and the validations (shared out and summed).
  check_losses(t.history().grad_norm, ref.history.grad_norm);
  BOOST_TEST_REQUIRE(t.history().validation.size() == ref.history.validation.size());
  for (std::size_t i = 0; i < ref.history.validation.size(); ++i)
    BOOST_TEST(t.history().validation[i].second == ref.history.validation[i].second,
               boost::test_tools::tolerance(kLossTolerance));
  // The diagnostics are the whole batch's, as alone.
  const auto& got = job.task.last_step_hidden_grad_norms();
  const auto& want = ref.job.task.last_step_hidden_grad_norms();
  BOOST_TEST_REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    BOOST_TEST(got[i] == want[i], boost::test_tools::tolerance(1e-3));
  // Every process holds the same weights, and the whole batch's items were counted.
  check_same_everywhere(world(), fingerprint_values(job.net.parameters()), "the weights");
  BOOST_TEST(t.progress().train_items == kSteps * kBatch * kSeqLen);
  // Rank 0 alone wrote the checkpoint, with every stream's carried state.
  if (world().rank() == 0) {
    LmJob alone(nullptr, 7);
    Trainer r(alone.net, alone.adam, alone.task, options(nullptr, shared.sub("run"), kSteps + 1));
    r.resume();
    BOOST_TEST(alone.carried.h[0].shape()[0] == kBatch);
    check_weights(alone.parameters(), ref.parameters);
  }
}

BOOST_AUTO_TEST_CASE(resume_with_two_processes_from_one_and_with_one_from_two) {
  const Reference& ref = reference();
  SharedDir shared;
  // 1 -> 2: rank 0 trains 15 steps alone, then both continue to 30.
  if (world().rank() == 0) {
    LmJob alone(nullptr);
    Trainer t(alone.net, alone.adam, alone.task, options(nullptr, shared.sub("one"), 15));
    t.run();
  }
  world().barrier();
  {
    LmJob job(&world(), 99);  // other weights: everything comes from the checkpoint
    Trainer t(job.net, job.adam, job.task, options(&world(), shared.sub("one"), kSteps));
    t.resume();
    t.run();
    check_losses(t.history().train_loss, ref.history.train_loss);
    check_weights(job.parameters(), ref.parameters);
  }
  // 2 -> 1: both train 15 steps, then rank 0 continues alone.
  {
    LmJob job(&world());
    Trainer t(job.net, job.adam, job.task, options(&world(), shared.sub("two"), 15));
    t.run();
  }
  world().barrier();
  if (world().rank() == 0) {
    LmJob alone(nullptr, 99);
    Trainer t(alone.net, alone.adam, alone.task, options(nullptr, shared.sub("two"), kSteps));
    t.resume();
    t.run();
    check_losses(t.history().train_loss, ref.history.train_loss);
    check_weights(alone.parameters(), ref.parameters);
    BOOST_TEST((alone.task.batcher().position() == ref.job.task.batcher().position()));
  }
}

BOOST_AUTO_TEST_CASE(an_interrupt_on_one_process_stops_both_after_the_same_step) {
  SharedDir shared;
  LmJob job(&world());
  std::atomic<bool> stop{false};
  TrainerOptions o = options(&world(), shared.sub("run"), kSteps);
  o.interrupt = &stop;
  // Only rank 1 is signalled, at step 7.
  o.on_progress = [&](const Report& r) { stop = world().rank() == 1 && r.step >= 7; };
  Trainer t(job.net, job.adam, job.task, o);
  BOOST_TEST((t.run() == Trainer::Outcome::interrupted));
  // Rank 1 saw it after step 7; both learn of it at the end of step 8 and stop there.
  BOOST_TEST(t.progress().step == 8u);
  check_same_everywhere(world(), t.progress().step, "the step interrupted at");
  if (world().rank() == 0) {
    LmJob alone(nullptr, 5);
    Trainer r(alone.net, alone.adam, alone.task, options(nullptr, shared.sub("run"), kSteps));
    r.resume();
    BOOST_TEST(r.progress().step == 8u);
  }
}

BOOST_AUTO_TEST_CASE(a_process_whose_parameters_drift_is_named) {
  LmJob job(&world());
  TrainerOptions o = options(&world(), "", kSteps);
  bool drifted = false;
  o.hooks.optimizer_step = [&](nn::Optimizer<float>& opt) {
    opt.step();
    if (world().rank() == 1 && !drifted) {  // a flipped bit, another library, a bug
      job.net.parameters()[0]->value.data()[0] += 1e-3f;
      drifted = true;
    }
  };
  Trainer t(job.net, job.adam, job.task, o);
  const std::string message = testsupport::error_of([&] { t.run(); });
  BOOST_TEST(message ==
             "after step 5, the parameters (bit for bit): process 1 differs from "
             "process 0");
  BOOST_TEST(t.progress().step == 5u);
}

BOOST_AUTO_TEST_CASE(errors_every_process_raises_together) {
  // A global batch that does not divide among the processes, before anything runs.
  {
    nn::Rng rng(1);
    LanguageModelNet net(kVocabulary, 4, 12, 1, LanguageModelNet::Cell::lstm, rng);
    LanguageModelNet::State carried = net.zero_state(3);
    try {
      LanguageModelTask task(net, carried, tokens(200), tokens(50), 3, kSeqLen, "symbols", 1.0,
                             &world());
      BOOST_ERROR("no error");
    } catch (const ValueError& e) {
      BOOST_TEST(e.message_template() ==
                 "{batch} 3 does not divide among 2 processes: every process trains on an equal "
                 "share of the streams (give a multiple of 2)");
    }
  }
  // A loss that is not finite on one process only: the average is not either, on both.
  {
    LmJob job(&world());
    struct Poisoned : Task {
      explicit Poisoned(LanguageModelTask& inner) : inner(inner) {}
      LanguageModelTask& inner;
      std::size_t calls = 0;
      Var<float> training_loss(Tape<float>& tape) override {
        const Var<float> loss = inner.training_loss(tape);
        return ++calls == 3 && world().rank() == 1 ? mul_scalar(loss, float(NAN)) : loss;
      }
      std::size_t items_in_last_batch() const override { return inner.items_in_last_batch(); }
    } poisoned(job.task);
    Trainer t(job.net, job.adam, poisoned, options(&world(), "", kSteps));
    BOOST_CHECK_THROW(t.run(), CollectiveError);
    BOOST_TEST(t.progress().step == 2u);
  }
  // A process built with another model: refused before any gradient is sent.
  {
    nn::Rng rng(1);
    LanguageModelNet net(kVocabulary, 4, world().rank() == 0 ? 12 : 13, 1,
                         LanguageModelNet::Cell::lstm, rng);
    nn::Adam<float> adam(net.parameters(), 0.02);
    LanguageModelNet::State carried = net.zero_state(kBatch);
    LanguageModelTask task(net, carried, tokens(8 * 40), tokens(90), kBatch, kSeqLen, "symbols",
                           1.0, &world());
    Trainer t(net, adam, task, options(&world(), "", kSteps));
    BOOST_TEST(testsupport::error_of([&] { t.run(); }) ==
               "the model's parameters (names and shapes): process 1 differs from process 0");
  }
}

BOOST_AUTO_TEST_SUITE_END()
