#include "tapegrad/train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

#include <tapegrad/train/format.hpp>
#include <tapegrad/train/json_fields.hpp>
#include <tapegrad/train/schema.hpp>
#include <tapegrad/train/trainer.hpp>
#include <tapegrad/train/value_error.hpp>

namespace tapegrad::train {

using json = nlohmann::json;

const std::vector<std::string>& LRSchedule::names() {
  static const std::vector<std::string> names{"constant", "cosine", "step"};
  return names;
}

LRSchedule::Kind LRSchedule::parse(const std::string& name) {
  for (std::size_t i = 0; i < names().size(); ++i)
    if (name == names()[i]) return static_cast<Kind>(i);
  throw ValueError("{lr_schedule}: expected one of " + one_of_text(names()) + ", got '" + name +
                   "'");
}

const char* LRSchedule::name(Kind kind) { return names()[std::size_t(kind)].c_str(); }

double LRSchedule::rate(std::size_t steps_done, double fraction) const {
  const double warm = warmup > 0 ? std::min(1.0, double(steps_done + 1) / double(warmup)) : 1.0;
  switch (kind) {
    case Kind::constant:
      return lr * warm;
    case Kind::cosine: {
      const double f = std::clamp(fraction, 0.0, 1.0);
      return warm * (lr_min + (lr - lr_min) * 0.5 * (1 + std::cos(M_PI * f)));
    }
    case Kind::step: {
      const std::size_t after = steps_done > decay_start ? steps_done - decay_start : 0;
      return warm * lr * std::pow(decay, double(after / decay_every));
    }
  }
  return lr;
}

double LRSchedule::rate(const Progress& p) const { return rate(p.step, run_fraction(p)); }

void LRSchedule::validate(std::optional<std::size_t> max_steps) const {
  if (!(lr > 0 && std::isfinite(lr)))
    throw ValueError("{lr}: expected a positive number, got " + format_number(lr));
  if (kind == Kind::cosine && !(lr_min >= 0 && lr_min < lr))
    throw ValueError("{lr_min}: expected a number in [0, {lr}) = [0, " + format_number(lr) +
                     "), got " + format_number(lr_min));
  if (kind == Kind::step && !(decay > 0 && decay <= 1))
    throw ValueError("{lr_decay}: expected a factor in (0, 1], got " + format_number(decay));
  if (kind == Kind::step && decay_every == 0)
    throw ValueError("{lr_decay_every}: expected at least 1 step, got 0");
  if (max_steps && warmup > 0 && warmup >= *max_steps)
    throw ValueError("{warmup} " + std::to_string(warmup) +
                     " is not shorter than the run ({max_steps} " + std::to_string(*max_steps) +
                     "): the rate would never reach {lr}");
}

json LRSchedule::to_json() const {
  return json{{"schedule", name(kind)},    {"lr", lr},       {"warmup", warmup},
              {"lr_min", lr_min},          {"decay", decay}, {"decay_every", decay_every},
              {"decay_start", decay_start}};
}

LRSchedule LRSchedule::from_json(const json& j) {
  const std::string where = "schedule";
  LRSchedule s;
  const std::string kind = json_string(j, "schedule", where);
  const auto known = std::find(names().begin(), names().end(), kind);
  if (known == names().end())
    throw Error(where + ": unknown schedule '" + kind + "' (expected " + one_of_text(names()) +
                ")");
  s.kind = static_cast<Kind>(known - names().begin());
  s.lr = json_number(j, "lr", where);
  s.warmup = json_count(j, "warmup", where);
  s.lr_min = json_number(j, "lr_min", where);
  s.decay = json_number(j, "decay", where);
  s.decay_every = json_count(j, "decay_every", where);
  s.decay_start = json_count(j, "decay_start", where);
  try {
    s.validate();
  } catch (const ValueError& e) {
    throw Error(where + ": " + ValueError::plain(e.message_template()));
  }
  return s;
}

std::string LRSchedule::describe() const {
  std::string out;
  switch (kind) {
    case Kind::constant:
      out = "constant " + format_number(lr);
      break;
    case Kind::cosine:
      out = "cosine from " + format_number(lr) + " to " + format_number(lr_min);
      break;
    case Kind::step:
      out = format_number(lr) + " x" + format_number(decay) + " every " +
            std::to_string(decay_every) + " steps" +
            (decay_start ? " after step " + std::to_string(decay_start) : std::string());
      break;
  }
  if (warmup > 0) out += ", " + std::to_string(warmup) + " warm-up steps";
  return out;
}

double run_fraction(const Progress& p) {
  double f = 0;
  if (p.max_steps && *p.max_steps > 0) f = std::max(f, double(p.step) / double(*p.max_steps));
  if (p.max_seconds && *p.max_seconds > 0) f = std::max(f, p.train_seconds / *p.max_seconds);
  return std::clamp(f, 0.0, 1.0);
}

}  // namespace tapegrad::train
