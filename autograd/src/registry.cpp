// The op registry: every op type a program knows, with its math, and docs/derivatives.md made
// from it. Including ops.hpp here registers every built-in op (TAPEGRAD_BUILTIN_OP) in any
// program that asks the registry: no op file needs to be named.
#include <map>
#include <mutex>
#include <sstream>

#include "tapegrad/ops.hpp"

namespace tapegrad {

namespace {
std::map<std::string, const OpMath*>& registry() {
  static std::map<std::string, const OpMath*> ops;
  return ops;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

namespace detail {
bool register_op(const char* name, const OpMath* math) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  const OpMath*& slot = registry()[name];
  if (!slot) slot = math;
  return true;
}
}  // namespace detail

std::vector<OpEntry> op_catalog() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<OpEntry> out;
  for (const auto& [name, math] : registry()) out.push_back(OpEntry{name, math});
  return out;
}

std::vector<std::string> registered_ops() {
  std::vector<std::string> names;
  for (const OpEntry& e : op_catalog()) names.push_back(e.name);
  return names;
}

std::string derivatives_markdown(const std::vector<OpEntry>& ops) {
  std::ostringstream md;
  md << "# Derivatives of the built-in ops\n\n"
        "Generated from the ops themselves (each op's `math` field in "
        "`autograd/include/tapegrad/ops/`) by `scripts/derivatives.sh`; a test fails when this "
        "file is stale.\n\n"
        "In each formula `gy` is the gradient of the loss with respect to the op's output `y`; "
        "a VJP (vector-Jacobian product) is what backward adds into that input's gradient. "
        "Products are element-wise unless named (`@` is the matrix product, `^T` a transpose). "
        "A gradient of a broadcast input is summed over the broadcast axes.\n\n"
        "| op | output | input | VJP (added to the input's gradient) |\n"
        "|---|---|---|---|\n";
  for (const OpEntry& e : ops) {
    if (!e.math) continue;
    bool first = true;
    for (const Derivative& d : e.math->inputs) {
      if (!d.input) break;
      md << "| " << (first ? "`" + e.name + "`" : "") << " | "
         << (first ? std::string("`") + e.math->output + "`" : "") << " | `" << d.input << "` | `"
         << d.vjp << "` |\n";
      first = false;
    }
  }
  return md.str();
}

}  // namespace tapegrad
