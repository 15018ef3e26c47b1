#pragma once
// A tapegrad-lm model directory: the hyper-parameters of a run, the model they describe, and
// the checkpoint file that holds both. Everything tapegrad-lm reads back from disk goes through
// here, so every malformed, truncated or foreign checkpoint is reported in one place, naming
// the directory, the field and what was expected against what was found.
//
// A directory holds (all written atomically: temp file + fsync + rename):
//   checkpoint.npz       a train::Trainer checkpoint: parameters, optimiser state, carried hidden
//                        state; its metadata: tapegrad-lm's (format version, hyper-parameters,
//                        vocabulary, data identity) and the Trainer's (progress, loss history,
//                        the task's batcher position and gradient diagnostics, generator states)
//   log.csv              one row per step: step, train loss, gradient norm, validation loss
//   losses.svg           train loss per step and validation loss
//   gradient_norms.svg   ||dL/dh_t|| and ||dL_T/dh_t|| over the time steps of the last step
//   summary.json         the figures of the run so far (steps, time, tokens/s, losses)
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/train/language_model.hpp>
#include <tapegrad/train/schema.hpp>
#include <tapegrad/train/trainer.hpp>

#include "lm/data.hpp"

namespace tapegrad::lm {

using Model = train::LanguageModelNet;
using train::Batch;
using train::Evaluation;
using train::Position;
using train::StreamBatcher;

/// What a run is: everything that decides the sequence of training losses. Each field is
/// declared once, in schema(), which validates them, writes and reads them as JSON, reports
/// the differences on --resume, and gives tapegrad-lm its flags.
struct Hyperparameters {
  Level level = Level::character;
  std::size_t min_count = 2;                         // word level: rarer words become <unk>
  std::string model = "lstm";                        // rnn, lstm or gru
  std::size_t hidden = 128, layers = 1, embed = 64;  // embed 0: one-hot input
  std::size_t seq_len = 32, batch = 16;
  std::string optimizer = "adam";  // adam, adamw, adagrad or sgd
  double lr = 2e-3;
  double weight_decay = 0;               // decoupled for adamw, an L2 term for the others
  std::string lr_schedule = "constant";  // train::LRSchedule: constant, cosine or step
  std::size_t warmup = 0;                // steps of linear warm-up
  double lr_min = 0;                     // cosine: the floor
  double lr_decay = 0.97;                // step: the factor
  std::size_t lr_decay_every = 1000;     // step: steps between decays
  std::size_t lr_decay_start = 0;        // step: steps before the first decay
  double dropout = 0;                    // models::CharLM::Options::dropout
  std::string init = "xavier";           // recurrent weights: xavier or pytorch
  double forget_bias = 0;                // lstm: the forget gate's starting bias
  double clip = 5.0;                     // gradient-norm clip; 0 turns clipping off
  double val_fraction = 0.1;
  std::uint64_t seed = 1;
  std::size_t patience = 0;  // stop after N validations without a new best; 0: never

  /// The learning-rate schedule these describe.
  train::LRSchedule schedule() const;
  /// The model's options (dropout, init, forget-gate bias).
  Model::Options model_options() const;

  static const train::Schema<Hyperparameters>& schema();
  /// Throws a train::ValueError naming the first nonsensical value (field, range, value).
  void validate() const { schema().validate(*this); }
  nlohmann::json to_json() const { return schema().to_json(*this); }
  /// Errors name the missing or malformed field.
  static Hyperparameters from_json(const nlohmann::json& j) {
    return schema().from_json(j, "hyper-parameters");
  }
};

/// The flag of a hyper-parameter or a Trainer setting: "seq_len" -> "--seq-len", "max_steps" ->
/// "--steps".
std::string flag_of(const std::string& name);

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

  /// A freshly initialised model (seeded by hp.seed; dropout's generators too) for this
  /// vocabulary.
  LanguageModel(const Hyperparameters& hp, Vocabulary vocabulary);
  /// Every non-parameter tensor in a checkpoint: optimiser state and carried state.
  std::vector<std::pair<std::string, Tensor<float>*>> extra_tensors();
};

using Progress = train::Progress;

/// The Trainer's loss curves and the training task's gradient diagnostics of the last step.
struct History : train::History {
  // The gradient reaching the top layer's h_t, t = 0..T-1, in the last training step:
  std::vector<double> last_step_hidden_grad_norms;  // ||dL/dh_t||, L the chunk's mean loss
  // ||dL_T/dh_t||, L_T the loss of the chunk's last time step alone: how much of the error at
  // T reaches back to step t, which is where a vanilla RNN's gradient vanishes and an LSTM's
  // does not. Measured when a checkpoint is saved.
  std::vector<double> last_time_step_grad_norms;
};

std::string checkpoint_path(const std::string& dir);

/// Everything in one model directory.
struct ModelDir {
  std::string path;  // the checkpoint file read
  std::unique_ptr<LanguageModel> lm;
  DataIdentity data;
  Progress progress;
  Position position;  // of the training batcher
  History history;
};

/// tapegrad-lm's part of the checkpoint metadata: format version, hyper-parameters, vocabulary
/// and data identity (the Trainer adds its own).
nlohmann::json checkpoint_metadata(const LanguageModel& lm, const DataIdentity& data);

/// Reads the metadata of the checkpoint in `dir` (version 1 is read as today's layout). Errors
/// like load_model_dir's.
nlohmann::json read_model_dir_metadata(const std::string& dir);

/// Writes the plots and the summary beside a checkpoint (after the Trainer wrote it).
void write_reports(const std::string& dir, const LanguageModel& lm, const DataIdentity& data,
                   const Progress& progress, const History& history);

/// Everything a model directory's metadata says, checked, before any model is built: the
/// memory it takes is bounded by the metadata's own size.
struct ModelDirMetadata {
  Hyperparameters hp;
  Vocabulary vocabulary;
  DataIdentity data;
  Progress progress;
  Position position;  // of the training batcher
  History history;
};
/// Reads tapegrad-lm's part of a checkpoint's metadata (as read_model_dir_metadata returns it).
/// Errors name the missing or malformed field (nlohmann::json::exception for a value of the
/// wrong type).
ModelDirMetadata parse_model_dir_metadata(const nlohmann::json& meta);

/// Reads a model directory. Errors: `dir` missing or not a directory, no checkpoint in it, a
/// truncated or corrupted checkpoint, a checkpoint not written by tapegrad-lm, metadata that
/// does not match the stored tensors. The model is built only after the sizes its metadata
/// gives match the arrays in the file, so loading allocates a small multiple of the file's size
/// whatever the metadata claims.
ModelDir load_model_dir(const std::string& dir);

/// Which checkpoint of a model directory to use: the latest (checkpoint.npz, which a resume
/// continues) or the one of the best validation loss (best.npz; Trainer::keep_best).
enum class Which { latest, best };
/// "latest", "best": the names a program offers.
const std::vector<std::string>& which_names();
Which parse_which(const std::string& name);
/// Reads the checkpoint `which` of `dir`. For best, a directory without best.npz (trained
/// without validation data, or by an older tapegrad-lm) is read from checkpoint.npz, and the
/// result's path says so.
ModelDir load_model_dir(const std::string& dir, Which which);

/// The loss curves and the per-timestep gradient norms as SVG text.
std::string loss_curve_svg(const History& history, const Vocabulary& vocabulary);
std::string gradient_norm_svg(const History& history, const std::string& model_name);

}  // namespace tapegrad::lm
