#pragma once
// A tapegrad-lm model directory: the hyper-parameters of a run, the model they describe, and
// the checkpoint file that holds both. Everything tapegrad-lm reads back from disk goes through
// here, so every malformed, truncated or foreign checkpoint is reported in one place, naming
// the directory, the field and what was expected against what was found.
//
// A directory holds (all written atomically: temp file + rename):
//   checkpoint.npz       parameters, optimiser state, carried hidden state (nn::save_checkpoint);
//                        its metadata: hyper-parameters, vocabulary, data identity, progress
//                        (step, batcher position, training time) and the loss history
//   losses.svg           train loss per step and validation loss
//   gradient_norms.svg   ||dL/dh_t|| and ||dL_T/dh_t|| over the time steps of the last step
//   log.csv              one row per step: step, train loss, gradient norm, validation loss
//   summary.json         the figures of the run so far (steps, time, tokens/s, losses)
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/models/char_lm.hpp>
#include <tapegrad/nn/nn.hpp>

#include "lm/data.hpp"

namespace tapegrad::lm {

using Model = models::CharLM<float>;

/// What a run is: everything that decides the sequence of training losses. A resumed run must
/// have the same values (the stopping rule and the reporting intervals may change).
struct Hyperparameters {
  Level level = Level::character;
  std::size_t min_count = 2;                         // word level: rarer words become <unk>
  std::string model = "lstm";                        // rnn, lstm or gru
  std::size_t hidden = 128, layers = 1, embed = 64;  // embed 0: one-hot input
  std::size_t seq_len = 32, batch = 16;
  std::string optimizer = "adam";  // adam, adagrad or sgd
  double lr = 2e-3;
  double clip = 5.0;  // gradient-norm clip; 0 turns clipping off
  double val_fraction = 0.1;
  std::uint64_t seed = 1;

  /// Throws an Error naming the first nonsensical value (flag name, accepted range, value).
  void validate() const;
  nlohmann::json to_json() const;
  /// Errors name the missing or malformed field.
  static Hyperparameters from_json(const nlohmann::json& j);
};

/// One difference between two sets of hyper-parameters.
struct Difference {
  std::string flag;          // "--hidden"
  std::string saved, given;  // as the user would type them
};
/// The hyper-parameters that differ, in flag order.
std::vector<Difference> differences(const Hyperparameters& saved, const Hyperparameters& given);

/// Which text a run trained on: a file, or the built-in corpus (empty path).
struct DataIdentity {
  std::string path;  // empty: the built-in corpus
  std::size_t bytes = 0;
  std::string fingerprint;  // FNV-1a 64 of the bytes, hex
  static DataIdentity of(const std::string& path, const std::string& text);
  std::string describe() const;  // "'a.txt' (1234 bytes)" or "the built-in corpus (...)"
  nlohmann::json to_json() const;
  static DataIdentity from_json(const nlohmann::json& j);
};

/// The network and the training state that lives beside it. Tensors named here are what a
/// checkpoint stores besides the parameters, so loading needs the same set.
struct LanguageModel {
  Hyperparameters hp;
  Vocabulary vocabulary;
  std::unique_ptr<Model> net;
  std::unique_ptr<nn::Optimizer<float>> optimizer;
  Model::State carried;  // the detached state at the end of the last chunk, [batch, hidden]

  /// A freshly initialised model (seeded by hp.seed) for this vocabulary.
  LanguageModel(const Hyperparameters& hp, Vocabulary vocabulary);
  /// Every non-parameter tensor in a checkpoint: optimiser state and carried state.
  std::vector<std::pair<std::string, Tensor<float>*>> extra_tensors();
};

/// Where the training loop is; saved in the checkpoint metadata.
struct Progress {
  std::size_t step = 0;                  // steps completed
  Position position;                     // of the training batcher
  double train_seconds = 0;              // time spent in training steps (validation excluded)
  std::size_t train_tokens = 0;          // tokens predicted in training steps
  std::optional<std::size_t> max_steps;  // the stopping rule the run was started with
  std::optional<double> max_seconds;
};

/// What the loss curves are made of. Losses are float, the values the training step produced,
/// so a resumed run can be compared with an uninterrupted one bit for bit.
struct History {
  std::vector<float> train_loss;  // one per step, step k at index k - 1
  std::vector<float> grad_norm;   // the gradient norm of step k before clipping
  std::vector<std::pair<std::size_t, double>> validation;  // (step, nats per token)
  // The gradient reaching the top layer's h_t, t = 0..T-1, in the last training step:
  std::vector<double> last_step_hidden_grad_norms;  // ||dL/dh_t||, L the chunk's mean loss
  // ||dL_T/dh_t||, L_T the loss of the chunk's last time step alone: how much of the error at
  // T reaches back to step t, which is where a vanilla RNN's gradient vanishes and an LSTM's
  // does not. Measured when a checkpoint is saved (Trainer::save).
  std::vector<double> last_time_step_grad_norms;
};

std::string checkpoint_path(const std::string& dir);

/// Everything in one model directory.
struct ModelDir {
  std::unique_ptr<LanguageModel> lm;
  DataIdentity data;
  Progress progress;
  History history;
};

/// Writes the checkpoint (atomically), then the plots, the log and the summary. Creates `dir`.
void save_model_dir(const std::string& dir, LanguageModel& lm, const DataIdentity& data,
                    const Progress& progress, const History& history);

/// Reads a model directory. Errors: `dir` missing or not a directory, no checkpoint in it, a
/// truncated or corrupted checkpoint, a checkpoint not written by tapegrad-lm, metadata that
/// does not match the stored tensors.
ModelDir load_model_dir(const std::string& dir);

/// The loss curves and the per-timestep gradient norms as SVG text.
std::string loss_curve_svg(const History& history, const Vocabulary& vocabulary);
std::string gradient_norm_svg(const History& history, const std::string& model_name);
/// log.csv: "step,train_loss,grad_norm,validation_loss" (the last empty where none was run).
std::string loss_log_csv(const History& history);

}  // namespace tapegrad::lm
