#pragma once
// The training loop every program needs, once: a Trainer steps a Task until a stop rule (steps
// or training time, or no progress on the validation loss for `patience` validations), sets
// the learning rate of each step from a schedule, validates and checkpoints on a schedule,
// keeps the checkpoint of the best validation loss beside the latest, stops cleanly on an
// interrupt, reports progress through a callback, keeps the loss history and log.csv, and
// continues a checkpoint exactly (parameters, optimiser state, progress, every random generator
// -- the model's own, such as dropout's, and the program's -- and the task's own state, such as
// a data position or a carried hidden state).
//
// The program supplies what is specific to it: a Task (the loss of the next batch, a validation
// loss, extra state) and, through Hooks, what happens to the gradients between the backward pass
// and the optimiser step, and whether this process writes files.
//
// Data-parallel training (TrainerOptions::processes, data_parallel.hpp): every process runs the
// same program with its own Task on its share of the batch; the Trainer averages the gradients
// and the loss over the processes in one operation per step, keeps their clocks, stop rules and
// interrupts in step, checks every `verify_every` steps that their parameters are bit-identical,
// and lets rank 0 alone write files. Anything that fails on rank 0 alone (a full disk) is raised
// on every process as a CollectiveError.
//
//   struct MyTask : train::Task { ... };
//   train::TrainerOptions o;
//   o.max_steps = 1000;
//   o.out_dir = "run";
//   train::Trainer trainer(model, optimizer, task, o);
//   if (resuming) trainer.resume();
//   trainer.run();
//
// Errors about settings are ValueErrors naming them as {max_steps}, {max_seconds},
// {validate_every}, {checkpoint_every}, {clip}, {patience}, {out_dir} and the schedule's
// ({lr_schedule}, {warmup}, ...; lr_schedule.hpp).
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/nn/init.hpp>
#include <tapegrad/nn/module.hpp>
#include <tapegrad/nn/optim.hpp>
#include <tapegrad/train/data_parallel.hpp>
#include <tapegrad/train/lr_schedule.hpp>

namespace tapegrad::train {

/// What is specific to one training job. The Trainer calls it; it never calls the Trainer.
class Task {
 public:
  virtual ~Task() = default;
  /// The mean loss of the next training batch, recorded on `tape` (a scalar Var). Each call
  /// moves on to the next batch.
  virtual Var<float> training_loss(Tape<float>& tape) = 0;
  /// How many predictions (samples, tokens) the last training_loss() averaged: the unit of the
  /// throughput reported.
  virtual std::size_t items_in_last_batch() const = 0;
  /// Called after the backward pass of a step, before the gradients are handed off and
  /// clipped, while the step's tape still holds its gradients (diagnostics).
  virtual void after_backward() {}
  /// The held-out loss of the model as it is now, or nullopt when there is no held-out data.
  virtual std::optional<double> validation_loss() { return std::nullopt; }
  /// Called before every checkpoint is written (diagnostics measured on demand).
  virtual void before_checkpoint() {}
  /// Called on every process right before a checkpoint (latest or best) is written by one of
  /// them: a data-parallel task collects into state_tensors() the state its processes hold in
  /// shards (each process's part of a carried hidden state).
  virtual void gather_state() {}
  /// Tensors beyond the parameters and the optimiser state that a resumed run needs (a carried
  /// hidden state); their names must not start with "optimizer.".
  virtual std::vector<std::pair<std::string, Tensor<float>*>> state_tensors() { return {}; }
  /// Everything else a resumed run needs (a data position), and its restoration.
  virtual nlohmann::json state() const { return nullptr; }
  virtual void set_state(const nlohmann::json& /*state*/) {}
};

/// Where a program steps into the update: the later multi-process and schedule work hooks in
/// here without changing the loop.
struct Hooks {
  /// After the backward pass and Task::after_backward, before clipping: e.g. an allreduce that
  /// averages every parameter's gradient over the processes.
  std::function<void(const std::vector<Parameter<float>*>&)> hand_off_gradients;
  /// The update itself; empty: optimizer.step().
  std::function<void(nn::Optimizer<float>&)> optimizer_step;
  /// Whether this process writes the checkpoint and log.csv (only rank 0 of a multi-process run).
  bool write_files = true;
};

/// Where the training is; saved in the checkpoint.
struct Progress {
  std::size_t step = 0;                  // steps completed
  double train_seconds = 0;              // time spent in steps (validation and saving excluded)
  std::size_t train_items = 0;           // predictions made in training steps
  std::optional<std::size_t> max_steps;  // the stop rule
  std::optional<double> max_seconds;
};

/// The loss curves. Losses are the float values the steps produced, so a resumed run can be
/// compared with an uninterrupted one bit for bit.
struct History {
  std::vector<float> train_loss;                           // step k at index k - 1
  std::vector<float> grad_norm;                            // before clipping
  std::vector<double> lr;                                  // the learning rate of each step
  std::vector<std::pair<std::size_t, double>> validation;  // (step, loss)

  /// The validation with the lowest loss (the first of equals), if any.
  std::optional<std::pair<std::size_t, double>> best_validation() const;
  /// Validations since the best one (0 when the last one is the best).
  std::size_t validations_since_best() const;
};

/// What the progress callback sees after every step.
struct Report {
  std::size_t step = 0;
  std::optional<std::size_t> max_steps;
  std::optional<double> max_seconds;
  float train_loss = 0;
  std::optional<double> validation_loss;                          // the latest
  std::optional<std::pair<std::size_t, double>> best_validation;  // (step, loss)
  double lr = 0;                                                  // of the step just taken
  double items_per_second = 0;                                    // in this session
  double elapsed = 0;                                             // training seconds, all sessions
  std::optional<double> eta;   // seconds until the stop rule, when it can be told
  bool validated = false;      // this step was followed by a validation
  bool last = false;           // the stop rule is met
  bool stopped_early = false;  // by TrainerOptions::patience
};

struct TrainerOptions {
  /// Stop after max_steps steps in all, or when the training time of all sessions reaches
  /// max_seconds (whichever comes first; at least one of them). On resume, when neither is
  /// given, the checkpoint's rule applies.
  std::optional<std::size_t> max_steps;
  std::optional<double> max_seconds;
  std::size_t validate_every = 50;     // and after the last step
  std::size_t checkpoint_every = 200;  // and after the last step, and on an interrupt
  double clip = 0;                     // the largest gradient norm; 0: no clipping
  /// The learning rate of every step (set on the optimiser before it); none: the optimiser's
  /// own rate throughout. Saved in the checkpoint; a resume with another one is refused.
  std::optional<LRSchedule> schedule;
  /// Stop once this many validations in a row have not improved on the best validation loss
  /// (early stopping); none: never. At least 1.
  std::optional<std::size_t> patience;
  /// Write best.npz beside checkpoint.npz whenever a validation improves on the best loss: the
  /// model at its best, which the latest checkpoint of an overfitting run is not.
  bool keep_best = true;
  /// Where checkpoint.npz and log.csv go (created when first written). Empty: no files.
  std::string out_dir;
  /// The program's own description of the run (hyper-parameters, data identity), stored in
  /// every checkpoint beside the Trainer's "progress", "history", "task" and "rngs".
  nlohmann::json metadata = nlohmann::json::object();
  /// Every random generator the program draws from while training (batch sampling): their
  /// states are saved and restored, named. The model's own (Module::named_generators, such as
  /// dropout's) are added by the Trainer as "model.<name>".
  std::vector<std::pair<std::string, nn::Rng*>> rngs;
  /// Polled between steps: when it becomes true the step in progress finishes, a checkpoint is
  /// written and run() returns interrupted.
  const std::atomic<bool>* interrupt = nullptr;
  std::function<void(const Report&)> on_progress;
  /// After each checkpoint (and log.csv) is written: a program's own files (plots, summaries).
  std::function<void()> on_checkpoint;
  Hooks hooks;
  /// The processes of a data-parallel run; null: this process alone. With more than one, each
  /// step's gradients and loss are averaged over them (GradientAverager, one operation), rank 0
  /// alone writes files, an interrupt any process sees stops all of them after the same step,
  /// the stop rule by time follows rank 0's clock, and run() starts by checking that the
  /// processes built the same model and copying rank 0's parameters and optimiser state to all.
  ProcessGroup* processes = nullptr;
  /// With processes: every this many steps, check that the parameters of every process are
  /// bit-identical to rank 0's (a hash compared across processes); a difference is a
  /// CollectiveError naming the processes. At least 1.
  std::size_t verify_every = 100;
};

struct StepResult {
  float loss;
  double grad_norm;  // before clipping
};

class Trainer {
 public:
  /// Checks the options (ValueErrors, before anything is written).
  Trainer(nn::Module<float>& model, nn::Optimizer<float>& optimizer, Task& task,
          TrainerOptions options);

  /// Continues the checkpoint in out_dir: parameters, optimiser state, progress, history,
  /// random generators and the task's state. Everything is checked before anything changes,
  /// and a stop rule that is already met is an error.
  void resume();
  /// The same, with the checkpoint's metadata as the program read it (a program whose older
  /// checkpoints kept these fields elsewhere passes them converted to this layout).
  void resume(const nlohmann::json& metadata);

  /// One step: loss, backward, Task::after_backward, the gradients (and the loss) averaged over
  /// the processes, the gradient hand-off, clipping, update. The loss is that of the whole batch:
  /// with processes, the mean of theirs.
  StepResult step();
  /// The task's validation loss, recorded in the history (nullopt when it has none). A loss
  /// below every earlier one writes best.npz (keep_best).
  std::optional<double> validate();
  /// Writes the checkpoint and log.csv (when this process writes files), then on_checkpoint.
  /// The first save of a session also removes the temporary files a killed run left in
  /// out_dir (nn::remove_stale_temporaries; removed_temporaries() lists them).
  /// A checkpoint already in out_dir is never replaced by a run that did not resume() it (nor
  /// write it): that is a ValueError naming {out_dir}, raised by run() before the first step.
  void save();

  enum class Outcome { finished, interrupted, stopped_early };
  /// Steps until the stop rule, an interrupt or early stopping, validating and checkpointing on
  /// schedule (and after the last step).
  Outcome run();

  /// The flag run() polls (TrainerOptions::interrupt), for a program that knows it only later.
  void set_interrupt(const std::atomic<bool>* flag) { options_.interrupt = flag; }

  bool done() const;
  /// Seconds spent averaging gradients over the processes (0 alone), this session.
  double averaging_seconds() const;
  /// Whether `patience` validations in a row have not improved on the best.
  bool stopped_early() const;
  const Progress& progress() const { return progress_; }
  const History& history() const { return history_; }
  const TrainerOptions& options() const { return options_; }
  Report report() const;
  /// The stale temporary files the first save() removed from out_dir.
  const std::vector<std::string>& removed_temporaries() const { return removed_temporaries_; }

 private:
  nn::Module<float>& model_;
  nn::Optimizer<float>& optimizer_;
  Task& task_;
  TrainerOptions options_;
  // A module's parameters are fixed once it is built: listed once, not every step.
  std::vector<Parameter<float>*> parameters_;
  Progress progress_;
  History history_;
  Tape<float> tape_;
  std::size_t session_steps_ = 0, session_items_ = 0;
  double session_seconds_ = 0;
  bool validated_last_step_ = false;
  bool owns_checkpoint_ = false;  // resumed from, or written by, this Trainer
  std::size_t saved_step_ = 0;    // the step of that checkpoint
  bool swept_temporaries_ = false;
  std::vector<std::string> removed_temporaries_;
  std::unique_ptr<GradientAverager<float>> averager_;  // with more than one process
  bool synchronized_ = false;      // run() checked and copied rank 0's model everywhere
  bool agreed_interrupt_ = false;  // some process saw the interrupt by the end of the last step
  bool parallel() const { return averager_ != nullptr; }
  bool interrupt_requested() const;
  void synchronize();
  void check_checkpoint_is_ours() const;
  void write_checkpoint(const std::string& path);
};

/// <out_dir>/checkpoint.npz: the latest checkpoint, which a resume continues.
std::string checkpoint_path(const std::string& out_dir);
/// <out_dir>/best.npz: the checkpoint of the step with the best validation loss so far.
std::string best_checkpoint_path(const std::string& out_dir);

/// log.csv: "step,train_loss,grad_norm,lr,validation_loss", one row per step (the validation
/// loss empty where none was measured), numbers in shortest round-trip form.
std::string log_csv(const History& history);

/// The optimiser's state tensors as a checkpoint names them ("optimizer.<name>"), for a
/// program that loads a Trainer checkpoint without a Trainer (to sample from the model).
std::vector<std::pair<std::string, Tensor<float>*>> optimizer_tensors(
    nn::Optimizer<float>& optimizer);

/// The progress and history parts of a Trainer checkpoint's metadata. Errors name the field.
nlohmann::json to_json(const Progress& progress);
Progress progress_from_json(const nlohmann::json& j);
nlohmann::json to_json(const History& history);
History history_from_json(const nlohmann::json& j, std::size_t steps);

}  // namespace tapegrad::train
