#pragma once
// A weight: a tensor that outlives tapes, and the gradient every backward() adds into.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include <xtensor/xnoalias.hpp>

#include "tapegrad/error.hpp"
#include "tapegrad/tensor.hpp"

namespace tapegrad {

/// A parameter's value: a Tensor<T> whose shape, once the parameter has one, can only be kept.
///
/// A tensor of the wrong shape assigned to a weight would otherwise be found much later, inside
/// some op, far from the line that did it (and xtensor's `+=` would even resize the weight
/// silently). Every way of assigning through `value` is checked where it happens and throws
/// tapegrad::Error naming the parameter, the shape it has and the shape it was given:
///   p.value = tensor;  p.value = xt::zeros<T>(shape);  p.value = other_parameter.value;
///   p.value += expr (and -=, *=, /=: the expression must broadcast to the value's shape);
///   xt::noalias(p.value) = expr (and +=, -=, *=, /=).
/// Writing elements in place (p.value(i, j) = x, fill, data(), iterators) never changes the
/// shape and costs nothing: optimisers, initialisers and checkpoint loading write that way.
/// Not checked, on purpose: resize() and reshape() (a deliberate change of shape), and writes
/// through a plain `Tensor<T>&` bound to the value (the check lives in this type).
///
/// The check costs one comparison of shapes per assignment, never per element. A copy of a
/// value outside its Parameter (`Tensor<T> v = p.value;`, or `auto v = p.value;`) is an
/// ordinary tensor again: it is not checked.
template <class T>
class ParameterValue : public Tensor<T> {
 public:
  using base_type = Tensor<T>;

  ParameterValue() = default;
  explicit ParameterValue(Tensor<T> v) : Tensor<T>(std::move(v)) {}
  // A copy is a plain tensor until a Parameter adopts it (Parameter's constructors do).
  ParameterValue(const ParameterValue& o) : Tensor<T>(o) {}
  ParameterValue(ParameterValue&& o) noexcept : Tensor<T>(std::move(static_cast<Tensor<T>&>(o))) {}

  ParameterValue& operator=(const ParameterValue& o) {
    if (this != &o) {
      check(o.shape(), "=");
      base_type::operator=(static_cast<const Tensor<T>&>(o));
    }
    return *this;
  }
  ParameterValue& operator=(ParameterValue&& o) {
    check(o.shape(), "=");
    base_type::operator=(std::move(static_cast<Tensor<T>&>(o)));
    return *this;
  }
  ParameterValue& operator=(const Tensor<T>& t) {
    check(t.shape(), "=");
    base_type::operator=(t);
    return *this;
  }
  ParameterValue& operator=(Tensor<T>&& t) {
    check(t.shape(), "=");
    base_type::operator=(std::move(t));
    return *this;
  }
  template <class E>
  ParameterValue& operator=(const xt::xexpression<E>& e) {
    check(e.derived_cast().shape(), "=");
    base_type::operator=(e);
    return *this;
  }

  // Compound assignment with an expression: the result has the broadcast shape of both, which
  // must be the value's own. With a scalar the shape cannot change, so those are forwarded.
#define TAPEGRAD_PARAMETER_COMPOUND(op)                                      \
  template <class E>                                                         \
  ParameterValue& operator op(const xt::xexpression<E>& e) {                 \
    check_broadcast(e.derived_cast().shape(), #op);                          \
    base_type::operator op(e);                                               \
    return *this;                                                            \
  }                                                                          \
  template <class E>                                                         \
  xt::disable_xexpression<E, ParameterValue&> operator op(const E& scalar) { \
    base_type::operator op(scalar);                                          \
    return *this;                                                            \
  }
  TAPEGRAD_PARAMETER_COMPOUND(+=)
  TAPEGRAD_PARAMETER_COMPOUND(-=)
  TAPEGRAD_PARAMETER_COMPOUND(*=)
  TAPEGRAD_PARAMETER_COMPOUND(/=)
#undef TAPEGRAD_PARAMETER_COMPOUND

  // What xt::noalias(value) calls: hiding the base's versions puts the same checks on that path.
  template <class E>
  ParameterValue& assign(const xt::xexpression<E>& e) {
    check(e.derived_cast().shape(), "=");
    base_type::assign(e);
    return *this;
  }
#define TAPEGRAD_PARAMETER_NOALIAS(fn, op)          \
  template <class E>                                \
  ParameterValue& fn(const xt::xexpression<E>& e) { \
    check_broadcast(e.derived_cast().shape(), #op); \
    base_type::fn(e);                               \
    return *this;                                   \
  }
  TAPEGRAD_PARAMETER_NOALIAS(plus_assign, +=)
  TAPEGRAD_PARAMETER_NOALIAS(minus_assign, -=)
  TAPEGRAD_PARAMETER_NOALIAS(multiplies_assign, *=)
  TAPEGRAD_PARAMETER_NOALIAS(divides_assign, /=)
#undef TAPEGRAD_PARAMETER_NOALIAS

 private:
  template <class>
  friend struct Parameter;

  // Adopted by a Parameter: from now on the shape is kept, and errors name `name`.
  void adopt(const std::string* name) {
    name_ = name;
    fixed_ = true;
  }

  // The error every check raises: the parameter, its shape, the shape it was given.
  template <class S>
  [[noreturn]] void refuse(const S& given, const char* op, const char* rule) const {
    throw Error("parameter '" + (name_ && !name_->empty() ? *name_ : std::string("(unnamed)")) +
                "' has shape " + shape_str(this->shape()) + "; `value " + op +
                "` was given shape " + shape_str(given) + " (" + rule + ")");
  }
  // A Parameter built without a value takes the shape of its first assignment.
  template <class S>
  void check(const S& given, const char* op) {
    if (!fixed_) {
      fixed_ = name_ != nullptr;
      return;
    }
    const auto& own = this->shape();
    if (given.size() != own.size() || !std::equal(own.begin(), own.end(), given.begin()))
      refuse(given, op, "a parameter's shape is fixed; expected the same shape");
  }
  template <class S>
  void check_broadcast(const S& given, const char* op) {
    if (!fixed_) {
      fixed_ = name_ != nullptr;
      return;
    }
    const auto& own = this->shape();
    bool fits = given.size() <= own.size();
    for (std::size_t i = 0; fits && i < given.size(); ++i) {
      const auto g = given[given.size() - 1 - i], o = own[own.size() - 1 - i];
      fits = g == o || g == 1;
    }
    if (!fits) refuse(given, op, "expected a shape that broadcasts to the parameter's");
  }

  const std::string* name_ = nullptr;  // the owning Parameter's name
  bool fixed_ = false;
};

/// A tensor that outlives tapes (a weight). Each backward() adds into `grad` until zero_grad().
/// `value` keeps its shape: assigning a tensor of another shape throws (see ParameterValue).
template <class T>
struct Parameter {
  ParameterValue<T> value;
  Tensor<T> grad;
  std::string name;

  /// No value yet: the first assignment to `value` gives the parameter its shape.
  Parameter() { value.name_ = &name; }
  explicit Parameter(Tensor<T> v, std::string n = {})
      : value(std::move(v)), grad(Tensor<T>::from_shape(value.shape())), name(std::move(n)) {
    grad.fill(T(0));
    value.adopt(&name);
  }
  // The value's error messages point at this parameter's name, so copies re-point them. A copy
  // or assignment of a whole Parameter replaces it, shape included: only `value` is checked.
  Parameter(const Parameter& o)
      : value(o.value),
        grad(o.grad),
        name(o.name),
        bound_tape(o.bound_tape),
        bound_index(o.bound_index) {
    adopt_like(o);
  }
  Parameter(Parameter&& o) noexcept
      : value(std::move(o.value)),
        grad(std::move(o.grad)),
        name(std::move(o.name)),
        bound_tape(o.bound_tape),
        bound_index(o.bound_index) {
    adopt_like(o);
  }
  Parameter& operator=(const Parameter& o) {
    if (this != &o) *this = Parameter(o);
    return *this;
  }
  Parameter& operator=(Parameter&& o) noexcept {
    static_cast<Tensor<T>&>(value) = std::move(static_cast<Tensor<T>&>(o.value));
    grad = std::move(o.grad);
    name = std::move(o.name);
    bound_tape = o.bound_tape;
    bound_index = o.bound_index;
    adopt_like(o);
    return *this;
  }

  void zero_grad() {
    if (!detail::same_shape(grad.shape(), value.shape())) grad.resize(value.shape());
    grad.fill(T(0));
  }

  // Where Tape::param last bound this parameter. Binding it again on the same tape before the
  // next clear() returns that node, so a weight used at every time step is one node, not T.
  const void* bound_tape = nullptr;
  std::uint32_t bound_index = 0;

 private:
  void adopt_like(const Parameter& o) {
    value.name_ = &name;
    value.fixed_ = o.value.fixed_;
  }
};

}  // namespace tapegrad

// xtensor recognises an expression by the CRTP base xexpression<E> of its own type E; a
// ParameterValue inherits xexpression<xarray> instead, so without this every function that
// takes any expression (xt::sum, xt::cast, xt::abs, views) would refuse `p.value`. Everything
// those functions call on it is the inherited xarray's.
namespace xt::detail {
template <class T>
struct is_crtp_base_of_impl<xt::xexpression, tapegrad::ParameterValue<T>> : std::true_type {};
}  // namespace xt::detail
