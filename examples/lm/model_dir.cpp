#include "lm/model_dir.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "common/svg_plot.hpp"
#include "lm/format.hpp"

namespace tapegrad::lm {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kFormatVersion = 1;

const char* const kModels[] = {"rnn", "lstm", "gru"};
const char* const kOptimizers[] = {"adam", "adagrad", "sgd"};

template <std::size_t N>
bool one_of(const std::string& value, const char* const (&names)[N]) {
  for (const char* n : names)
    if (value == n) return true;
  return false;
}

[[noreturn]] void out_of_range(const std::string& flag, const std::string& expected,
                               const std::string& given) {
  throw Error(flag + " must be " + expected + ", got " + given);
}

void check_count(const char* flag, std::size_t value, std::size_t lo, std::size_t hi) {
  if (value < lo || value > hi)
    out_of_range(flag, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
                 std::to_string(value));
}

// A field of a JSON object, with an error naming it when it is missing or of another type.
const json& field(const json& j, const std::string& name, json::value_t type,
                  const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object, got " + j.type_name());
  const auto it = j.find(name);
  if (it == j.end()) throw Error(where + ": missing field \"" + name + "\"");
  const bool ok = type == json::value_t::number_float      ? it->is_number()
                  : type == json::value_t::number_unsigned ? it->is_number_unsigned()
                                                           : it->type() == type;
  if (!ok) throw Error(where + ": field \"" + name + "\" has the wrong type (" + it->dump() + ")");
  return *it;
}
std::size_t get_count(const json& j, const std::string& name, const std::string& where) {
  return field(j, name, json::value_t::number_unsigned, where).get<std::size_t>();
}
double get_number(const json& j, const std::string& name, const std::string& where) {
  return field(j, name, json::value_t::number_float, where).get<double>();
}
std::string get_string(const json& j, const std::string& name, const std::string& where) {
  return field(j, name, json::value_t::string, where).get<std::string>();
}

std::unique_ptr<nn::Optimizer<float>> make_optimizer(const std::string& name,
                                                     std::vector<Parameter<float>*> params,
                                                     double lr) {
  if (name == "adam") return std::make_unique<nn::Adam<float>>(std::move(params), lr);
  if (name == "adagrad") return std::make_unique<nn::Adagrad<float>>(std::move(params), lr);
  if (name == "sgd") return std::make_unique<nn::SGD<float>>(std::move(params), lr);
  throw Error("--optimizer must be adam, adagrad or sgd, got '" + name + "'");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hyper-parameters

void Hyperparameters::validate() const {
  if (!one_of(model, kModels)) out_of_range("--model", "rnn, lstm or gru", "'" + model + "'");
  if (!one_of(optimizer, kOptimizers))
    out_of_range("--optimizer", "adam, adagrad or sgd", "'" + optimizer + "'");
  check_count("--hidden", hidden, 1, 65536);
  check_count("--layers", layers, 1, 64);
  check_count("--embed", embed, 0, 65536);
  check_count("--seq-len", seq_len, 1, 1000000);
  check_count("--batch", batch, 1, 1000000);
  if (!(lr > 0) || !std::isfinite(lr)) out_of_range("--lr", "a positive number", format_number(lr));
  if (!(clip >= 0) || !std::isfinite(clip))
    out_of_range("--clip", "a number >= 0 (0 turns clipping off)", format_number(clip));
  if (!(val_fraction >= 0 && val_fraction <= 0.5))
    out_of_range("--val-fraction", "in [0, 0.5]", format_number(val_fraction));
}

json Hyperparameters::to_json() const {
  return json{{"level", level_name(level)},
              {"min_count", min_count},
              {"model", model},
              {"hidden", hidden},
              {"layers", layers},
              {"embed", embed},
              {"seq_len", seq_len},
              {"batch", batch},
              {"optimizer", optimizer},
              {"lr", lr},
              {"clip", clip},
              {"val_fraction", val_fraction},
              {"seed", seed}};
}

Hyperparameters Hyperparameters::from_json(const json& j) {
  const std::string where = "hyper-parameters";
  Hyperparameters hp;
  hp.level = parse_level(get_string(j, "level", where));
  hp.min_count = get_count(j, "min_count", where);
  hp.model = get_string(j, "model", where);
  hp.hidden = get_count(j, "hidden", where);
  hp.layers = get_count(j, "layers", where);
  hp.embed = get_count(j, "embed", where);
  hp.seq_len = get_count(j, "seq_len", where);
  hp.batch = get_count(j, "batch", where);
  hp.optimizer = get_string(j, "optimizer", where);
  hp.lr = get_number(j, "lr", where);
  hp.clip = get_number(j, "clip", where);
  hp.val_fraction = get_number(j, "val_fraction", where);
  hp.seed = field(j, "seed", json::value_t::number_unsigned, where).get<std::uint64_t>();
  hp.validate();
  return hp;
}

std::vector<Difference> differences(const Hyperparameters& saved, const Hyperparameters& given) {
  std::vector<Difference> out;
  const auto compare = [&](const std::string& flag, const std::string& a, const std::string& b) {
    if (a != b) out.push_back({flag, a, b});
  };
  // Numbers are compared through their shortest round-trip text, which is exact for doubles.
  compare("--level", level_name(saved.level), level_name(given.level));
  compare("--min-count", std::to_string(saved.min_count), std::to_string(given.min_count));
  compare("--model", saved.model, given.model);
  compare("--hidden", std::to_string(saved.hidden), std::to_string(given.hidden));
  compare("--layers", std::to_string(saved.layers), std::to_string(given.layers));
  compare("--embed", std::to_string(saved.embed), std::to_string(given.embed));
  compare("--seq-len", std::to_string(saved.seq_len), std::to_string(given.seq_len));
  compare("--batch", std::to_string(saved.batch), std::to_string(given.batch));
  compare("--optimizer", saved.optimizer, given.optimizer);
  compare("--lr", format_number(saved.lr), format_number(given.lr));
  compare("--clip", format_number(saved.clip), format_number(given.clip));
  compare("--val-fraction", format_number(saved.val_fraction), format_number(given.val_fraction));
  compare("--seed", std::to_string(saved.seed), std::to_string(given.seed));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Data identity

DataIdentity DataIdentity::of(const std::string& path, const std::string& text) {
  return DataIdentity{path, text.size(), fnv1a_hex(text)};
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
  return DataIdentity{get_string(j, "path", where), get_count(j, "bytes", where),
                      get_string(j, "fingerprint", where)};
}

// ---------------------------------------------------------------------------------------------
// The model and its training state

LanguageModel::LanguageModel(const Hyperparameters& hp_, Vocabulary vocabulary_)
    : hp(hp_), vocabulary(std::move(vocabulary_)) {
  hp.validate();
  nn::Rng rng(hp.seed);
  net = std::make_unique<Model>(vocabulary.size(), hp.embed, hp.hidden, hp.layers,
                                Model::parse_cell(hp.model), rng);
  optimizer = make_optimizer(hp.optimizer, net->parameters(), hp.lr);
  carried = net->zero_state(hp.batch);
}

std::vector<std::pair<std::string, Tensor<float>*>> LanguageModel::extra_tensors() {
  std::vector<std::pair<std::string, Tensor<float>*>> out;
  for (auto& [name, tensor] : optimizer->state()) out.emplace_back("optimizer." + name, tensor);
  for (std::size_t l = 0; l < carried.h.size(); ++l)
    out.emplace_back("carried.h." + std::to_string(l), &carried.h[l]);
  for (std::size_t l = 0; l < carried.c.size(); ++l)
    out.emplace_back("carried.c." + std::to_string(l), &carried.c[l]);
  return out;
}

std::string checkpoint_path(const std::string& dir) {
  return (fs::path(dir) / "checkpoint.npz").string();
}

// ---------------------------------------------------------------------------------------------
// Plots and logs

std::string loss_curve_svg(const History& history, const Vocabulary& vocabulary) {
  examples::Series train{"train", {}, {}, "#1f77b4"}, validation{"validation", {}, {}, "#d62728"};
  for (std::size_t i = 0; i < history.train_loss.size(); ++i) {
    train.x.push_back(double(i + 1));
    train.y.push_back(history.train_loss[i]);
  }
  for (const auto& [step, loss] : history.validation) {
    validation.x.push_back(double(step));
    validation.y.push_back(loss);
  }
  const std::string unit = vocabulary.level() == Level::character ? "character" : "word";
  return examples::svg_line_chart("tapegrad-lm: loss", "step", "loss (nats per " + unit + ")",
                                  {train, validation});
}

std::string gradient_norm_svg(const History& history, const std::string& model_name) {
  const auto series = [](const char* label, const std::vector<double>& norms, const char* color) {
    examples::Series s{label, {}, {}, color};
    for (std::size_t t = 0; t < norms.size(); ++t) {
      s.x.push_back(double(t));
      s.y.push_back(norms[t]);
    }
    return s;
  };
  return examples::svg_line_chart(
      model_name + ": gradient reaching each time step (training step " +
          std::to_string(history.train_loss.size()) + ")",
      "time step t within the chunk", "gradient norm at h_t (top layer, log scale)",
      {series("dL/dh_t, all steps", history.last_step_hidden_grad_norms, "#2ca02c"),
       series("dL_T/dh_t, last step", history.last_time_step_grad_norms, "#9467bd")},
      true);
}

std::string loss_log_csv(const History& history) {
  std::ostringstream o;
  o << "step,train_loss,grad_norm,validation_loss\n";
  std::size_t v = 0;
  for (std::size_t i = 0; i < history.train_loss.size(); ++i) {
    const std::size_t step = i + 1;
    o << step << ',' << format_number(history.train_loss[i]) << ','
      << (i < history.grad_norm.size() ? format_number(history.grad_norm[i]) : "") << ',';
    while (v < history.validation.size() && history.validation[v].first < step) ++v;
    if (v < history.validation.size() && history.validation[v].first == step)
      o << format_number(history.validation[v].second);
    o << '\n';
  }
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// Saving and loading

namespace {

json progress_to_json(const Progress& p) {
  json j{{"step", p.step},
         {"position", {{"offset", p.position.offset}, {"epoch", p.position.epoch}}},
         {"train_seconds", p.train_seconds},
         {"train_tokens", p.train_tokens},
         {"max_steps", nullptr},
         {"max_seconds", nullptr}};
  if (p.max_steps) j["max_steps"] = *p.max_steps;
  if (p.max_seconds) j["max_seconds"] = *p.max_seconds;
  return j;
}

Progress progress_from_json(const json& j) {
  const std::string where = "progress";
  Progress p;
  p.step = get_count(j, "step", where);
  const json& pos = field(j, "position", json::value_t::object, where);
  p.position.offset = get_count(pos, "offset", "progress.position");
  p.position.epoch = get_count(pos, "epoch", "progress.position");
  p.train_seconds = get_number(j, "train_seconds", where);
  p.train_tokens = get_count(j, "train_tokens", where);
  if (j.contains("max_steps") && !j["max_steps"].is_null())
    p.max_steps = get_count(j, "max_steps", where);
  if (j.contains("max_seconds") && !j["max_seconds"].is_null())
    p.max_seconds = get_number(j, "max_seconds", where);
  return p;
}

json history_to_json(const History& h) {
  json validation = json::array();
  for (const auto& [step, loss] : h.validation) validation.push_back({step, loss});
  return json{{"train_loss", h.train_loss},
              {"grad_norm", h.grad_norm},
              {"validation", validation},
              {"last_step_hidden_grad_norms", h.last_step_hidden_grad_norms},
              {"last_time_step_grad_norms", h.last_time_step_grad_norms}};
}

History history_from_json(const json& j, std::size_t steps) {
  const std::string where = "history";
  History h;
  for (const json& v : field(j, "train_loss", json::value_t::array, where))
    h.train_loss.push_back(v.get<float>());
  for (const json& v : field(j, "grad_norm", json::value_t::array, where))
    h.grad_norm.push_back(v.get<float>());
  for (const json& v : field(j, "validation", json::value_t::array, where)) {
    if (!v.is_array() || v.size() != 2 || !v[0].is_number_unsigned() || !v[1].is_number())
      throw Error("history: a validation entry is not [step, loss]: " + v.dump());
    h.validation.emplace_back(v[0].get<std::size_t>(), v[1].get<double>());
  }
  for (const json& v : field(j, "last_step_hidden_grad_norms", json::value_t::array, where))
    h.last_step_hidden_grad_norms.push_back(v.get<double>());
  for (const json& v : field(j, "last_time_step_grad_norms", json::value_t::array, where))
    h.last_time_step_grad_norms.push_back(v.get<double>());
  if (h.train_loss.size() != steps || h.grad_norm.size() != steps)
    throw Error("history: " + std::to_string(h.train_loss.size()) + " train losses and " +
                std::to_string(h.grad_norm.size()) + " gradient norms for " +
                std::to_string(steps) + " steps");
  return h;
}

json summary_json(LanguageModel& lm, const DataIdentity& data, const Progress& p,
                  const History& h) {
  json s{
      {"model", lm.hp.model},
      {"level", level_name(lm.hp.level)},
      {"parameters", lm.net->parameter_count()},
      {"vocabulary_size", lm.vocabulary.size()},
      {"data", data.to_json()},
      {"steps", p.step},
      {"train_seconds", p.train_seconds},
      {"train_tokens", p.train_tokens},
      {"tokens_per_second", p.train_seconds > 0 ? double(p.train_tokens) / p.train_seconds : 0.0},
      {"last_train_loss", h.train_loss.empty() ? json(nullptr) : json(h.train_loss.back())},
      {"validation_loss", nullptr},
      {"validation_step", nullptr}};
  if (!h.validation.empty()) {
    s["validation_loss"] = h.validation.back().second;
    s["validation_step"] = h.validation.back().first;
  }
  return s;
}

}  // namespace

void save_model_dir(const std::string& dir, LanguageModel& lm, const DataIdentity& data,
                    const Progress& progress, const History& history) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error("cannot create the output directory '" + dir +
                "': " + (ec ? ec.message() : "a file of that name exists"));
  json metadata{{"tapegrad_lm", kFormatVersion},          {"hyperparameters", lm.hp.to_json()},
                {"vocabulary", lm.vocabulary.to_json()},  {"data", data.to_json()},
                {"progress", progress_to_json(progress)}, {"history", history_to_json(history)}};
  std::vector<std::pair<std::string, const Tensor<float>*>> extra;
  for (auto& [name, tensor] : lm.extra_tensors()) extra.emplace_back(name, tensor);
  nn::save_checkpoint(checkpoint_path(dir), *lm.net, metadata, extra);

  const fs::path d(dir);
  nn::write_file_atomically(d / "losses.svg", loss_curve_svg(history, lm.vocabulary));
  nn::write_file_atomically(d / "gradient_norms.svg", gradient_norm_svg(history, lm.hp.model));
  nn::write_file_atomically(d / "log.csv", loss_log_csv(history));
  nn::write_file_atomically(d / "summary.json",
                            summary_json(lm, data, progress, history).dump(2) + "\n");
}

ModelDir load_model_dir(const std::string& dir) {
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

  const json whole = nn::read_checkpoint_metadata(path);  // validates the whole file
  const json& meta = whole.contains("user") ? whole["user"] : json();
  if (!meta.is_object() || !meta.contains("tapegrad_lm"))
    throw Error(path + " is a tapegrad checkpoint but was not written by tapegrad-lm (its " +
                "metadata has no \"tapegrad_lm\" field)");
  if (meta["tapegrad_lm"] != kFormatVersion)
    throw Error(path + ": tapegrad-lm format version " + meta["tapegrad_lm"].dump() +
                " is not supported (expected " + std::to_string(kFormatVersion) + ")");
  try {
    ModelDir out;
    const Hyperparameters hp = Hyperparameters::from_json(meta.value("hyperparameters", json()));
    Vocabulary vocabulary = Vocabulary::from_json(meta.value("vocabulary", json()));
    if (vocabulary.level() != hp.level)
      throw Error(std::string("the vocabulary is at ") + level_name(vocabulary.level()) +
                  " level, the hyper-parameters say " + level_name(hp.level));
    out.lm = std::make_unique<LanguageModel>(hp, std::move(vocabulary));
    out.data = DataIdentity::from_json(meta.value("data", json()));
    out.progress = progress_from_json(meta.value("progress", json()));
    out.history = history_from_json(meta.value("history", json()), out.progress.step);
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
