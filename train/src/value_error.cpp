#include "tapegrad/train/value_error.hpp"

#include <cctype>

namespace tapegrad::train {

namespace {

std::string render(const std::string& text,
                   const std::function<std::string(const std::string&)>& name_of) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find('{', pos);
    if (open == std::string::npos) break;
    std::size_t end = open + 1;
    while (end < text.size() &&
           (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_'))
      ++end;
    out.append(text, pos, open - pos);
    if (end < text.size() && text[end] == '}' && end > open + 1) {
      out += name_of(text.substr(open + 1, end - open - 1));
      pos = end + 1;
    } else {
      out += '{';
      pos = open + 1;
    }
  }
  out.append(text, pos, std::string::npos);
  return out;
}

}  // namespace

ValueError::ValueError(const std::string& message_template)
    : Error(plain(message_template)), template_(message_template) {}

std::string ValueError::message(
    const std::function<std::string(const std::string&)>& name_of) const {
  return render(template_, name_of);
}

std::string ValueError::plain(const std::string& message_template) {
  return render(message_template, [](const std::string& name) { return name; });
}

}  // namespace tapegrad::train
