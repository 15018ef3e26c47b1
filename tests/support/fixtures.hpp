#pragma once
// The committed PyTorch fixtures (tests/fixtures/*.json, made by the make_*_fixtures.py scripts
// there): a whole file, parsed once, and its tensors ({"shape": [...], "data": [...]}) as
// tapegrad tensors of either element type.
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <tapegrad/tensor.hpp>

namespace testsupport {

/// tests/fixtures/<name>.json, parsed on first use; a missing file names the script that makes
/// it (make_<name>.py).
inline const nlohmann::json& fixture_file(const std::string& name) {
  static std::map<std::string, nlohmann::json> loaded;
  const auto found = loaded.find(name);
  if (found != loaded.end()) return found->second;
  const std::string path = std::string(TAPEGRAD_FIXTURE_DIR) + "/" + name + ".json";
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot open " + path + "; regenerate it with /usr/bin/python3 " +
                             "tests/fixtures/make_" + name + ".py");
  return loaded.emplace(name, nlohmann::json::parse(in)).first->second;
}

/// A fixture tensor; its values are doubles, converted to T.
template <class T>
tapegrad::Tensor<T> fixture_tensor(const nlohmann::json& j) {
  tapegrad::Shape shape;
  for (const nlohmann::json& d : j.at("shape")) shape.push_back(d.get<std::size_t>());
  tapegrad::Tensor<T> t;
  t.resize(shape);
  const nlohmann::json& data = j.at("data");
  if (data.size() != t.size())
    throw std::runtime_error("fixture tensor of shape " + tapegrad::shape_str(shape) + " holds " +
                             std::to_string(data.size()) + " values");
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(data[i].get<double>());
  return t;
}

}  // namespace testsupport
