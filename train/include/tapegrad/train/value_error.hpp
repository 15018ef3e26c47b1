#pragma once
// Errors about named values. The library names a value as it knows it ("seq_len"); a program
// names it as its users do (a flag "--seq-len", a config key). So the message is kept as a
// template in which "{seq_len}" marks a name: what() shows the library's names, and a front end
// renders the same message with its own (ValueError::message).
#include <functional>
#include <string>

#include <tapegrad/error.hpp>

namespace tapegrad::train {

class ValueError : public Error {
 public:
  /// `message_template`: the message with every value name as "{name}" (letters, digits and
  /// underscores; any other brace is literal text).
  explicit ValueError(const std::string& message_template);

  /// The message with each "{name}" replaced by name_of(name).
  std::string message(const std::function<std::string(const std::string&)>& name_of) const;
  const std::string& message_template() const { return template_; }

  /// `message_template` with every "{name}" shown as the bare name.
  static std::string plain(const std::string& message_template);

 private:
  std::string template_;
};

}  // namespace tapegrad::train
