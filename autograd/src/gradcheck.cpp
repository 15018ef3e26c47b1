#include "tapegrad/gradcheck.hpp"

#include <cmath>
#include <iomanip>
#include <random>
#include <sstream>

namespace tapegrad {
namespace {

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

}  // namespace

GradcheckResult gradcheck(const std::function<Var<double>(Tape<double>&)>& f,
                          const std::vector<Parameter<double>*>& inputs,
                          const GradcheckOptions& o) {
  if (!(o.eps > 0)) throw Error("gradcheck: eps must be positive, got " + std::to_string(o.eps));
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);

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
        double norm = 0;
        for (double& v : d) {
          v = normal(rng);
          norm += v * v;
        }
        norm = std::sqrt(norm);
        double a = 0;
        for (std::size_t i = 0; i < n; ++i) a += analytic[k].data()[i] * (d[i] /= norm);
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
  return os.str();
}

}  // namespace tapegrad
