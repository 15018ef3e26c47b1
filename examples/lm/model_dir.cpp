#include "lm/model_dir.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include <tapegrad/nn/atomic_file.hpp>
#include <tapegrad/nn/checkpoint.hpp>
#include <tapegrad/train/json_fields.hpp>
#include <tapegrad/train/optimizers.hpp>
#include <tapegrad/train/svg_chart.hpp>

namespace tapegrad::lm {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// 2: the Trainer's layout (the batcher position and the gradient diagnostics under "task",
// "train_items", "rngs"). Version 1 directories are read by moving their fields there.
// 3: the hyper-parameters of dropout, weight decay, schedules, init and patience. Version 2
// directories trained without them: they are read with the values that mean "without".
constexpr int kFormatVersion = 3;

const char* const kAddedInVersion3[] = {
    "weight_decay",   "lr_schedule", "warmup", "lr_min",      "lr_decay", "lr_decay_every",
    "lr_decay_start", "dropout",     "init",   "forget_bias", "patience"};

json upgrade_from_version_2(json meta) {
  json& hp = meta["hyperparameters"];
  if (hp.is_object()) {
    const json defaults = Hyperparameters{}.to_json();
    for (const char* name : kAddedInVersion3)
      if (!hp.contains(name)) hp[name] = defaults[name];
  }
  meta["tapegrad_lm"] = kFormatVersion;
  return meta;
}

json upgrade_from_version_1(json meta) {
  json& progress = meta["progress"];
  json& history = meta["history"];
  json task = json::object();
  if (progress.is_object() && progress.contains("position")) {
    task["position"] = progress["position"];
    progress.erase("position");
  }
  if (progress.is_object() && progress.contains("train_tokens")) {
    progress["train_items"] = progress["train_tokens"];
    progress.erase("train_tokens");
  }
  for (const char* name : {"last_step_hidden_grad_norms", "last_time_step_grad_norms"})
    if (history.is_object() && history.contains(name)) {
      task[name] = history[name];
      history.erase(name);
    }
  meta["task"] = task;
  meta["rngs"] = json::object();  // tapegrad-lm's training drew no random numbers then
  return upgrade_from_version_2(std::move(meta));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hyper-parameters: the one declaration of each

const train::Schema<Hyperparameters>& Hyperparameters::schema() {
  using H = Hyperparameters;
  static const train::Schema<H> schema = [] {
    train::Schema<H> s;
    s.choice(
         "level", {"character", "word"}, {{"char", "character"}},
         [](const H& h) { return std::string(level_name(h.level)); },
         [](H& h, const std::string& name) { h.level = parse_level(name); },
         "symbols: char (characters) or word (words and punctuation marks); default: word for "
         "the built-in corpus, char for --data")
        .integer("min_count", &H::min_count, 1, 1000000,
                 "word level: words seen fewer times become <unk>")
        .choice("model", &H::model, Model::cell_names(), "recurrent cell: rnn, lstm or gru")
        .integer("hidden", &H::hidden, 1, 65536, "hidden units per layer")
        .integer("layers", &H::layers, 1, 64, "stacked recurrent layers")
        .integer("embed", &H::embed, 0, 65536, "embedding width (0: one-hot input)")
        .integer("seq_len", &H::seq_len, 1, 1000000, "T: time steps per chunk (truncated BPTT)")
        .integer("batch", &H::batch, 1, 1000000, "B: parallel streams through the text")
        .choice("optimizer", &H::optimizer, train::optimizer_names(),
                "adam, adamw (decoupled weight decay), adagrad or sgd")
        .number("lr", &H::lr, train::positive(), "learning rate (the peak, with a schedule)")
        .number("weight_decay", &H::weight_decay, train::non_negative(),
                "weight decay: decoupled with adamw, an L2 term in the gradient otherwise")
        .choice("lr_schedule", &H::lr_schedule, train::LRSchedule::names(),
                "learning rate over the run: constant, cosine (from --lr to --lr-min over the "
                "run: its --steps, or its --time) or step (x --lr-decay every --lr-decay-every "
                "steps)")
        .integer("warmup", &H::warmup, 0, std::size_t(1) << 40,
                 "steps of linear warm-up to --lr, with any schedule")
        .number("lr_min", &H::lr_min, train::non_negative(), "cosine: the rate it decays to")
        .number("lr_decay", &H::lr_decay, train::above_up_to(0, 1), "step: the factor")
        .integer("lr_decay_every", &H::lr_decay_every, 1, std::size_t(1) << 40,
                 "step: steps between two decays")
        .integer("lr_decay_start", &H::lr_decay_start, 0, std::size_t(1) << 40,
                 "step: steps before the first decay")
        .number("dropout", &H::dropout, train::from_below(0, 1),
                "dropout probability on the embedding output, between layers and before the "
                "head, while training (0: none)")
        .choice("init", &H::init, {"xavier", "pytorch"},
                "recurrent weights: xavier (per gate, zero biases) or pytorch (U(+-1/sqrt(hidden)) "
                "for weights and biases)")
        .number("forget_bias", &H::forget_bias, train::finite(),
                "lstm: the forget gate's starting bias (e.g. 1: remember by default)")
        .number("clip", &H::clip, train::non_negative("0 turns clipping off"),
                "clip the gradient norm to this (0: no clipping)")
        .number("val_fraction", &H::val_fraction, train::between(0, 0.5),
                "the last fraction of the text held out for validation")
        .integer("seed", &H::seed, 0, std::numeric_limits<std::size_t>::max(),
                 "seed of the initial weights and of dropout")
        .optional_integer("patience", &H::patience, 1, 1000000,
                          "stop after N validations in a row without a new best validation loss "
                          "(default: never)");
    return s;
  }();
  return schema;
}

std::string flag_of(const std::string& name) {
  // The Trainer's settings whose flags are not their names.
  if (name == "max_steps") return "--steps";
  if (name == "max_seconds") return "--time";
  if (name == "validate_every") return "--val-every";
  if (name == "out_dir") return "--out";
  std::string flag = "--" + name;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

train::LRSchedule Hyperparameters::schedule() const {
  train::LRSchedule s;
  s.kind = train::LRSchedule::parse(lr_schedule);
  s.lr = lr;
  s.warmup = warmup;
  s.lr_min = lr_min;
  s.decay = lr_decay;
  s.decay_every = lr_decay_every;
  s.decay_start = lr_decay_start;
  return s;
}

Model::Options Hyperparameters::model_options() const {
  Model::Options o;
  o.dropout = dropout;
  o.init = init == "pytorch" ? nn::RecurrentInit::pytorch : nn::RecurrentInit::xavier;
  o.forget_bias = forget_bias;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Data identity

DataIdentity DataIdentity::of(const std::string& path, const std::string& text) {
  return DataIdentity{path, text.size(), train::fnv1a_hex(text)};
}

std::string DataIdentity::describe() const {
  const std::string what = path.empty() ? "the built-in corpus" : "'" + path + "'";
  return what + " (" + std::to_string(bytes) + " bytes, fingerprint " + fingerprint + ")";
}

json DataIdentity::to_json() const {
  return json{{"path", path}, {"bytes", bytes}, {"fingerprint", fingerprint}};
}

DataIdentity DataIdentity::from_json(const json& j) {
  const std::string where = "data";
  return DataIdentity{train::json_string(j, "path", where), train::json_count(j, "bytes", where),
                      train::json_string(j, "fingerprint", where)};
}

// ---------------------------------------------------------------------------------------------
// The model and its training state

LanguageModel::LanguageModel(const Hyperparameters& hp_, Vocabulary vocabulary_)
    : hp(hp_), vocabulary(std::move(vocabulary_)) {
  hp.validate();
  nn::Rng rng(hp.seed);
  net = std::make_unique<Model>(vocabulary.size(), hp.embed, hp.hidden, hp.layers,
                                Model::parse_cell(hp.model), rng, hp.model_options());
  optimizer = train::make_optimizer<float>(hp.optimizer, net->parameters(), hp.lr, hp.weight_decay);
  carried = net->zero_state(hp.batch);
}

std::vector<std::pair<std::string, Tensor<float>*>> LanguageModel::extra_tensors() {
  std::vector<std::pair<std::string, Tensor<float>*>> out = train::optimizer_tensors(*optimizer);
  for (auto& t : train::carried_state_tensors(carried)) out.push_back(t);
  return out;
}

std::string checkpoint_path(const std::string& dir) { return train::checkpoint_path(dir); }

// ---------------------------------------------------------------------------------------------
// Plots and the summary

std::string loss_curve_svg(const History& history, const Vocabulary& vocabulary) {
  train::Series train{"train", {}, {}, "#1f77b4"}, validation{"validation", {}, {}, "#d62728"};
  for (std::size_t i = 0; i < history.train_loss.size(); ++i) {
    train.x.push_back(double(i + 1));
    train.y.push_back(history.train_loss[i]);
  }
  for (const auto& [step, loss] : history.validation) {
    validation.x.push_back(double(step));
    validation.y.push_back(loss);
  }
  const std::string unit = vocabulary.level() == Level::character ? "character" : "word";
  return train::svg_line_chart("tapegrad-lm: loss", "step", "loss (nats per " + unit + ")",
                               {train, validation});
}

std::string gradient_norm_svg(const History& history, const std::string& model_name) {
  const auto series = [](const char* label, const std::vector<double>& norms, const char* color) {
    train::Series s{label, {}, {}, color};
    for (std::size_t t = 0; t < norms.size(); ++t) {
      s.x.push_back(double(t));
      s.y.push_back(norms[t]);
    }
    return s;
  };
  return train::svg_line_chart(
      model_name + ": gradient reaching each time step (training step " +
          std::to_string(history.train_loss.size()) + ")",
      "time step t within the chunk", "gradient norm at h_t (top layer, log scale)",
      {series("dL/dh_t, all steps", history.last_step_hidden_grad_norms, "#2ca02c"),
       series("dL_T/dh_t, last step", history.last_time_step_grad_norms, "#9467bd")},
      true);
}

namespace {

json summary_json(const LanguageModel& lm, const DataIdentity& data, const Progress& p,
                  const History& h) {
  json s{{"model", lm.hp.model},
         {"level", level_name(lm.hp.level)},
         {"parameters", lm.net->parameter_count()},
         {"vocabulary_size", lm.vocabulary.size()},
         {"data", data.to_json()},
         {"steps", p.step},
         {"train_seconds", p.train_seconds},
         {"train_tokens", p.train_items},
         {"tokens_per_second", p.train_seconds > 0 ? double(p.train_items) / p.train_seconds : 0.0},
         {"last_train_loss", h.train_loss.empty() ? json(nullptr) : json(h.train_loss.back())},
         {"validation_loss", nullptr},
         {"validation_step", nullptr}};
  if (!h.validation.empty()) {
    s["validation_loss"] = h.validation.back().second;
    s["validation_step"] = h.validation.back().first;
  }
  s["best_validation_loss"] = nullptr;  // what best.npz holds
  s["best_validation_step"] = nullptr;
  if (const auto best = h.best_validation()) {
    s["best_validation_loss"] = best->second;
    s["best_validation_step"] = best->first;
  }
  return s;
}

}  // namespace

json checkpoint_metadata(const LanguageModel& lm, const DataIdentity& data) {
  return json{{"tapegrad_lm", kFormatVersion},
              {"hyperparameters", lm.hp.to_json()},
              {"vocabulary", lm.vocabulary.to_json()},
              {"data", data.to_json()}};
}

void write_reports(const std::string& dir, const LanguageModel& lm, const DataIdentity& data,
                   const Progress& progress, const History& history) {
  const fs::path d(dir);
  nn::write_file_atomically(d / "losses.svg", loss_curve_svg(history, lm.vocabulary));
  nn::write_file_atomically(d / "gradient_norms.svg", gradient_norm_svg(history, lm.hp.model));
  nn::write_file_atomically(d / "summary.json",
                            summary_json(lm, data, progress, history).dump(2) + "\n");
}

// ---------------------------------------------------------------------------------------------
// Loading

namespace {

// The checkpoint of `dir`, after checking that `dir` is a directory that has one.
std::string checkpoint_of(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    throw Error("model directory '" + dir + "': " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode))
    throw Error("model directory '" + dir + "' is not a directory (expected the --out " +
                "directory of tapegrad-lm train)");
  const std::string path = checkpoint_path(dir);
  if (::stat(path.c_str(), &st) != 0)
    throw Error("model directory '" + dir + "' holds no checkpoint (expected " + path +
                ", written by tapegrad-lm train --out " + dir + ")");
  return path;
}

// tapegrad-lm's part of a checkpoint's whole metadata, in today's layout.
json tapegrad_lm_part(const std::string& dir, const std::string& path, const json& whole) {
  const json& meta = whole.contains("user") ? whole["user"] : json();
  if (!meta.is_object() || !meta.contains("tapegrad_lm"))
    throw Error(path + " is a tapegrad checkpoint but was not written by tapegrad-lm (its " +
                "metadata has no \"tapegrad_lm\" field)");
  if (meta["tapegrad_lm"] == 1) {
    try {
      return upgrade_from_version_1(meta);
    } catch (const json::exception& e) {
      throw Error("cannot load the model in '" + dir + "': malformed metadata in " + path + ": " +
                  e.what());
    }
  }
  if (meta["tapegrad_lm"] == 2) return upgrade_from_version_2(meta);
  if (meta["tapegrad_lm"] != kFormatVersion)
    throw Error(path + ": tapegrad-lm format version " + meta["tapegrad_lm"].dump() +
                " is not supported (expected 1 to " + std::to_string(kFormatVersion) + ")");
  return meta;
}

// 2131818571 -> "2,131,818,571" (counts from sizes in double are whole numbers).
std::string with_commas(double n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", n);
  std::string digits = buf;
  for (int i = int(digits.size()) - 3; i > 0; i -= 3) digits.insert(std::size_t(i), ",");
  return digits;
}

// The arrays a model of these sizes has, against those the checkpoint stores: a model is built
// only once they agree, so metadata claiming a huge model in a small file cannot make the loader
// allocate more than the file itself holds.
void check_sizes(const Hyperparameters& hp, const Vocabulary& vocabulary,
                 const nn::CheckpointIndex& index) {
  const Model::Cell cell = Model::parse_cell(hp.model);
  const double parameters =
      Model::parameter_count_for(vocabulary.size(), hp.embed, hp.hidden, hp.layers, cell);
  const double carried = double(hp.layers) * double(hp.batch) * double(hp.hidden) *
                         (cell == Model::Cell::lstm ? 2 : 1);
  const double extra = parameters * double(train::optimizer_state_slots(hp.optimizer)) + carried;
  double stored_parameters = 0, stored_extra = 0;
  for (const nn::CheckpointIndex::Entry& t : index.tensors)
    (t.parameter ? stored_parameters : stored_extra) += double(t.elements());
  const std::string model = std::to_string(hp.layers) + "-layer " + hp.model + " of hidden " +
                            std::to_string(hp.hidden) + " over " +
                            std::to_string(vocabulary.size()) + " " + vocabulary.unit();
  if (stored_parameters != parameters)
    throw Error("its metadata describes a " + model + " (" + with_commas(parameters) +
                " parameters), but the checkpoint stores " + with_commas(stored_parameters) +
                " parameter values: the metadata does not belong to these arrays");
  if (stored_extra != extra)
    throw Error("its metadata describes " + hp.optimizer + " state and a carried state of batch " +
                std::to_string(hp.batch) + " for a " + model + " (" + with_commas(extra) +
                " values), but the checkpoint stores " + with_commas(stored_extra) +
                ": the metadata does not belong to these arrays");
}

}  // namespace

json read_model_dir_metadata(const std::string& dir) {
  const std::string path = checkpoint_of(dir);
  return tapegrad_lm_part(dir, path, nn::read_checkpoint_metadata(path));  // checks the file
}

ModelDirMetadata parse_model_dir_metadata(const json& meta) {
  const Hyperparameters hp = Hyperparameters::from_json(meta.value("hyperparameters", json()));
  Vocabulary vocabulary = Vocabulary::from_json(meta.value("vocabulary", json()));
  if (vocabulary.level() != hp.level)
    throw Error(std::string("the vocabulary is at ") + level_name(vocabulary.level()) +
                " level, the hyper-parameters say " + level_name(hp.level));
  const Progress progress = train::progress_from_json(meta.value("progress", json()));
  History history;
  static_cast<train::History&>(history) =
      train::history_from_json(meta.value("history", json()), progress.step);
  train::LanguageModelTaskState task =
      train::LanguageModelTaskState::from_json(meta.value("task", json()));
  history.last_step_hidden_grad_norms = std::move(task.last_step_hidden_grad_norms);
  history.last_time_step_grad_norms = std::move(task.last_time_step_grad_norms);
  return ModelDirMetadata{
      hp,       std::move(vocabulary), DataIdentity::from_json(meta.value("data", json())),
      progress, task.position,         std::move(history)};
}

const std::vector<std::string>& which_names() {
  static const std::vector<std::string> names{"latest", "best"};
  return names;
}

Which parse_which(const std::string& name) {
  if (name == "latest") return Which::latest;
  if (name == "best") return Which::best;
  throw Error("expected a checkpoint called latest or best, got '" + name + "'");
}

ModelDir load_model_dir(const std::string& dir) { return load_model_dir(dir, Which::latest); }

ModelDir load_model_dir(const std::string& dir, Which which) {
  std::string path = checkpoint_of(dir);
  if (which == Which::best) {
    struct stat st {};
    const std::string best = train::best_checkpoint_path(dir);
    if (::stat(best.c_str(), &st) == 0) path = best;
  }
  const nn::CheckpointIndex index = nn::read_checkpoint_index(path);  // checks the whole file
  const json meta = tapegrad_lm_part(dir, path, index.metadata);
  try {
    ModelDirMetadata m = parse_model_dir_metadata(meta);
    check_sizes(m.hp, m.vocabulary, index);
    ModelDir out;
    out.path = path;
    out.lm = std::make_unique<LanguageModel>(m.hp, std::move(m.vocabulary));
    out.data = std::move(m.data);
    out.progress = m.progress;
    out.position = m.position;
    out.history = std::move(m.history);
    nn::load_checkpoint(path, *out.lm->net, out.lm->extra_tensors());
    out.lm->optimizer->set_steps(out.progress.step);
    return out;
  } catch (const Error& e) {
    throw Error("cannot load the model in '" + dir + "': " + e.what());
  } catch (const json::exception& e) {  // a field of the wrong type in metadata made elsewhere
    throw Error("cannot load the model in '" + dir + "': malformed metadata in " + path + ": " +
                e.what());
  }
}

}  // namespace tapegrad::lm
