#pragma once
// tapegrad-lm train: a train::Trainer running a train::LanguageModelTask (truncated BPTT over B
// parallel streams with the hidden state carried, as char-rnn trains), set up from the
// program's options: the text and its vocabulary, the checks a resumed run must pass against its
// checkpoint, the model directory's plots and summary, and the progress line.
//
// Every check -- the data, the numbers, the output directory, a resumed checkpoint against the
// flags -- happens in Trainer's constructor, before anything is written, so a bad flag or a
// failed resume never touches an existing checkpoint. Errors name the flags.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
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
  /// The largest text file read (--max-text).
  std::uint64_t max_text_bytes = kDefaultMaxTextBytes;
  /// The most memory a run may need, by train::estimate_training_memory (--max-memory); none:
  /// the machine's physical memory.
  std::optional<double> max_memory_bytes;
  /// The processes of a data-parallel run (mpirun); null: this process alone. --batch is the
  /// global batch and must divide among them; rank 0 alone writes the model directory.
  train::ProcessGroup* processes = nullptr;
};

/// A run refused before anything was written because of what the flags asked for (a value out
/// of range, values that contradict each other): tapegrad-lm treats it as a usage error (exit 2).
struct UsageError : Error {
  using Error::Error;
};

/// A run refused before it allocated anything because it would need more memory than allowed.
struct MemoryLimitError : UsageError {
  using UsageError::UsageError;
};

/// The machine's physical memory in bytes (the default --max-memory).
double machine_memory_bytes();

using train::evaluate;

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
    double lr;  // of the last step
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
  // The library Trainer's callbacks hold this object's address.
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// One training step on the next chunk.
  StepResult step();
  /// Validation loss (nats per token) of the current model, recorded in the history; NaN
  /// without validation data.
  double validate();
  /// Writes the model directory (the checkpoint, log.csv, the plots and the summary).
  void save();

  enum class Outcome { finished, interrupted, stopped_early };
  /// Steps until the stopping rule or until *interrupt becomes true (then the current step is
  /// finished and a checkpoint saved). Validates and checkpoints on schedule and at the end.
  Outcome run(const std::atomic<bool>* interrupt, ProgressPrinter* printer);

  bool done() const { return trainer_->done(); }
  LanguageModel& model() { return *lm_; }
  const Progress& progress() const { return trainer_->progress(); }
  /// The loss curves and the gradient diagnostics as they are now.
  const History& history() const;
  const TrainOptions& options() const { return options_; }
  const DataIdentity& data() const { return data_; }
  const StreamBatcher& batcher() const { return task_->batcher(); }
  std::size_t validation_tokens() const { return task_->validation_tokens(); }
  double chars_per_token() const { return chars_per_token_; }
  /// What the run was estimated to need, checked against max_memory_bytes before building it.
  const train::TrainingMemory& memory() const { return memory_; }
  double memory_limit() const;
  std::optional<Evaluation> last_validation() const;
  /// The step and loss of the best validation so far (best.npz holds that step), if any.
  std::optional<std::pair<std::size_t, double>> best_validation() const;
  /// Seconds spent averaging gradients over the processes, this session.
  double averaging_seconds() const { return trainer_->averaging_seconds(); }
  /// ProgressPrinter's unit: "chars" or "words".
  const char* unit() const;

 private:
  void set_up(const std::string& text);
  void check_memory(const Hyperparameters& hp, std::size_t vocabulary, const std::string& text);
  // What the schema's per-field ranges cannot see: the warm-up against the run's length, a
  // forget-gate bias without an lstm. UsageErrors naming the flags.
  static void check_recipe(const Hyperparameters& hp, std::optional<std::size_t> max_steps);

  TrainOptions options_;
  std::unique_ptr<LanguageModel> lm_;
  DataIdentity data_;
  double chars_per_token_ = 1;
  train::TrainingMemory memory_;
  std::optional<Evaluation> resumed_validation_;
  std::unique_ptr<train::LanguageModelTask> task_;
  std::unique_ptr<train::Trainer> trainer_;
  ProgressPrinter* printer_ = nullptr;
  const std::atomic<bool>* interrupt_ = nullptr;
  mutable History history_;
};

}  // namespace tapegrad::lm
