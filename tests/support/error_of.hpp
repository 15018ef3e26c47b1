#pragma once
// The message of the tapegrad::Error that `f` throws, or "<no error>": a test compares it with
// the whole expected message, and a failure then shows both sides.
#include <functional>
#include <string>

#include <tapegrad/error.hpp>

namespace testsupport {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tapegrad::Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace testsupport
