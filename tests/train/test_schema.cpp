// The hyper-parameter schema: one declaration per field drives validation, JSON and the resume
// difference report; errors name the field and render with a program's own names for it.
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include <boost/test/unit_test.hpp>
#include <tapegrad/train/format.hpp>
#include <tapegrad/train/optimizers.hpp>
#include <tapegrad/train/schema.hpp>
#include "support/error_of.hpp"

using namespace tapegrad;
using namespace tapegrad::train;

namespace {

enum class Level { character, word };

struct Config {
  Level level = Level::character;
  std::size_t hidden = 64;
  double lr = 2e-3;
  double clip = 5;
  std::string optimizer = "adam";
  std::size_t seed = 1;
};

const Schema<Config>& lm_like_schema() {
  static const Schema<Config> s = [] {
    Schema<Config> out;
    out.choice(
           "level", {"character", "word"}, {{"char", "character"}},
           [](const Config& c) { return c.level == Level::word ? "word" : "character"; },
           [](Config& c, const std::string& v) {
             c.level = v == "word" ? Level::word : Level::character;
           },
           "symbols")
        .integer("hidden", &Config::hidden, 1, 4096, "hidden units")
        .number("lr", &Config::lr, positive(), "learning rate")
        .number("clip", &Config::clip, non_negative("0 turns clipping off"), "clip", false)
        .choice("optimizer", &Config::optimizer, optimizer_names(), "the update rule")
        .integer("seed", &Config::seed, 0, std::numeric_limits<std::size_t>::max(), "seed");
    return out;
  }();
  return s;
}

std::string as_flags(const std::function<void()>& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.message([](const std::string& name) { return "--" + name; });
  }
  return "<no ValueError>";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(schema)

BOOST_AUTO_TEST_CASE(validation_names_the_field_the_range_and_the_value) {
  const auto check = [](auto change, const std::string& expected) {
    Config c;
    change(c);
    BOOST_TEST(testsupport::error_of([&] { lm_like_schema().validate(c); }) == expected);
  };
  lm_like_schema().validate(Config{});
  check([](Config& c) { c.hidden = 0; }, "hidden: expected an integer in [1, 4096], got 0");
  check([](Config& c) { c.lr = -0.1; }, "lr: expected a positive number, got -0.1");
  check([](Config& c) { c.lr = std::numeric_limits<double>::infinity(); },
        "lr: expected a positive number, got inf");
  check([](Config& c) { c.clip = -1; },
        "clip: expected a number >= 0 (0 turns clipping off), got -1");
  check([](Config& c) { c.optimizer = "x"; },
        "optimizer: expected one of adam, adamw, adagrad, sgd, got 'x'");
  Config c;
  c.optimizer = "rmsprop";
  BOOST_TEST(as_flags([&] { lm_like_schema().validate(c); }) ==
             "--optimizer: expected one of adam, adamw, adagrad, sgd, got 'rmsprop'");
  BOOST_TEST(between(0, 0.5).expected == "a number in [0, 0.5]");
  BOOST_TEST(!between(0, 0.5).contains(std::nan("")));
}

BOOST_AUTO_TEST_CASE(json_round_trip_and_errors_naming_the_field) {
  Config c;
  c.level = Level::word;
  c.hidden = 300;
  c.lr = 0.1 + 0.2;  // not a short decimal: must come back exactly
  c.optimizer = "sgd";
  c.seed = std::numeric_limits<std::size_t>::max();
  const nlohmann::json j = lm_like_schema().to_json(c);
  BOOST_TEST(j.dump() ==
             "{\"clip\":5.0,\"hidden\":300,\"level\":\"word\",\"lr\":0.30000000000000004,"
             "\"optimizer\":\"sgd\",\"seed\":18446744073709551615}");
  const Config back = lm_like_schema().from_json(nlohmann::json::parse(j.dump()), "hp");
  BOOST_TEST(back.lr == c.lr);
  BOOST_TEST(back.hidden == 300u);
  BOOST_TEST((back.level == Level::word));
  BOOST_TEST(back.optimizer == "sgd");
  BOOST_TEST(back.seed == c.seed);
  BOOST_TEST(lm_like_schema().differences(c, back).empty());

  nlohmann::json alias = j;
  alias["level"] = "char";  // an alias reads as its name
  BOOST_TEST((lm_like_schema().from_json(alias, "hp").level == Level::character));

  nlohmann::json bad = j;
  bad.erase("lr");
  BOOST_TEST(testsupport::error_of([&] { lm_like_schema().from_json(bad, "hp"); }) ==
             "hp: missing field \"lr\"");
  bad = j;
  bad["hidden"] = -3;
  BOOST_TEST(testsupport::error_of([&] { lm_like_schema().from_json(bad, "hp"); }) ==
             "hp: field \"hidden\" has the wrong type (-3)");
  bad = j;
  bad["hidden"] = 5000;
  BOOST_TEST(testsupport::error_of([&] { lm_like_schema().from_json(bad, "hp"); }) ==
             "hidden: expected an integer in [1, 4096], got 5000");
  bad = j;
  bad["level"] = "byte";
  BOOST_TEST(testsupport::error_of([&] { lm_like_schema().from_json(bad, "hp"); }) ==
             "level: expected one of character, word, got 'byte'");
  BOOST_TEST(testsupport::error_of([&] {
               lm_like_schema().from_json(nlohmann::json::array(), "hp");
             }) == "hp: expected a JSON object, got array");
}

BOOST_AUTO_TEST_CASE(differences_list_the_must_match_fields_as_typed) {
  Config saved, given;
  given.lr = 0.01;
  given.clip = 1;  // may change on resume: not reported
  given.level = Level::word;
  const std::vector<Difference> d = lm_like_schema().differences(saved, given);
  BOOST_TEST_REQUIRE(d.size() == 2u);
  BOOST_TEST(d[0].name == "level");
  BOOST_TEST(d[0].saved == "character");
  BOOST_TEST(d[0].given == "word");
  BOOST_TEST(d[1].name == "lr");
  BOOST_TEST(d[1].saved == "0.002");
  BOOST_TEST(d[1].given == "0.01");
  BOOST_TEST(!lm_like_schema().field("clip").must_match);
  BOOST_TEST(testsupport::error_of([] { lm_like_schema().field("nope"); }) ==
             "Schema: no field 'nope'");
}

BOOST_AUTO_TEST_CASE(value_errors_render_names_and_keep_other_braces) {
  const ValueError e("{seq_len} 9 is too long (lower {seq_len} or {batch}); {not a name} {}");
  BOOST_TEST(std::string(e.what()) ==
             "seq_len 9 is too long (lower seq_len or batch); {not a name} {}");
  BOOST_TEST(e.message([](const std::string& n) { return "<" + n + ">"; }) ==
             "<seq_len> 9 is too long (lower <seq_len> or <batch>); {not a name} {}");
}

BOOST_AUTO_TEST_CASE(the_optimizer_factory_knows_exactly_the_listed_names) {
  Parameter<float> p{full<float>({2}, 1.0f)};
  for (const std::string& name : optimizer_names())
    BOOST_TEST(make_optimizer<float>(name, {&p}, 0.1)->lr() == 0.1);
  BOOST_TEST(testsupport::error_of([&] { make_optimizer<float>("lbfgs", {&p}, 0.1); }) ==
             "optimizer: expected one of adam, adamw, adagrad, sgd, got 'lbfgs'");
}

BOOST_AUTO_TEST_CASE(format_number_is_the_shortest_round_trip_text) {
  BOOST_TEST(format_number(0.002) == "0.002");
  BOOST_TEST(format_number(2e-3 * 3) == "0.006");
  BOOST_TEST(format_number(0.1 + 0.2) == "0.30000000000000004");
  BOOST_TEST(format_number(1e-5) == "1e-05");
  BOOST_TEST(format_number(0.0001) == "0.0001");
  BOOST_TEST(format_number(100000.0) == "100000");
  BOOST_TEST(format_number(1e21) == "1e+21");
  BOOST_TEST(format_number(12345.0) == "12345");
  BOOST_TEST(format_number(-5.0) == "-5");
  BOOST_TEST(format_number(double(1.1f)) == "1.100000023841858");
  BOOST_TEST(format_number(1.1f) == "1.1");  // a float's own shortest text
  BOOST_TEST(std::stof(format_number(4.2668271f)) == 4.2668271f);
  BOOST_TEST(format_number(std::numeric_limits<double>::infinity()) == "inf");
  BOOST_TEST(format_number(std::nan("")) == "nan");
  for (double v : {1.0 / 3, 2.0 / 7 * 1e300, 1e-300, 123.456})
    BOOST_TEST(std::stod(format_number(v)) == v);
  BOOST_TEST(format_duration(7) == "0:07");
  BOOST_TEST(format_duration(3723) == "1:02:03");
  BOOST_TEST(format_rate(24100) == "24.1k");
}

BOOST_AUTO_TEST_SUITE_END()
