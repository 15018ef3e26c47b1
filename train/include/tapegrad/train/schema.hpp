#pragma once
// One declaration per hyper-parameter. A Schema<Config> lists the fields of a configuration
// struct -- name, kind, default (the struct's own), range or allowed names, help text, and
// whether a resumed run must have the same value -- and everything else reads the list: the
// validation, the JSON a checkpoint stores, the difference report of a resume, and a program's
// command line (tapegrad-lm registers one flag per field).
//
//   struct Config { std::size_t hidden = 64; double lr = 1e-3; std::string optimizer = "adam"; };
//   train::Schema<Config> schema;
//   schema.integer("hidden", &Config::hidden, 1, 4096, "hidden units")
//       .number("lr", &Config::lr, train::positive(), "learning rate")
//       .choice("optimizer", &Config::optimizer, train::optimizer_names(), "the update rule");
//
// Errors are ValueErrors that name the field ("{lr}: expected a positive number, got -1"), so a
// program can show them with its own names for the fields.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/train/format.hpp>
#include <tapegrad/train/value_error.hpp>

namespace tapegrad::train {

/// A range of real numbers in words ("a positive number") and as a test.
struct NumberRange {
  std::string expected;
  std::function<bool(double)> contains;
};
/// (0, inf), finite.
NumberRange positive();
/// [0, inf), finite; `note` is added in parentheses, e.g. "0 turns clipping off".
NumberRange non_negative(const std::string& note = "");
/// [lo, hi].
NumberRange between(double lo, double hi);
/// [lo, hi): e.g. a dropout probability, [0, 1).
NumberRange from_below(double lo, double hi);
/// (lo, hi]: e.g. a decay factor, (0, 1].
NumberRange above_up_to(double lo, double hi);
/// Any finite number.
NumberRange finite();

/// A field whose value differs between two configurations, as the user would type the values.
struct Difference {
  std::string name, saved, given;
};

/// "a, b, c".
std::string one_of_text(const std::vector<std::string>& names);

template <class Config>
class Schema {
 public:
  /// An unsigned integer in [lo, hi] (std::size_t; also a 64-bit seed). With zero_is_none, 0
  /// stands for "not set" (a default that turns a feature off) besides the range [lo, hi]
  /// (lo >= 1), which is all a user can give.
  struct Integer {
    std::size_t Config::*member;
    std::size_t lo, hi;
    bool zero_is_none = false;
  };
  struct Number {
    double Config::*member;
    NumberRange range;
  };
  /// One of a list of names. `get` and `set` convert to and from the member (a string, or an
  /// enum); `set` is only called with one of `names`. `aliases` are other spellings a user
  /// may type (alias -> name).
  struct Choice {
    std::vector<std::string> names;
    std::vector<std::pair<std::string, std::string>> aliases;
    std::function<std::string(const Config&)> get;
    std::function<void(Config&, const std::string&)> set;
  };
  struct Field {
    std::string name, help;
    bool must_match;  // a resumed run must have the same value as its checkpoint
    std::variant<Integer, Number, Choice> kind;
  };

  Schema& integer(std::string name, std::size_t Config::*member, std::size_t lo, std::size_t hi,
                  std::string help, bool must_match = true) {
    fields_.push_back({std::move(name), std::move(help), must_match, Integer{member, lo, hi}});
    return *this;
  }
  /// An integer in [lo, hi] or 0 for "none" (Integer::zero_is_none), e.g. an optional limit.
  Schema& optional_integer(std::string name, std::size_t Config::*member, std::size_t lo,
                           std::size_t hi, std::string help, bool must_match = true) {
    fields_.push_back(
        {std::move(name), std::move(help), must_match, Integer{member, lo, hi, true}});
    return *this;
  }
  Schema& number(std::string name, double Config::*member, NumberRange range, std::string help,
                 bool must_match = true) {
    fields_.push_back(
        {std::move(name), std::move(help), must_match, Number{member, std::move(range)}});
    return *this;
  }
  Schema& choice(std::string name, std::string Config::*member, std::vector<std::string> names,
                 std::string help, bool must_match = true) {
    return choice(
        std::move(name), std::move(names), {}, [member](const Config& c) { return c.*member; },
        [member](Config& c, const std::string& v) { c.*member = v; }, std::move(help), must_match);
  }
  Schema& choice(std::string name, std::vector<std::string> names,
                 std::vector<std::pair<std::string, std::string>> aliases,
                 std::function<std::string(const Config&)> get,
                 std::function<void(Config&, const std::string&)> set, std::string help,
                 bool must_match = true) {
    fields_.push_back(
        {std::move(name), std::move(help), must_match,
         Choice{std::move(names), std::move(aliases), std::move(get), std::move(set)}});
    return *this;
  }

  const std::vector<Field>& fields() const { return fields_; }
  /// The field called `name`; an Error if there is none.
  const Field& field(const std::string& name) const {
    for (const Field& f : fields_)
      if (f.name == name) return f;
    throw Error("Schema: no field '" + name + "'");
  }

  /// The value of `f` in `c` as the user would type it (numbers: shortest round-trip text, so
  /// equal texts are equal values).
  static std::string text(const Field& f, const Config& c) {
    if (const auto* i = std::get_if<Integer>(&f.kind))
      return i->zero_is_none && c.*(i->member) == 0 ? "none" : std::to_string(c.*(i->member));
    if (const auto* n = std::get_if<Number>(&f.kind)) return format_number(c.*(n->member));
    return std::get<Choice>(f.kind).get(c);
  }

  /// The canonical name a user's spelling stands for (a name, or an alias of one); an error
  /// naming the field and the accepted names otherwise.
  static std::string resolve(const Field& f, const std::string& spelling) {
    const Choice& ch = std::get<Choice>(f.kind);
    for (const std::string& n : ch.names)
      if (n == spelling) return n;
    for (const auto& [alias, name] : ch.aliases)
      if (alias == spelling) return name;
    throw ValueError("{" + f.name + "}: expected one of " + one_of_text(ch.names) + ", got '" +
                     spelling + "'");
  }

  /// Throws a ValueError naming the first field whose value is out of its range.
  void validate(const Config& c) const {
    for (const Field& f : fields_) {
      if (const auto* i = std::get_if<Integer>(&f.kind)) {
        const std::size_t v = c.*(i->member);
        if ((v < i->lo || v > i->hi) && !(i->zero_is_none && v == 0))
          throw ValueError("{" + f.name + "}: expected an integer in [" + std::to_string(i->lo) +
                           ", " + std::to_string(i->hi) + "], got " + std::to_string(v));
      } else if (const auto* n = std::get_if<Number>(&f.kind)) {
        const double v = c.*(n->member);
        if (!n->range.contains(v))
          throw ValueError("{" + f.name + "}: expected " + n->range.expected + ", got " +
                           format_number(v));
      } else {
        resolve(f, std::get<Choice>(f.kind).get(c));
      }
    }
  }

  /// {"name": value, ...} in field order.
  nlohmann::json to_json(const Config& c) const {
    nlohmann::json j = nlohmann::json::object();
    for (const Field& f : fields_) {
      if (const auto* i = std::get_if<Integer>(&f.kind))
        j[f.name] = c.*(i->member);
      else if (const auto* n = std::get_if<Number>(&f.kind))
        j[f.name] = c.*(n->member);
      else
        j[f.name] = std::get<Choice>(f.kind).get(c);
    }
    return j;
  }

  /// Reads what to_json wrote, then validates it. Errors name the missing field, one of the
  /// wrong type, or the value out of range; `where` starts their message ("hyper-parameters").
  Config from_json(const nlohmann::json& j, const std::string& where, Config c = Config{}) const {
    if (!j.is_object()) throw Error(where + ": expected a JSON object, got " + j.type_name());
    for (const Field& f : fields_) {
      const auto it = j.find(f.name);
      if (it == j.end()) throw Error(where + ": missing field \"" + f.name + "\"");
      const auto wrong_type = [&] {
        return Error(where + ": field \"" + f.name + "\" has the wrong type (" + it->dump() + ")");
      };
      if (const auto* i = std::get_if<Integer>(&f.kind)) {
        // A JSON integer >= 0, whether the document or the program made it (a program's
        // positive literal is stored signed).
        if (!it->is_number_integer() ||
            (!it->is_number_unsigned() && it->template get<long long>() < 0))
          throw wrong_type();
        c.*(i->member) = it->template get<std::size_t>();
      } else if (const auto* n = std::get_if<Number>(&f.kind)) {
        if (!it->is_number()) throw wrong_type();
        c.*(n->member) = it->template get<double>();
      } else {
        if (!it->is_string()) throw wrong_type();
        std::get<Choice>(f.kind).set(c, resolve(f, it->template get<std::string>()));
      }
    }
    validate(c);
    return c;
  }

  /// The must-match fields whose values differ, in field order.
  std::vector<Difference> differences(const Config& saved, const Config& given) const {
    std::vector<Difference> out;
    for (const Field& f : fields_) {
      if (!f.must_match) continue;
      std::string a = text(f, saved), b = text(f, given);
      if (a != b) out.push_back({f.name, std::move(a), std::move(b)});
    }
    return out;
  }

 private:
  std::vector<Field> fields_;
};

}  // namespace tapegrad::train
