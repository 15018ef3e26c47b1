#pragma once
// The tapegrad-lm training loop: truncated BPTT over B parallel streams with the hidden state
// carried (detached) from one chunk to the next, as char-rnn trains; validation over the held-out
// tail; checkpoints that a resumed run continues from exactly.
//
// Every check -- the data, the numbers, the output directory, a resumed checkpoint against the
// flags -- happens in Trainer's constructor, before anything is written, so a bad flag or a
// failed resume never touches an existing checkpoint.
#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "lm/model_dir.hpp"

namespace tapegrad::lm {

struct TrainOptions {
  std::string data_path;  // empty: the built-in corpus
  Hyperparameters hp;
  /// The flags given explicitly ("--hidden", "--data", ...). On --resume only these are compared
  /// with the checkpoint; the others are taken from it.
  std::vector<std::string> given;
  /// When to stop (at least one unless resuming, where the checkpoint's rule is the default):
  /// after max_steps steps in all, or when the training time of all sessions reaches
  /// max_seconds. Training time counts the steps only, not validation or checkpoints.
  std::optional<std::size_t> max_steps;
  std::optional<double> max_seconds;
  std::size_t val_every = 50;          // validate every N steps (and at the end)
  std::size_t checkpoint_every = 200;  // save every N steps (and at the end)
  std::size_t print_every = 50;        // a plain progress line every N steps off a terminal
  std::string out_dir = "tapegrad-lm-model";
  bool resume = false;
};

/// A loss summed over a text: nats per token, and bits per character.
struct Evaluation {
  double nats = 0;         // summed over the predicted tokens
  std::size_t tokens = 0;  // tokens predicted
  double characters = 0;   // characters those tokens stand for (see evaluate())
  double nats_per_token() const { return tokens ? nats / double(tokens) : 0.0; }
  double bits_per_character() const;
};

/// The loss of `net` over `tokens`, without gradients and deterministic. The n tokens are cut
/// into min(batch, n / (seq_len + 1)) streams (at least one), read in chunks of at most seq_len
/// steps with the state carried, and every symbol after the first of each stream is predicted
/// (a short last chunk included).
/// Characters: at character level one per token; at word level each token counts the file's
/// mean characters per token (all characters, whitespace included, over all tokens), given as
/// chars_per_token.
Evaluation evaluate(const Model& net, const Indices& tokens, std::size_t batch, std::size_t seq_len,
                    double chars_per_token = 1.0);

/// Characters per token of `text` at the vocabulary's level (1 at character level).
double characters_per_token(const std::string& text, const Vocabulary& vocabulary);

struct StepResult {
  float loss;
  double grad_norm;  // before clipping
  bool wrapped;      // the streams started over, so the carried state was reset
};

/// Where progress goes: a line redrawn in place on a terminal, plain lines otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter(std::FILE* out, bool terminal, std::size_t print_every)
      : out_(out), terminal_(terminal), print_every_(print_every ? print_every : 1) {}
  struct Status {
    std::size_t step;
    std::optional<std::size_t> max_steps;
    std::optional<double> max_seconds;
    float train_loss;
    std::optional<double> validation_loss;
    double tokens_per_second;
    double elapsed;  // training seconds, all sessions
    std::optional<double> eta;
    const char* unit;  // "chars" or "words"
  };
  void update(const Status& s, bool force = false);
  /// A message on a line of its own (the redrawn line, if any, is finished first).
  void message(const std::string& text);
  void finish();
  static std::string format(const Status& s);

 private:
  std::FILE* out_;
  bool terminal_;
  std::size_t print_every_;
  bool line_open_ = false;
  double last_draw_ = -1;
  std::size_t last_printed_step_ = 0;
};

class Trainer {
 public:
  explicit Trainer(const TrainOptions& options);

  /// One training step on the next chunk.
  StepResult step();
  /// Validation loss (nats per token) of the current model; recorded in the history.
  double validate();
  /// Measures how far the last step's final error reaches back (History's
  /// last_time_step_grad_norms), then writes the model directory.
  void save();

  enum class Outcome { finished, interrupted };
  /// Steps until the stopping rule or until *interrupt becomes true (then the current step is
  /// finished and a checkpoint saved). Validates and checkpoints on schedule and at the end.
  Outcome run(const std::atomic<bool>* interrupt, ProgressPrinter* printer);

  bool done() const;
  LanguageModel& model() { return *lm_; }
  const Progress& progress() const { return progress_; }
  const History& history() const { return history_; }
  const TrainOptions& options() const { return options_; }
  const DataIdentity& data() const { return data_; }
  const StreamBatcher& batcher() const { return *batcher_; }
  std::size_t validation_tokens() const { return split_.validation.size(); }
  double chars_per_token() const { return chars_per_token_; }
  std::optional<Evaluation> last_validation() const { return last_validation_; }
  /// ProgressPrinter's unit: "chars" or "words".
  const char* unit() const;

 private:
  ProgressPrinter::Status status() const;
  void measure_gradient_reach();

  TrainOptions options_;
  std::unique_ptr<LanguageModel> lm_;
  DataIdentity data_;
  Progress progress_;
  History history_;
  Split split_;
  std::optional<StreamBatcher> batcher_;
  double chars_per_token_ = 1;
  std::optional<Evaluation> last_validation_;
  Tape<float> tape_;
  std::vector<Var<float>> hidden_;
  // The last step's chunk and the state it started from, for measure_gradient_reach().
  std::optional<Batch> last_batch_;
  Model::State last_start_state_;
  std::size_t session_steps_ = 0;
  double session_seconds_ = 0;
  std::size_t session_tokens_ = 0;
};

}  // namespace tapegrad::lm
