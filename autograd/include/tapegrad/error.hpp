#pragma once
// The one exception type tapegrad throws. Messages name the operation, what it expected and
// what it was given, e.g. "matmul: inner dimensions differ: a is [2, 3], b is [4, 5]".
#include <stdexcept>
#include <string>

namespace tapegrad {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace tapegrad
