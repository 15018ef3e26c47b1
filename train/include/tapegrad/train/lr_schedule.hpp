#pragma once
// Learning-rate schedules: the rate of every training step as a function of where the run is,
// so that a resumed run continues the curve exactly (the Trainer saves the schedule in the
// checkpoint and refuses to resume with another).
//
// Where the run is: s, the steps completed before the step, and f, the fraction of the run
// completed before it -- s / max_steps, or train_seconds / max_seconds for a run stopped by
// time, whichever is further along (run_fraction). With a step limit the curve is a function of
// the step alone and resuming reproduces it bit for bit; with a time limit it follows the
// measured training time, which no two runs share (a resumed run continues from the time it
// saved, so its curve is continuous, but not the one an uninterrupted run would have drawn).
//
//   warm(s)   = min(1, (s + 1) / warmup)          (1 without warm-up)
//   constant: lr_s = lr * warm(s)
//   cosine:   lr_s = warm(s) * (lr_min + (lr - lr_min) * (1 + cos(pi * f)) / 2)
//   step:     lr_s = warm(s) * lr * decay^floor(max(0, s - decay_start) / decay_every)
//
// constant with warm-up is torch's LinearLR(1 / warmup, 1, warmup - 1); cosine is
// CosineAnnealingLR(T_max = max_steps, eta_min = lr_min) (nanoGPT's warm-up-then-cosine when
// warmup > 0); step is StepLR(decay_every, decay) from decay_start on (char-rnn's x0.97 per
// epoch after epoch 10 is decay 0.97, decay_every one epoch of steps, decay_start 10 epochs).
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tapegrad::train {

struct Progress;

struct LRSchedule {
  enum class Kind { constant, cosine, step };
  Kind kind = Kind::constant;
  double lr = 1e-3;
  std::size_t warmup = 0;          // steps of linear warm-up; 0: none
  double lr_min = 0;               // cosine: the floor it decays to, in [0, lr)
  double decay = 0.97;             // step: the factor, in (0, 1]
  std::size_t decay_every = 1000;  // step: steps between two decays, >= 1
  std::size_t decay_start = 0;     // step: steps before decaying starts

  /// "constant", "cosine", "step", in Kind order: the names a program offers.
  static const std::vector<std::string>& names();
  /// A ValueError naming {lr_schedule} and the accepted names for anything else.
  static Kind parse(const std::string& name);
  static const char* name(Kind kind);

  /// The learning rate of the step after `steps_done` steps, `fraction` of the run done
  /// (clamped to [0, 1]).
  double rate(std::size_t steps_done, double fraction) const;
  /// The same where the Trainer is: rate(p.step, run_fraction(p)).
  double rate(const Progress& p) const;

  /// ValueErrors naming the value out of range: {lr}, {lr_min}, {lr_decay}, {lr_decay_every};
  /// and {warmup} when it is not shorter than a step limit given.
  void validate(std::optional<std::size_t> max_steps = std::nullopt) const;

  /// Every field, for a checkpoint; from_json reads it back (errors name the field).
  nlohmann::json to_json() const;
  static LRSchedule from_json(const nlohmann::json& j);
  bool operator==(const LRSchedule& o) const { return to_json() == o.to_json(); }
  bool operator!=(const LRSchedule& o) const { return !(*this == o); }
  /// "cosine from 0.002 to 0.0002, 100 warm-up steps" and the like.
  std::string describe() const;
};

/// The fraction of the run done: max(step / max_steps, train_seconds / max_seconds) over the
/// limits given, in [0, 1] (0 without a limit).
double run_fraction(const Progress& p);

}  // namespace tapegrad::train
