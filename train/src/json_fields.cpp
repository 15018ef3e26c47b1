#include "tapegrad/train/json_fields.hpp"

#include <tapegrad/error.hpp>

namespace tapegrad::train {

using json = nlohmann::json;

const json& json_field(const json& j, const std::string& name, json::value_t type,
                       const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object, got " + j.type_name());
  const auto it = j.find(name);
  if (it == j.end()) throw Error(where + ": missing field \"" + name + "\"");
  const bool ok = type == json::value_t::number_float      ? it->is_number()
                  : type == json::value_t::number_unsigned ? it->is_number_unsigned()
                                                           : it->type() == type;
  if (!ok) throw Error(where + ": field \"" + name + "\" has the wrong type (" + it->dump() + ")");
  return *it;
}

std::size_t json_count(const json& j, const std::string& name, const std::string& where) {
  return json_field(j, name, json::value_t::number_unsigned, where).get<std::size_t>();
}

double json_number(const json& j, const std::string& name, const std::string& where) {
  return json_field(j, name, json::value_t::number_float, where).get<double>();
}

std::string json_string(const json& j, const std::string& name, const std::string& where) {
  return json_field(j, name, json::value_t::string, where).get<std::string>();
}

}  // namespace tapegrad::train
