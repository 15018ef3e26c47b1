// Tutorial section 5: next-word prediction. Vocabulary [king, sits, on, throne, the], one-hot
// input, hidden size 5, Xavier initialisation, plain gradient descent with lr 0.1, trained on
// "the king sits on throne". Then: what comes after "king sits on"?
//
//   king_sits_on [--trace] [--epochs N] [--listing] [--dot FILE]
//
// --trace prints the tutorial's seven steps with the engine's real numbers: the data, the
// initial weights, the forward pass, the loss, backpropagation through time (every gradient
// read from the tape after backward()), training, and the prediction. --listing prints the
// first training step's tape (Tape::listing) and --dot writes its Graphviz picture
// (Tape::to_dot) after its backward pass: the four unrolled steps, the weights they share, and
// the gradient reaching each.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include <tapegrad/models/next_word.hpp>
#include "common/cli.hpp"
#include "common/main.hpp"

using namespace tapegrad;
using Model = models::NextWordModel<float>;

namespace {

void row(const char* label, const Tensor<float>& t) {
  std::printf("    %-16s [", label);
  for (std::size_t i = 0; i < t.size(); ++i) std::printf("%s%+.4f", i ? ", " : "", t.data()[i]);
  std::printf("]\n");
}

void matrix(const char* label, const Tensor<float>& t) {
  std::printf("    %s %s\n", label, shape_str(t.shape()).c_str());
  const std::size_t cols = t.shape()[t.dimension() - 1];
  for (std::size_t r = 0; r < t.size() / cols; ++r) {
    std::printf("      ");
    for (std::size_t c = 0; c < cols; ++c) std::printf(" %+.4f", t.data()[r * cols + c]);
    std::printf("\n");
  }
}

double norm(const Tensor<float>& t) {
  double s = 0;
  for (float v : t) s += double(v) * v;
  return std::sqrt(s);
}

}  // namespace

static int run(int argc, char** argv) {
  bool trace = false, listing = false;
  int epochs = 1000;
  std::string dot_path;
  CLI::App app{
      "Next-word prediction over [king, sits, on, throne, the]: trains on \"the king sits on "
      "throne\", then prints P(next word | \"king sits on\").",
      "king_sits_on"};
  app.add_flag("--trace", trace,
               "print the tutorial's seven steps with the engine's numbers: data, initial "
               "weights, forward pass, loss, BPTT gradients, training, prediction");
  app.add_option("--epochs", epochs, "training epochs (full-batch gradient descent, lr 0.1)")
      ->type_name("N")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)  // as before: the last wins
      ->transform(examples::positive_integer(std::numeric_limits<int>::max()))
      ->capture_default_str();
  app.add_flag("--listing", listing,
               "print the first training step's tape after its backward pass: one line per "
               "node with its shape, the bytes it keeps for backward and its scope");
  app.add_option("--dot", dot_path,
                 "write the first training step's tape as Graphviz DOT to FILE (render it with "
                 "dot -Tsvg FILE): one cluster per time step, edges coloured by gradient norm")
      ->type_name("FILE");
  if (const auto code = examples::parse_command_line(app, argc, argv,
                                                     "[--trace] [--epochs N] [--listing] "
                                                     "[--dot FILE]"))
    return *code;
  const std::vector<std::string> vocabulary = {"king", "sits", "on", "throne", "the"};
  const std::vector<std::string> sentence = {"the", "king", "sits", "on", "throne"};
  nn::Rng rng(2024);
  Model model(vocabulary, 5, rng);
  const Indices words = model.encode(sentence);

  if (trace) {
    std::printf("STEP 1  data preparation\n  vocabulary: ");
    for (std::size_t i = 0; i < vocabulary.size(); ++i)
      std::printf("%s=%zu ", vocabulary[i].c_str(), i);
    std::printf("\n  sentence \"the king sits on throne\" -> indices [");
    for (std::size_t i = 0; i < words.size(); ++i)
      std::printf("%s%lld", i ? ", " : "", (long long)words[i]);
    std::printf("]\n  inputs are the first four words, targets the next word of each:\n");
    for (std::size_t t = 0; t + 1 < words.size(); ++t) {
      std::printf("    t=%zu  %-5s -> %-6s  one-hot ", t + 1, sentence[t].c_str(),
                  sentence[t + 1].c_str());
      row("", one_hot<float>({words[t]}, vocabulary.size()));
    }
    std::printf("\nSTEP 2  initialisation (Xavier uniform, zero biases, seed 2024)\n");
    for (auto& [name, p] : model.named_parameters()) matrix(name.c_str(), p->value);
  }

  Tape<float> tape;
  if (trace) {
    Model::Trace tr;
    Var<float> loss = model.loss(tape, words, &tr);
    std::printf("\nSTEP 3  forward pass (h_0 = 0)\n");
    for (std::size_t t = 0; t < tr.h.size(); ++t) {
      std::printf("  t=%zu  input '%s'\n", t + 1, sentence[t].c_str());
      row("h_t", tr.h[t].value());
      row("logits y_t", tr.logits[t].value());
      Tensor<float> p = tr.probabilities.value();
      Tensor<float> pt = Tensor<float>::from_shape({vocabulary.size()});
      for (std::size_t j = 0; j < vocabulary.size(); ++j) pt(j) = p(t, j);
      row("softmax p_t", pt);
    }
    std::printf("\nSTEP 4  loss: mean cross-entropy over the 4 predictions = %.6f (ln 5 = %.4f)\n",
                loss.item(), std::log(5.0));
    tape.backward(loss);
    std::printf(
        "\nSTEP 5  backpropagation through time: one reverse walk over the tape; every number\n"
        "        below is a gradient the tape holds after backward()\n");
    for (std::size_t t = tr.h.size(); t-- > 0;) {
      std::printf("  t=%zu\n", t + 1);
      row("dy  (p - onehot)/4", tr.logits[t].grad());
      row("dh  (from y + next)", tr.h[t].grad());
      row("dh_raw (thru tanh)", tr.a[t].grad());
      row("dh_next (to t-1)", tr.h_prev[t].grad());
    }
    std::printf(
        "  gradient norm |dL/dh_t| reaching each step (how much signal survives going back):\n");
    for (std::size_t t = 0; t < tr.h.size(); ++t)
      std::printf("    t=%zu  %.6f\n", t + 1, norm(tr.h[t].grad()));
    std::printf("\nSTEP 6  training: the weight gradients accumulated over all time steps\n");
    for (auto& [name, p] : model.named_parameters()) matrix(("dL/d" + name).c_str(), p->grad);
    model.zero_grad();
    tape.clear();
  }

  nn::SGD<float> opt(model.parameters(), 0.1);
  if (trace) std::printf("  plain gradient descent, lr 0.1, %d epochs:\n", epochs);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    Var<float> loss = model.loss(tape, words);
    if (trace && (epoch == 1 || epoch % (epochs / 10 > 0 ? epochs / 10 : 1) == 0))
      std::printf("    epoch %5d  loss %.6f\n", epoch, loss.item());
    tape.backward(loss);
    if (epoch == 1 && listing)
      std::printf("the tape of the first training step, after backward():\n%s\n",
                  tape.listing().c_str());
    if (epoch == 1 && !dot_path.empty()) {
      nn::write_file_atomically(dot_path, tape.to_dot());
      std::printf("wrote %s (the first training step's tape)\n", dot_path.c_str());
    }
    opt.step();
    opt.zero_grad();
    tape.clear();
  }

  if (trace) std::printf("\nSTEP 7  inference\n");
  const Tensor<float> p = model.predict(model.encode({"king", "sits", "on"}));
  std::printf("P(next word | \"king sits on\"):\n");
  std::size_t best = 0;
  for (std::size_t j = 0; j < vocabulary.size(); ++j) {
    std::printf("  %-7s %.4f\n", vocabulary[j].c_str(), p(j));
    if (p(j) > p(best)) best = j;
  }
  std::printf("prediction: %s (p = %.4f)\n", vocabulary[best].c_str(), p(best));
  return 0;
}

TAPEGRAD_EXAMPLE_MAIN(run)
