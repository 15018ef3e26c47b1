#include "tapegrad/train/trainer.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>

#include <tapegrad/nn/atomic_file.hpp>
#include <tapegrad/nn/checkpoint.hpp>
#include <tapegrad/train/format.hpp>
#include <tapegrad/train/json_fields.hpp>
#include <tapegrad/train/value_error.hpp>

namespace tapegrad::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

const std::string kOptimizerPrefix = "optimizer.";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Files and metadata

std::string checkpoint_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "checkpoint.npz").string();
}

std::string best_checkpoint_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "best.npz").string();
}

std::optional<std::pair<std::size_t, double>> History::best_validation() const {
  std::optional<std::pair<std::size_t, double>> best;
  for (const auto& v : validation)
    if (!best || v.second < best->second) best = v;
  return best;
}

std::size_t History::validations_since_best() const {
  std::size_t since = 0;
  double best = std::numeric_limits<double>::infinity();
  for (const auto& v : validation) {
    if (v.second < best) {
      best = v.second;
      since = 0;
    } else {
      ++since;
    }
  }
  return since;
}

std::string log_csv(const History& history) {
  std::ostringstream o;
  o << "step,train_loss,grad_norm,lr,validation_loss\n";
  std::size_t v = 0;
  for (std::size_t i = 0; i < history.train_loss.size(); ++i) {
    const std::size_t step = i + 1;
    o << step << ',' << format_number(history.train_loss[i]) << ','
      << (i < history.grad_norm.size() ? format_number(history.grad_norm[i]) : "") << ','
      << (i < history.lr.size() ? format_number(history.lr[i]) : "") << ',';
    while (v < history.validation.size() && history.validation[v].first < step) ++v;
    if (v < history.validation.size() && history.validation[v].first == step)
      o << format_number(history.validation[v].second);
    o << '\n';
  }
  return o.str();
}

std::vector<std::pair<std::string, Tensor<float>*>> optimizer_tensors(
    nn::Optimizer<float>& optimizer) {
  std::vector<std::pair<std::string, Tensor<float>*>> out;
  for (auto& [name, tensor] : optimizer.state()) out.emplace_back(kOptimizerPrefix + name, tensor);
  return out;
}

json to_json(const Progress& p) {
  json j{{"step", p.step},
         {"train_seconds", p.train_seconds},
         {"train_items", p.train_items},
         {"max_steps", nullptr},
         {"max_seconds", nullptr}};
  if (p.max_steps) j["max_steps"] = *p.max_steps;
  if (p.max_seconds) j["max_seconds"] = *p.max_seconds;
  return j;
}

Progress progress_from_json(const json& j) {
  const std::string where = "progress";
  Progress p;
  p.step = json_count(j, "step", where);
  p.train_seconds = json_number(j, "train_seconds", where);
  p.train_items = json_count(j, "train_items", where);
  if (j.contains("max_steps") && !j["max_steps"].is_null())
    p.max_steps = json_count(j, "max_steps", where);
  if (j.contains("max_seconds") && !j["max_seconds"].is_null())
    p.max_seconds = json_number(j, "max_seconds", where);
  return p;
}

json to_json(const History& h) {
  json validation = json::array();
  for (const auto& [step, loss] : h.validation) validation.push_back({step, loss});
  return json{{"train_loss", h.train_loss},
              {"grad_norm", h.grad_norm},
              {"lr", h.lr},
              {"validation", validation}};
}

History history_from_json(const json& j, std::size_t steps) {
  const std::string where = "history";
  History h;
  // An entry that is not a number is nlohmann's type_error, which the callers report as
  // malformed metadata.
  const auto floats = [&](const char* name, std::vector<float>& out) {
    for (const json& v : json_field(j, name, json::value_t::array, where))
      out.push_back(v.get<float>());
  };
  floats("train_loss", h.train_loss);
  floats("grad_norm", h.grad_norm);
  if (j.contains("lr"))  // not in checkpoints written before schedules
    for (const json& v : json_field(j, "lr", json::value_t::array, where))
      h.lr.push_back(v.get<double>());
  for (const json& v : json_field(j, "validation", json::value_t::array, where)) {
    if (!v.is_array() || v.size() != 2 || !v[0].is_number_unsigned() || !v[1].is_number())
      throw Error(where + ": a validation entry is not [step, loss]: " + v.dump());
    h.validation.emplace_back(v[0].get<std::size_t>(), v[1].get<double>());
  }
  if (h.train_loss.size() != steps || h.grad_norm.size() != steps)
    throw Error(where + ": " + std::to_string(h.train_loss.size()) + " train losses and " +
                std::to_string(h.grad_norm.size()) + " gradient norms for " +
                std::to_string(steps) + " steps");
  if (!h.lr.empty() && h.lr.size() != steps)
    throw Error(where + ": " + std::to_string(h.lr.size()) + " learning rates for " +
                std::to_string(steps) + " steps");
  return h;
}

// ---------------------------------------------------------------------------------------------
// Trainer

Trainer::Trainer(nn::Module<float>& model, nn::Optimizer<float>& optimizer, Task& task,
                 TrainerOptions options)
    : model_(model),
      optimizer_(optimizer),
      task_(task),
      options_(std::move(options)),
      parameters_(model.parameters()) {
  const TrainerOptions& o = options_;
  if (o.max_steps && *o.max_steps == 0) throw ValueError("{max_steps} must be at least 1, got 0");
  if (o.max_seconds && !(*o.max_seconds > 0 && std::isfinite(*o.max_seconds)))
    throw ValueError("{max_seconds} must be a positive number of seconds, got " +
                     format_number(*o.max_seconds));
  if (o.validate_every == 0) throw ValueError("{validate_every} must be at least 1, got 0");
  if (o.checkpoint_every == 0) throw ValueError("{checkpoint_every} must be at least 1, got 0");
  if (!(o.clip >= 0 && std::isfinite(o.clip)))
    throw ValueError("{clip} must be a number >= 0 (0 turns clipping off), got " +
                     format_number(o.clip));
  struct stat st {};
  if (!o.out_dir.empty() && ::stat(o.out_dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    throw ValueError("{out_dir} '" + o.out_dir + "' is a file, expected a directory");
  for (const auto& [name, rng] : o.rngs)
    if (rng == nullptr) throw Error("Trainer: the random generator '" + name + "' is null");
  if (o.patience && *o.patience == 0)
    throw ValueError("{patience} must be at least 1 validation, got 0");
  if (o.schedule) o.schedule->validate(o.max_steps);
  if (o.verify_every == 0) throw ValueError("{verify_every} must be at least 1, got 0");
  for (const auto& [name, rng] : model.named_generators())
    options_.rngs.emplace_back("model." + name, rng);
  if (is_parallel(o.processes)) {
    if (o.processes->rank() != 0) options_.hooks.write_files = false;
    averager_ = std::make_unique<GradientAverager<float>>(*o.processes, parameters_, 1);
  }
  progress_.max_steps = o.max_steps;
  progress_.max_seconds = o.max_seconds;
}

void Trainer::resume() {
  const std::string path = checkpoint_path(options_.out_dir);
  if (options_.out_dir.empty() || !fs::exists(path))
    throw ValueError("resume: {out_dir} '" + options_.out_dir +
                     "' holds no checkpoint to continue (expected " + path + ")");
  const json whole = nn::read_checkpoint_metadata(path);
  resume(whole.contains("user") ? whole["user"] : json());
}

void Trainer::resume(const json& meta) {
  const std::string path = checkpoint_path(options_.out_dir);
  // Everything is parsed and checked first; the tensors are loaded last, all or nothing.
  if (!meta.is_object() || !meta.contains("progress"))
    throw Error(path + " is a tapegrad checkpoint but not a Trainer's (its metadata has no " +
                "\"progress\")");
  Progress progress;
  History history;
  std::vector<std::pair<nn::Rng*, std::unique_ptr<nn::Rng>>> rngs;
  try {
    progress = progress_from_json(meta["progress"]);
    history = history_from_json(meta.value("history", json()), progress.step);
    const json& saved_rngs =
        options_.rngs.empty() ? meta : json_field(meta, "rngs", json::value_t::object, "metadata");
    for (const auto& [name, rng] : options_.rngs) {
      auto restored = std::make_unique<nn::Rng>();
      restored->set_state(json_string(saved_rngs, name, "rngs"));
      rngs.emplace_back(rng, std::move(restored));
    }
  } catch (const Error& e) {
    throw Error("cannot resume from " + path + ": " + e.what());
  } catch (const json::exception& e) {
    throw Error("cannot resume from " + path + ": malformed metadata: " + e.what());
  }
  if (!options_.max_steps && !options_.max_seconds) {
    options_.max_steps = progress.max_steps;
    options_.max_seconds = progress.max_seconds;
  }
  if (options_.max_steps && *options_.max_steps <= progress.step)
    throw ValueError("{max_steps} " + std::to_string(*options_.max_steps) +
                     ": the checkpoint in '" + options_.out_dir + "' is already at step " +
                     std::to_string(progress.step) + "; ask for more steps to continue");
  if (options_.schedule) {
    // A checkpoint from before schedules trained at the optimiser's constant rate.
    std::optional<LRSchedule> saved;
    try {
      if (meta.contains("schedule")) saved = LRSchedule::from_json(meta["schedule"]);
    } catch (const Error& e) {
      throw Error("cannot resume from " + path + ": " + e.what());
    }
    const bool same = saved ? *saved == *options_.schedule
                            : options_.schedule->kind == LRSchedule::Kind::constant &&
                                  options_.schedule->warmup == 0;
    if (!same)
      throw ValueError("{lr_schedule}: the checkpoint in '" + options_.out_dir +
                       "' was trained with the schedule " +
                       (saved ? saved->describe() : std::string("of its optimiser")) + ", given " +
                       options_.schedule->describe() +
                       "; a resumed run must continue the same curve");
    options_.schedule->validate(options_.max_steps);
  }
  if (options_.patience && history.validations_since_best() >= *options_.patience)
    throw ValueError("{patience} " + std::to_string(*options_.patience) + ": the checkpoint in '" +
                     options_.out_dir + "' stopped early, " +
                     std::to_string(history.validations_since_best()) +
                     " validations after its best; raise {patience} to continue");
  if (options_.max_seconds && *options_.max_seconds <= progress.train_seconds)
    throw ValueError("{max_seconds} " + format_number(*options_.max_seconds) +
                     ": the checkpoint in '" + options_.out_dir + "' has already trained for " +
                     format_number(std::floor(progress.train_seconds * 10) / 10) +
                     " s; ask for more time to continue");

  std::vector<std::pair<std::string, Tensor<float>*>> tensors = optimizer_tensors(optimizer_);
  for (auto& t : task_.state_tensors()) tensors.push_back(t);
  nn::load_checkpoint(path, model_, tensors);
  optimizer_.set_steps(progress.step);
  for (auto& [rng, restored] : rngs) *rng = *restored;
  task_.set_state(meta.contains("task") ? meta["task"] : json());
  progress_ = progress;
  progress_.max_steps = options_.max_steps;
  progress_.max_seconds = options_.max_seconds;
  history_ = std::move(history);
  // A checkpoint from before schedules trained every step at the optimiser's own rate.
  if (history_.lr.empty()) history_.lr.assign(progress_.step, optimizer_.lr());
  saved_step_ = progress_.step;
  owns_checkpoint_ = true;
  synchronized_ = false;  // the next step checks the processes resumed the same checkpoint
}

void Trainer::check_checkpoint_is_ours() const {
  if (owns_checkpoint_ || options_.out_dir.empty() || !options_.hooks.write_files) return;
  const std::string path = checkpoint_path(options_.out_dir);
  if (fs::exists(path))
    throw ValueError("{out_dir} '" + options_.out_dir + "' already holds a checkpoint (" + path +
                     ") that this run did not resume; resume() it to continue, or choose "
                     "another {out_dir}");
}

bool Trainer::stopped_early() const {
  return options_.patience && history_.validations_since_best() >= *options_.patience;
}

bool Trainer::interrupt_requested() const {
  if (parallel()) return agreed_interrupt_;  // the same answer on every process
  return options_.interrupt && options_.interrupt->load();
}

double Trainer::averaging_seconds() const {
  return averager_ ? averager_->sum_seconds() + averager_->copy_seconds() : 0.0;
}

void Trainer::synchronize() {
  ProcessGroup& group = *options_.processes;
  // Before any gradient is sent: processes that built other models (other flags) would sum
  // unrelated buffers of different lengths.
  check_same_everywhere(group, fingerprint_layout(parameters_),
                        "the model's parameters (names and shapes)");
  check_same_everywhere(group, progress_.step, "the step to start from (a resumed checkpoint)");
  std::vector<Tensor<float>*> tensors;
  for (Parameter<float>* p : parameters_) tensors.push_back(&p->value);
  for (auto& [name, tensor] : optimizer_tensors(optimizer_)) tensors.push_back(tensor);
  broadcast_tensors(group, tensors);
  synchronized_ = true;
}

bool Trainer::done() const {
  return (options_.max_steps && progress_.step >= *options_.max_steps) ||
         (options_.max_seconds && progress_.train_seconds >= *options_.max_seconds) ||
         stopped_early();
}

StepResult Trainer::step() {
  if (parallel() && !synchronized_) synchronize();
  const Clock::time_point start = Clock::now();
  if (options_.schedule) optimizer_.set_lr(options_.schedule->rate(progress_));
  tape_.clear();
  const Var<float> loss = task_.training_loss(tape_);
  float value = loss.item();
  tape_.backward(loss);
  task_.after_backward();
  if (averager_) (*averager_)(&value);  // the gradients and the loss of the whole batch

  if (!std::isfinite(value)) {
    optimizer_.zero_grad();  // a caller that goes on must not add these to the next step's
    std::string kept;        // what the user still has
    if (!options_.out_dir.empty() && options_.hooks.write_files)
      kept = owns_checkpoint_ ? "; the checkpoint of step " + std::to_string(saved_step_) +
                                    " in '" + options_.out_dir + "' is kept"
                              : "; no checkpoint had been written yet";
    const std::string message = "step " + std::to_string(progress_.step + 1) +
                                ": the training loss is " + format_number(value) +
                                " (the run diverged; a lower learning rate or clipping may help)" +
                                kept;
    if (parallel()) throw CollectiveError(message);  // every process saw the same average
    throw Error(message);
  }

  if (options_.hooks.hand_off_gradients) options_.hooks.hand_off_gradients(parameters_);
  const double norm = nn::clip_grad_norm(
      parameters_, options_.clip > 0 ? options_.clip : std::numeric_limits<double>::infinity());
  if (options_.hooks.optimizer_step)
    options_.hooks.optimizer_step(optimizer_);
  else
    optimizer_.step();
  optimizer_.zero_grad();

  std::size_t items = task_.items_in_last_batch();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (parallel()) {
    // One clock (rank 0's) and one interrupt for all, so that every process takes the same
    // decisions after this step: stop, validate, save.
    double agreed[2] = {options_.processes->rank() == 0 ? seconds : 0.0,
                        options_.interrupt && options_.interrupt->load() ? 1.0 : 0.0};
    options_.processes->sum(agreed, 2);
    seconds = agreed[0];
    agreed_interrupt_ = agreed[1] > 0;
    items *= options_.processes->size();  // equal shards
  }
  ++progress_.step;
  progress_.train_seconds += seconds;
  progress_.train_items += items;
  ++session_steps_;
  session_seconds_ += seconds;
  session_items_ += items;
  history_.train_loss.push_back(value);
  history_.grad_norm.push_back(float(norm));
  history_.lr.push_back(optimizer_.lr());
  if (parallel() && progress_.step % options_.verify_every == 0)
    check_same_everywhere(
        *options_.processes, fingerprint_values(parameters_),
        "after step " + std::to_string(progress_.step) + ", the parameters (bit for bit)");
  return StepResult{value, norm};
}

std::optional<double> Trainer::validate() {
  const std::optional<double> loss = task_.validation_loss();
  if (!loss) return loss;
  const auto best = history_.best_validation();
  history_.validation.emplace_back(progress_.step, *loss);
  if ((!best || *loss < best->second) && options_.keep_best && !options_.out_dir.empty()) {
    task_.gather_state();  // on every process: the validation loss, and so this, is the same
    run_on_root(options_.processes, [&] {
      if (!options_.hooks.write_files) return;
      check_checkpoint_is_ours();
      write_checkpoint(best_checkpoint_path(options_.out_dir));
    });
  }
  return loss;
}

void Trainer::save() {
  run_on_root(options_.processes, [&] { check_checkpoint_is_ours(); });
  task_.before_checkpoint();
  task_.gather_state();
  // Rank 0 writes; a failure there (a full disk) reaches every process.
  run_on_root(options_.processes, [&] {
    if (!options_.hooks.write_files || options_.out_dir.empty()) return;
    write_checkpoint(checkpoint_path(options_.out_dir));
    nn::write_file_atomically((fs::path(options_.out_dir) / "log.csv").string(), log_csv(history_));
    owns_checkpoint_ = true;
    saved_step_ = progress_.step;
    if (options_.on_checkpoint) options_.on_checkpoint();
  });
}

void Trainer::write_checkpoint(const std::string& path) {
  std::error_code ec;
  fs::create_directories(options_.out_dir, ec);
  if (ec || !fs::is_directory(options_.out_dir))
    throw Error("cannot create the output directory '" + options_.out_dir +
                "': " + (ec ? ec.message() : "a file of that name exists"));
  if (!swept_temporaries_) {  // once a session: what a killed run left half-written
    removed_temporaries_ = nn::remove_stale_temporaries(options_.out_dir);
    swept_temporaries_ = true;
  }
  json metadata = options_.metadata.is_object() ? options_.metadata : json::object();
  metadata["progress"] = to_json(progress_);
  metadata["history"] = to_json(history_);
  metadata["task"] = task_.state();
  json rngs = json::object();
  for (const auto& [name, rng] : options_.rngs) rngs[name] = rng->state();
  metadata["rngs"] = rngs;
  if (options_.schedule) metadata["schedule"] = options_.schedule->to_json();
  std::vector<std::pair<std::string, const Tensor<float>*>> tensors;
  for (auto& [name, tensor] : optimizer_tensors(optimizer_)) tensors.emplace_back(name, tensor);
  for (auto& [name, tensor] : task_.state_tensors()) tensors.emplace_back(name, tensor);
  nn::save_checkpoint(path, model_, metadata, tensors);
}

Report Trainer::report() const {
  Report r;
  r.step = progress_.step;
  r.max_steps = options_.max_steps;
  r.max_seconds = options_.max_seconds;
  r.train_loss = history_.train_loss.empty() ? 0.0f : history_.train_loss.back();
  if (!history_.validation.empty()) r.validation_loss = history_.validation.back().second;
  r.best_validation = history_.best_validation();
  r.lr = optimizer_.lr();
  r.items_per_second = session_seconds_ > 0 ? double(session_items_) / session_seconds_ : 0.0;
  r.elapsed = progress_.train_seconds;
  std::optional<double> eta;
  if (options_.max_seconds) eta = std::max(0.0, *options_.max_seconds - progress_.train_seconds);
  if (options_.max_steps && session_steps_ > 0) {
    const double by_steps =
        double(*options_.max_steps - std::min(*options_.max_steps, progress_.step)) *
        session_seconds_ / double(session_steps_);
    eta = eta ? std::min(*eta, by_steps) : by_steps;
  }
  r.eta = eta;
  r.validated = validated_last_step_;
  r.last = done();
  r.stopped_early = stopped_early();
  return r;
}

Trainer::Outcome Trainer::run() {
  if (!options_.max_steps && !options_.max_seconds)
    throw ValueError("train: give {max_steps} or {max_seconds} (when to stop)");
  // Before any step: refusing later would waste them.
  run_on_root(options_.processes, [&] { check_checkpoint_is_ours(); });
  while (!done()) {
    if (interrupt_requested()) {
      save();
      return Outcome::interrupted;
    }
    step();
    const std::size_t k = progress_.step;
    const bool last = done();
    validated_last_step_ = (k % options_.validate_every == 0 || last) && validate().has_value();
    // A validation can end the run (patience): then this step is the last one saved.
    if (k % options_.checkpoint_every == 0 || last || stopped_early()) save();
    if (options_.on_progress) options_.on_progress(report());
  }
  return stopped_early() ? Outcome::stopped_early : Outcome::finished;
}

}  // namespace tapegrad::train
