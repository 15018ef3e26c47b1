// fuzz_metadata: the input is JSON text, the tapegrad-lm part of a checkpoint's metadata.json
// (its "user" object; a whole metadata.json is accepted too, and its "user" object is used).
// Each part goes to the parser load_model_dir gives it; a vocabulary that loads must survive
// to_json -> from_json unchanged, and so must hyper-parameters that load.
//
// The parsers may throw tapegrad::Error, or nlohmann::json::exception for a value of the wrong
// type (load_model_dir reports those as malformed metadata); both are expected. Anything else
// escaping, a crash or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <functional>

#include <nlohmann/json.hpp>
#include <tapegrad/train/language_model.hpp>
#include <tapegrad/train/trainer.hpp>

#include "lm/data.hpp"
#include "lm/model_dir.hpp"

namespace {

using nlohmann::json;
namespace lm = tapegrad::lm;
namespace train = tapegrad::train;

void attempt(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const tapegrad::Error&) {
  } catch (const json::exception&) {
  }
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// lm::parse_model_dir_metadata, what load_model_dir reads the metadata with, and before it
// each parser it calls tried on its own part, so that one bad part does not hide the others.
void parse_metadata(const json& meta) {
  attempt([&] { lm::parse_model_dir_metadata(meta); });
  attempt([&] {
    const json hp = lm::Hyperparameters::from_json(meta.value("hyperparameters", json())).to_json();
    check(lm::Hyperparameters::from_json(hp).to_json() == hp);
  });
  attempt([&] {
    const lm::Vocabulary v = lm::Vocabulary::from_json(meta.value("vocabulary", json()));
    check(lm::Vocabulary::from_json(v.to_json()) == v);
  });
  attempt([&] { lm::DataIdentity::from_json(meta.value("data", json())); });
  std::size_t steps = 0;
  attempt([&] { steps = train::progress_from_json(meta.value("progress", json())).step; });
  attempt([&] { train::history_from_json(meta.value("history", json()), steps); });
  attempt([&] { train::LanguageModelTaskState::from_json(meta.value("task", json())); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const json j = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return 0;  // also what a parse error gives: a discarded value
  const auto user = j.find("user");
  parse_metadata(user != j.end() && user->is_object() ? *user : j);
  return 0;
}
