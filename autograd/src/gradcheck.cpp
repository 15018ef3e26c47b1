#include "tapegrad/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <random>
#include <sstream>

namespace tapegrad {
namespace {

// The indices of a [T, B, classes] one-hot constant (time-major) as T steps of B.
std::vector<Indices> by_step(const Indices& all, std::size_t steps) {
  std::vector<Indices> out(steps);
  const std::size_t per_step = all.size() / steps;
  for (std::size_t t = 0; t < steps; ++t)
    out[t].assign(all.begin() + std::ptrdiff_t(t * per_step),
                  all.begin() + std::ptrdiff_t((t + 1) * per_step));
  return out;
}

// The scalar L = sum(f(x) * r). Recorded with gradients on, as the analytic pass records it:
// an op that behaves differently without them (dropout is the identity under NoGradGuard) must
// be measured as the function the backward pass differentiates.
double projected_loss(const std::function<Var<double>(Tape<double>&)>& f, Tape<double>& tape,
                      const Tensor<double>& r) {
  tape.clear();
  const Tensor<double>& y = f(tape).value();
  if (y.shape() != r.shape())
    throw Error("gradcheck: the function's output changed shape from " + shape_str(r.shape()) +
                " to " + shape_str(y.shape()) + " between evaluations");
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += y.data()[i] * r.data()[i];
  return s;
}

std::vector<std::size_t> unravel(std::size_t flat, const Shape& shape) {
  std::vector<std::size_t> idx(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    idx[k] = flat % shape[k];
    flat /= shape[k];
  }
  return idx;
}

// A random direction of unit length: normal draws, normalised (the same distribution in every
// direction, so no axis of an input is favoured).
void unit_direction(std::mt19937_64& rng, double* d, std::size_t n) {
  std::normal_distribution<double> normal(0.0, 1.0);
  double norm = 0;
  for (std::size_t i = 0; i < n; ++i) {
    d[i] = normal(rng);
    norm += d[i] * d[i];
  }
  norm = std::sqrt(norm);
  for (std::size_t i = 0; i < n; ++i) d[i] /= norm;
}

// Keeps the worst comparison: the largest error measured against its own tolerance.
struct Worst {
  double badness = -1;
  void offer(GradcheckInputReport& rep, double a, double n, std::vector<std::size_t> where,
             const GradcheckOptions& o) {
    const double abs_err = std::fabs(a - n);
    const double scale = std::max(std::fabs(a), std::fabs(n));
    const double rel_err = scale > 0 ? abs_err / scale : 0.0;  // 0/0 counts as agreement
    const bool pass = abs_err <= o.atol + o.rtol * scale;      // also false for NaN
    ++rep.checked;
    if (!pass) ++rep.failures;
    const double ratio = abs_err / (o.atol + o.rtol * scale);
    const double badness = std::isnan(ratio) ? std::numeric_limits<double>::infinity() : ratio;
    if (badness > this->badness) {
      this->badness = badness;
      rep.worst_index = std::move(where);
      rep.analytic = a;
      rep.numeric = n;
      rep.abs_error = abs_err;
      rep.rel_error = rel_err;
    }
    if (!pass) rep.ok = false;
  }
};

// check_ops' checker: each op, as the tape records it, is recorded once more on a scratch tape
// from copies of its inputs, where its backward and its forward can be compared alone.
class LocalChecker final : public detail::OpChecker {
 public:
  LocalChecker(const GradcheckOptions& o, OpCheckResult& result)
      : o_(o), rng_(o.seed), result_(result) {}

  void check(Tape<double>& tape, std::uint32_t node, const detail::Rerecord& op) override {
    const std::vector<std::size_t> inputs = tape.inputs_of(node);
    // Each distinct input once: an op reading one value twice (x * x) must see one value.
    std::vector<std::size_t> distinct;
    std::vector<std::size_t> slot(inputs.size());
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      auto it = std::find(distinct.begin(), distinct.end(), inputs[k]);
      slot[k] = std::size_t(it - distinct.begin());
      if (it == distinct.end()) distinct.push_back(inputs[k]);
    }
    std::vector<const Tensor<double>*> base;
    for (std::size_t pos : distinct) base.push_back(&tape.at(pos).value());

    // The op's output on the scratch tape from `values` (input j perturbed when given).
    std::vector<Var<double>> vars(distinct.size());
    std::vector<const Var<double>*> ptrs(inputs.size());
    auto record = [&](std::size_t perturbed, const Tensor<double>* value) {
      scratch_.clear();
      for (std::size_t j = 0; j < distinct.size(); ++j) {
        const Tensor<double>& v = j == perturbed ? *value : *base[j];
        if (const Indices* idx = tape.one_hot_indices(distinct[j]))
          vars[j] = v.dimension() == 3 ? scratch_.one_hot(by_step(*idx, v.shape()[0]), v.shape()[2])
                                       : scratch_.one_hot(*idx, v.shape()[1]);
        else if (tape.at(distinct[j]).requires_grad())
          vars[j] = scratch_.leaf(v);
        else
          vars[j] = scratch_.constant(v);
      }
      for (std::size_t k = 0; k < inputs.size(); ++k) ptrs[k] = &vars[slot[k]];
      return op.record(op.op, scratch_, ptrs.data(), ptrs.size());
    };
    auto projected = [&](std::size_t j, const Tensor<double>& value, const Tensor<double>& u) {
      const Tensor<double>& y = record(j, &value).value();
      double s = 0;
      for (std::size_t i = 0; i < y.size(); ++i) s += y.data()[i] * u.data()[i];
      return s;
    };

    ++result_.checked;
    Var<double> y = record(distinct.size(), nullptr);
    Tensor<double> u = Tensor<double>::from_shape(y.shape());
    for (double& v : u) v = uniform_(rng_);
    scratch_.backward(y, u);
    std::vector<Tensor<double>> grads(distinct.size());
    std::vector<bool> differentiable(distinct.size());
    for (std::size_t j = 0; j < distinct.size(); ++j)
      if ((differentiable[j] = vars[j].requires_grad())) grads[j] = vars[j].grad();

    const std::size_t directions = std::max<std::size_t>(1, o_.directions);
    OpCheckFailure worst;
    double worst_badness = -1;
    for (std::size_t j = 0; j < distinct.size(); ++j) {
      if (!differentiable[j]) continue;
      const Tensor<double>& x = *base[j];
      for (std::size_t r = 0; r < directions; ++r) {
        Tensor<double> d = Tensor<double>::from_shape(x.shape());
        unit_direction(rng_, d.data(), d.size());
        double analytic = 0;
        for (std::size_t i = 0; i < d.size(); ++i) analytic += grads[j].data()[i] * d.data()[i];
        Tensor<double> moved = x + o_.eps * d;
        const double plus = projected(j, moved, u);
        moved = x - o_.eps * d;
        const double minus = projected(j, moved, u);
        const double numeric = (plus - minus) / (2 * o_.eps);
        const double abs_err = std::fabs(analytic - numeric);
        const double scale = std::max(std::fabs(analytic), std::fabs(numeric));
        if (abs_err <= o_.atol + o_.rtol * scale) continue;  // NaN fails too
        const double ratio = abs_err / (o_.atol + o_.rtol * scale);
        const double badness = std::isnan(ratio) ? INFINITY : ratio;
        if (badness <= worst_badness) continue;
        worst_badness = badness;
        worst.input = std::size_t(std::find(slot.begin(), slot.end(), j) - slot.begin());
        worst.analytic = analytic;
        worst.numeric = numeric;
        worst.abs_error = abs_err;
        worst.rel_error = scale > 0 ? abs_err / scale : 0;
      }
    }
    if (worst_badness < 0) return;
    worst.position = node;
    worst.op = tape.op_name(node);
    worst.scope = tape.scope_path(node);
    worst.inputs = inputs;
    for (std::size_t pos : inputs) worst.input_shapes.push_back(tape.at(pos).shape());
    worst.output_shape = tape.at(node).shape();
    result_.ok = false;
    result_.failures.push_back(std::move(worst));
  }

 private:
  GradcheckOptions o_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{-1.0, 1.0};
  OpCheckResult& result_;
  Tape<double> scratch_;
};

}  // namespace

OpCheckResult check_ops(const std::function<Var<double>(Tape<double>&)>& f,
                        const GradcheckOptions& o) {
  if (!(o.eps > 0)) throw Error("check_ops: eps must be positive, got " + std::to_string(o.eps));
  OpCheckResult result;
  LocalChecker checker(o, result);
  Tape<double> tape;
  tape.set_op_checker(&checker);
  f(tape);
  return result;
}

std::string OpCheckResult::report() const {
  std::ostringstream os;
  os << std::setprecision(6);
  os << "check_ops: " << checked << (checked == 1 ? " op" : " ops") << " checked, "
     << failures.size() << (failures.size() == 1 ? " disagrees" : " disagree")
     << " with its own forward\n";
  for (const OpCheckFailure& f : failures) {
    os << "  %" << f.position << " = " << f.op << '(';
    for (std::size_t k = 0; k < f.inputs.size(); ++k) os << (k ? ", %" : "%") << f.inputs[k];
    os << ")  " << shape_str(f.output_shape) << "  in "
       << (f.scope.empty() ? "(no scope)" : f.scope) << '\n';
    os << "    input " << f.input << " (%" << f.inputs[f.input] << ", "
       << shape_str(f.input_shapes[f.input]) << "): backward gives " << f.analytic
       << ", central difference " << f.numeric << " (abs error " << f.abs_error << ", rel error "
       << f.rel_error << ")\n";
  }
  return os.str();
}

GradcheckResult gradcheck(const std::function<Var<double>(Tape<double>&)>& f,
                          const std::vector<Parameter<double>*>& inputs,
                          const GradcheckOptions& o) {
  if (!(o.eps > 0)) throw Error("gradcheck: eps must be positive, got " + std::to_string(o.eps));
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);

  // Analytic gradients from one backward pass.
  for (Parameter<double>* p : inputs) {
    if (p == nullptr) throw Error("gradcheck: an input Parameter pointer is null");
    p->zero_grad();
  }
  Tape<double> tape;
  Var<double> y = f(tape);
  Tensor<double> r = Tensor<double>::from_shape(y.shape());
  if (r.size() == 1)
    r.fill(1.0);
  else
    for (double& v : r) v = uniform(rng);
  tape.backward(y, r);
  std::vector<Tensor<double>> analytic;
  for (Parameter<double>* p : inputs) analytic.push_back(p->grad);

  GradcheckResult result;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Parameter<double>& p = *inputs[k];
    GradcheckInputReport rep;
    rep.name = p.name.empty() ? "input " + std::to_string(k) : p.name;
    rep.shape = p.value.shape();
    Worst worst;
    double* x = p.value.data();
    const std::size_t n = p.value.size();
    if (o.directions == 0) {
      for (std::size_t i = 0; i < n; ++i) {
        const double saved = x[i];
        x[i] = saved + o.eps;
        const double plus = projected_loss(f, tape, r);
        x[i] = saved - o.eps;
        const double minus = projected_loss(f, tape, r);
        x[i] = saved;
        worst.offer(rep, analytic[k].data()[i], (plus - minus) / (2 * o.eps), unravel(i, rep.shape),
                    o);
      }
    } else {
      const Tensor<double> saved = p.value;
      std::vector<double> d(n);
      for (std::size_t j = 0; j < o.directions; ++j) {
        unit_direction(rng, d.data(), n);
        double a = 0;
        for (std::size_t i = 0; i < n; ++i) a += analytic[k].data()[i] * d[i];
        for (std::size_t i = 0; i < n; ++i) x[i] = saved.data()[i] + o.eps * d[i];
        const double plus = projected_loss(f, tape, r);
        for (std::size_t i = 0; i < n; ++i) x[i] = saved.data()[i] - o.eps * d[i];
        const double minus = projected_loss(f, tape, r);
        std::copy(saved.begin(), saved.end(), x);
        worst.offer(rep, a, (plus - minus) / (2 * o.eps), {j}, o);
      }
    }
    result.ok = result.ok && rep.ok;
    result.inputs.push_back(std::move(rep));
  }
  for (std::size_t k = 0; k < inputs.size(); ++k) inputs[k]->grad = analytic[k];
  if (!result.ok) result.ops = check_ops(f, o);
  return result;
}

std::string GradcheckResult::report() const {
  std::ostringstream os;
  os << std::setprecision(6);
  for (const GradcheckInputReport& r : inputs) {
    os << (r.ok ? "ok   " : "FAIL ") << r.name << ' ' << shape_str(r.shape) << ": " << r.checked
       << " checked, " << r.failures << " failed";
    if (r.checked > 0)
      os << "; worst at " << shape_str(r.worst_index) << ": analytic " << r.analytic << ", numeric "
         << r.numeric << ", abs error " << r.abs_error << ", rel error " << r.rel_error;
    os << '\n';
  }
  if (!ok) os << ops.report();
  return os.str();
}

}  // namespace tapegrad
