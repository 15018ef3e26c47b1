#include "distributed/world.hpp"

#include <memory>

#include <boost/test/unit_test.hpp>

namespace testsupport {

namespace {
std::unique_ptr<tapegrad::distributed::Communicator> g_world;
}  // namespace

tapegrad::distributed::Communicator& world() { return *g_world; }

struct WorldFixture {
  WorldFixture() { g_world = std::make_unique<tapegrad::distributed::Communicator>(); }
  ~WorldFixture() { g_world.reset(); }
};
BOOST_TEST_GLOBAL_FIXTURE(WorldFixture);

}  // namespace testsupport
