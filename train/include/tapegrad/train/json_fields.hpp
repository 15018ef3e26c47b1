#pragma once
// Reading fields of JSON metadata with errors that say where, which field, and what was wrong,
// instead of nlohmann's type errors.
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace tapegrad::train {

/// The field `name` of the object `j`; an Error "<where>: missing field "name"" or "<where>:
/// field "name" has the wrong type (<value>)" otherwise. number_float accepts any number;
/// number_unsigned accepts only non-negative integers.
const nlohmann::json& json_field(const nlohmann::json& j, const std::string& name,
                                 nlohmann::json::value_t type, const std::string& where);
std::size_t json_count(const nlohmann::json& j, const std::string& name, const std::string& where);
double json_number(const nlohmann::json& j, const std::string& name, const std::string& where);
std::string json_string(const nlohmann::json& j, const std::string& name, const std::string& where);

}  // namespace tapegrad::train
