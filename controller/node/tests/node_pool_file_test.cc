// node_pool_file_test.cc - reading the backend of a NodePool from manifest text, including the
// repository's examples/manifests/nodepools.yaml, and field-named errors.
#include "controller/node/node_pool_file.h"

#include <gtest/gtest.h>

#include "hal/host.hpp"

namespace hal::node {
namespace {

TEST(NodePoolFileTest, ReadsTheExampleNodePools) {
  NodePoolBackend qemu =
      load_node_pool(std::string(HAL_SOURCE_DIR) + "/examples/manifests/nodepools.yaml", "qemu");
  EXPECT_EQ(qemu.plugin, "kvm-qemu");
  EXPECT_EQ(qemu.config, (nlohmann::json{{"accelerator", "auto"}}));
  EXPECT_EQ(qemu.node_selector.at("hal.dev/pool"), "qemu");
  NodePoolBackend mock =
      load_node_pool(std::string(HAL_SOURCE_DIR) + "/examples/manifests/nodepools.yaml", "mock");
  EXPECT_EQ(mock.plugin, "mock");
  EXPECT_EQ(mock.config, nlohmann::json::object());
}

TEST(NodePoolFileTest, KeepsConfigTypes) {
  NodePoolBackend pool = parse_node_pool(R"(
apiVersion: hal.dev/v1
kind: NodePool
metadata: {name: p}
spec:
  backend:
    plugin: mock
    config:
      tdx: true
      maxVms: 10
      instance: "123"
      faults: {failStart: [a, b]}
)",
                                         "p");
  EXPECT_EQ(pool.config["tdx"], true);
  EXPECT_EQ(pool.config["maxVms"], 10);
  EXPECT_EQ(pool.config["instance"], "123");
  EXPECT_EQ(pool.config["faults"]["failStart"], (nlohmann::json{"a", "b"}));
}

TEST(NodePoolFileTest, ReadsHostPathRoots) {
  const std::string head = "kind: NodePool\nmetadata: {name: p}\nspec:\n  backend: {plugin: m}\n";
  NodePoolBackend pool = parse_node_pool(head + "  hostPathRoots: [/a, /b/c]\n", "p");
  EXPECT_EQ(pool.host_path_roots, (std::vector<std::filesystem::path>{"/a", "/b/c"}));
  EXPECT_TRUE(parse_node_pool(head, "p").host_path_roots.empty());
  try {
    parse_node_pool(head + "  hostPathRoots: [relative]\n", "p");
    ADD_FAILURE() << "a relative root was accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("spec.hostPathRoots[0]: must be an absolute path"),
              std::string::npos)
        << e.what();
  }
}

TEST(NodePoolFileTest, ErrorsNameTheField) {
  auto message = [](const std::string &text, const std::string &pool) {
    try {
      parse_node_pool(text, pool);
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("kind: NodePool\nmetadata: {name: p}\nspec: {}\n", "p").find("spec.backend"),
            std::string::npos);
  EXPECT_NE(message("kind: NodePool\nmetadata: {name: p}\nspec: {backend: {config: {}}}\n", "p")
                .find("spec.backend.plugin"),
            std::string::npos);
  EXPECT_NE(message("kind: NodePool\nmetadata: {name: p}\nspec: {backend: {plugin: m, config: "
                    "[1]}}\n",
                    "p")
                .find("spec.backend.config"),
            std::string::npos);
  std::string missing = message("kind: NodePool\nmetadata: {name: other}\nspec: {}\n", "p");
  EXPECT_NE(missing.find("'p' not found"), std::string::npos) << missing;
  EXPECT_NE(missing.find("other"), std::string::npos) << missing;
  EXPECT_NE(message("kind: [unclosed\n", "p").find("node pool file"), std::string::npos);
}

}  // namespace
}  // namespace hal::node
