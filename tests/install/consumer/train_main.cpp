// A training program against the installed package: a Trainer fits y = 3x with one linear
// layer, and must bring the loss down.
#include <cstdio>

#include <tapegrad/nn/nn.hpp>
#include <tapegrad/train/trainer.hpp>
using namespace tapegrad;

struct LineTask : train::Task {
  explicit LineTask(nn::Linear<float>& l) : layer(l) {
    const float xs[] = {1.0f, 2.0f, -1.0f};
    for (std::size_t i = 0; i < 3; ++i) x(i, 0) = xs[i], y(i, 0) = 3.0f * xs[i];
  }
  Var<float> training_loss(Tape<float>& tape) override {
    return mse_loss(layer(tape.constant(x)), tape.constant(y));
  }
  std::size_t items_in_last_batch() const override { return 3; }
  nn::Linear<float>& layer;
  Tensor<float> x = Tensor<float>::from_shape({3, 1}), y = Tensor<float>::from_shape({3, 1});
};

int main() {
  nn::Rng rng(1);
  nn::Linear<float> layer(1, 1, rng);
  nn::SGD<float> sgd(layer.parameters(), 0.05);
  LineTask task(layer);
  train::TrainerOptions o;
  o.max_steps = 200;
  train::Trainer trainer(layer, sgd, task, o);
  trainer.run();
  const train::History& h = trainer.history();
  std::printf("loss %g -> %g\n", double(h.train_loss.front()), double(h.train_loss.back()));
  return h.train_loss.back() < 0.01f * h.train_loss.front() ? 0 : 1;
}
