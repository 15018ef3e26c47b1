#pragma once
// Training and using a models::CharLM over token indices: the loss over a token sequence
// (evaluate), the next-token distribution and draws from it (the sampling helpers a sampler, a
// completer or an incremental predictor is made of), and the training Task of truncated BPTT over
// B parallel streams with the hidden state carried from one chunk to the next, as char-rnn
// trains. Nothing here knows text: a program maps symbols to indices itself.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <tapegrad/models/char_lm.hpp>
#include <tapegrad/train/data_parallel.hpp>
#include <tapegrad/train/stream_batcher.hpp>
#include <tapegrad/train/trainer.hpp>

namespace tapegrad::train {

using LanguageModelNet = models::CharLM<float>;

/// A loss summed over a token sequence: nats per token, and bits per character.
struct Evaluation {
  double nats = 0;         // summed over the predicted tokens
  std::size_t tokens = 0;  // tokens predicted
  double characters = 0;   // characters those tokens stand for (see evaluate())
  /// Predictions whose target was the most likely token, and among the three most likely (a
  /// target tied with others counts as ranked after them: no credit for a flat distribution).
  std::size_t top1 = 0, top3 = 0;
  double nats_per_token() const { return tokens ? nats / double(tokens) : 0.0; }
  double bits_per_character() const;
  /// exp(nats per token).
  double perplexity() const;
  double top1_accuracy() const { return tokens ? double(top1) / double(tokens) : 0.0; }
  double top3_accuracy() const { return tokens ? double(top3) / double(tokens) : 0.0; }
};

/// The loss of `net` over `tokens`, without gradients and deterministic. The n tokens are cut
/// into min(batch, n / (seq_len + 1)) streams (at least one), read in chunks of at most seq_len
/// steps with the state carried, and every symbol after the first of each stream is predicted
/// (a short last chunk included). Each token stands for chars_per_token characters (1 at
/// character level; at word level the text's mean, whitespace included). With a `shard`, only
/// the shard's part of those streams is read: the sums of the shards' evaluations are the
/// whole's (a shard with no stream returns zeros). `never_suggested`: a token a keyboard never
/// offers (word level's "<unk>"), left out of the top-1/top-3 ranks, and a miss where it is the
/// target; -1: none. The loss counts every token either way.
Evaluation evaluate(const LanguageModelNet& net, const Indices& tokens, std::size_t batch,
                    std::size_t seq_len, double chars_per_token = 1.0, Shard shard = {},
                    std::int64_t never_suggested = -1);

// ---------------------------------------------------------------------------------------------
// Sampling helpers. All run without gradients, one stream, with the state carried from token to
// token.

/// Feeds `tokens` (at least one) from `state` on, leaves in `state` the state after the last
/// one, and returns the logits of the token that follows it.
std::vector<double> next_token_logits(const LanguageModelNet& net, LanguageModelNet::State& state,
                                      const Indices& tokens);
/// softmax(logits / temperature), in double; temperature > 0.
std::vector<double> probabilities(const std::vector<double>& logits, double temperature = 1.0);
/// The index of the largest value (the first of equals).
std::int64_t argmax(const std::vector<double>& values);
/// The indices of the k largest values, largest first; ties keep index order.
std::vector<std::int64_t> top_indices(const std::vector<double>& values, std::size_t k);
/// One token drawn from softmax(logits / temperature) restricted to the top_k most likely (0:
/// all). Temperature 0 takes the most likely token without drawing. A negative or non-finite
/// temperature is a ValueError naming {temperature}.
std::int64_t draw_token(const std::vector<double>& logits, double temperature, std::size_t top_k,
                        nn::Rng& rng);

// ---------------------------------------------------------------------------------------------
// Training

/// The sizes that decide how much memory training takes.
struct TrainingSizes {
  std::size_t vocabulary = 0, embed = 0, hidden = 0, layers = 0;
  LanguageModelNet::Cell cell = LanguageModelNet::Cell::lstm;
  std::string optimizer = "adam";
  std::size_t batch = 0, seq_len = 0;
  std::size_t tokens = 0, text_bytes = 0;  // of the whole text (training and validation)
};

/// The peak memory of training a LanguageModelNet with a LanguageModelTask, estimated from the
/// sizes alone, so that a program can refuse a run that cannot fit before it allocates any of
/// it. In double, so absurd sizes do not wrap. The coefficients are the peak resident sizes
/// measured for each cell (the README's memory table; the peak is at a checkpoint, when the
/// gradient diagnostic records the last step again beside the step's own tape).
struct TrainingMemory {
  double parameters = 0;   // values and gradients
  double optimizer = 0;    // the optimiser's state
  double activations = 0;  // the tapes of a step at their peak, and the carried state
  double data = 0;         // the text and its token indices
  double total() const { return parameters + optimizer + activations + data; }
  /// "34.3 GiB (parameters and gradients 8.0 GiB, adam state 16.0 GiB, ...)".
  std::string describe(const std::string& optimizer_name) const;
};
TrainingMemory estimate_training_memory(const TrainingSizes& sizes);

/// The checkpoint names of a carried state's tensors: "carried.h.<layer>", "carried.c.<layer>".
std::vector<std::pair<std::string, Tensor<float>*>> carried_state_tensors(
    LanguageModelNet::State& state);

/// What LanguageModelTask::state() saves: the batcher position and the diagnostics of the last
/// step. Readable without a task, by a program that only inspects a checkpoint.
struct LanguageModelTaskState {
  Position position;
  std::vector<double> last_step_hidden_grad_norms, last_time_step_grad_norms;
  nlohmann::json to_json() const;
  /// Errors name the missing or malformed field.
  static LanguageModelTaskState from_json(const nlohmann::json& j);
};

/// Truncated BPTT over B streams of a token sequence (StreamBatcher): each step predicts the
/// next seq_len tokens of every stream, starting from the state the previous chunk ended in
/// (detached); a wrap to the start of the streams resets it to zeros. The state lives in the
/// program's `carried` (so it is saved and loaded with the model). Validation is evaluate() on
/// the held-out tokens. Diagnostics of the last step: ||dL/dh_t|| for each time step t of the
/// top layer, and, measured before each checkpoint, ||dL_T/dh_t|| -- how much of the error at
/// the chunk's last step reaches back to step t (where a vanilla RNN's gradient vanishes).
/// Its checkpoint state is the batcher position and those diagnostics.
///
/// Data-parallel (`processes`, with TrainerOptions::processes the same group): `batch` is the
/// global batch, which must divide evenly among the processes; each reads its contiguous share
/// of the streams (StreamBatcher's Shard) and carries their state, so that the processes
/// together see what one process sees alone. Validation is shared out the same way and summed;
/// the diagnostics are the whole batch's; the checkpoint holds the carried state of all
/// `batch` streams (gathered on rank 0) and a resume takes each process's share of it, so a run
/// continues with any number of processes that divides the batch.
class LanguageModelTask : public Task {
 public:
  LanguageModelTask(LanguageModelNet& net, LanguageModelNet::State& carried, Indices train,
                    Indices validation, std::size_t batch, std::size_t seq_len,
                    const std::string& unit = "symbols", double chars_per_token = 1.0,
                    ProcessGroup* processes = nullptr);

  Var<float> training_loss(Tape<float>& tape) override;
  std::size_t items_in_last_batch() const override;
  void after_backward() override;
  std::optional<double> validation_loss() override;
  void before_checkpoint() override;
  void gather_state() override;
  std::vector<std::pair<std::string, Tensor<float>*>> state_tensors() override;
  nlohmann::json state() const override;
  void set_state(const nlohmann::json& state) override;

  const StreamBatcher& batcher() const { return batcher_; }
  std::size_t validation_tokens() const { return validation_.size(); }
  /// Whether the last training batch started the streams over (the carried state was reset).
  bool last_batch_wrapped() const { return last_batch_ && last_batch_->wrapped; }
  std::optional<Evaluation> last_validation() const { return last_validation_; }
  const std::vector<double>& last_step_hidden_grad_norms() const { return hidden_grad_norms_; }
  const std::vector<double>& last_time_step_grad_norms() const { return reach_grad_norms_; }

 private:
  LanguageModelNet& net_;
  LanguageModelNet::State& carried_;  // this process's streams
  ProcessGroup* processes_;
  Shard shard_;
  StreamBatcher batcher_;
  Indices validation_;
  std::size_t batch_, local_batch_, seq_len_;
  LanguageModelNet::State all_carried_;  // data-parallel: every stream's, for the checkpoint
  double chars_per_token_;
  // The last step's chunk and the state it started from, for the reach diagnostic.
  std::optional<Batch> last_batch_;
  LanguageModelNet::State last_start_state_;
  std::optional<Evaluation> last_validation_;
  // ||dL/dh_t|| of the top layer's state at every step of the last training step, and of the
  // last time step's loss alone (before_checkpoint): set by the backward passes.
  std::vector<double> hidden_grad_norms_, reach_grad_norms_;
  // Norms of one process's share of a gradient, made the whole batch's.
  void combine_norms(std::vector<double>& norms);
};

}  // namespace tapegrad::train
