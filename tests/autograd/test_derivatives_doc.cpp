// docs/derivatives.md is generated from the ops' math fields (scripts/derivatives.sh): it must
// match what the ops say now, and every library op must say it.
#include <fstream>
#include <sstream>

#include "support/gradient_test.hpp"

namespace {

std::vector<tapegrad::OpEntry> library_ops() {
  std::vector<tapegrad::OpEntry> out;
  for (const tapegrad::OpEntry& e : tapegrad::op_catalog())
    if (!testsupport::test_defined_ops().count(e.name)) out.push_back(e);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(derivatives_doc)

BOOST_AUTO_TEST_CASE(every_library_op_declares_its_math) {
  const std::vector<tapegrad::OpEntry> ops = library_ops();
  BOOST_TEST(ops.size() >= 30u, "only " << ops.size() << " library ops registered");
  for (const tapegrad::OpEntry& e : ops) {
    BOOST_TEST_CONTEXT("op " << e.name) {
      BOOST_TEST_REQUIRE(e.math != nullptr, "op '" << e.name << "' declares no `math` field");
      BOOST_TEST(std::string(e.math->output).rfind("y", 0) == 0u, "output formula of " << e.name);
      BOOST_TEST(e.math->inputs[0].input != nullptr, e.name << " names no input");
      for (const tapegrad::Derivative& d : e.math->inputs)
        if (d.input) BOOST_TEST((d.vjp != nullptr && *d.vjp != '\0'), "the VJP of " << d.input);
    }
  }
}

BOOST_AUTO_TEST_CASE(committed_file_is_current) {
  const std::string path = std::string(TAPEGRAD_DOCS_DIR) + "/derivatives.md";
  std::ifstream in(path, std::ios::binary);
  BOOST_TEST_REQUIRE(in.good(), "cannot read " << path);
  std::ostringstream committed;
  committed << in.rdbuf();
  const std::string generated = tapegrad::derivatives_markdown(library_ops());
  BOOST_TEST(committed.str() == generated,
             path << " is stale: run scripts/derivatives.sh and commit the result");
}

BOOST_AUTO_TEST_CASE(markdown_rows_follow_the_math) {
  // Two inputs give two rows; only the first names the op and its output.
  static constexpr tapegrad::OpMath math{"y = a - b", {{"a", "gy"}, {"b", "-gy"}}};
  const std::string md = tapegrad::derivatives_markdown({{"sub", &math}, {"no_math", nullptr}});
  BOOST_TEST(md.find("| `sub` | `y = a - b` | `a` | `gy` |\n|  |  | `b` | `-gy` |\n") !=
             std::string::npos);
  BOOST_TEST(md.find("no_math") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
