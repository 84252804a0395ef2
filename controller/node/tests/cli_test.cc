// cli_test.cc - hal-node's command line: backend from --backend or from a NodePool file, labels,
// state dir, --advertise and the address it registers, TLS files or --insecure, and usage errors
// (exit code 2).
#include "controller/node/cli.h"

#include <gtest/gtest.h>

#include "controller/node/advertised_address.h"
#include "hal/host.hpp"

namespace hal::node {
namespace {

TEST(CliTest, BackendFlags) {
  CliResult result = parse_command_line({"hal-node",
                                         "--name",
                                         "n1",
                                         "--backend",
                                         "mock",
                                         "--backend-config",
                                         R"({"tdx":true})",
                                         "--listen",
                                         "127.0.0.1:0",
                                         "--controller",
                                         "127.0.0.1:7000",
                                         "--state-dir",
                                         "/tmp/s",
                                         "--label",
                                         "zone=a",
                                         "--plugin-path",
                                         "/p1",
                                         "--plugin-path",
                                         "/p2",
                                         "--heartbeat-interval-ms",
                                         "250",
                                         "--guest-silence-timeout",
                                         "15",
                                         "--insecure"});
  ASSERT_TRUE(result.options) << result.error;
  const NodeAgentOptions &o = *result.options;
  EXPECT_EQ(o.node_name, "n1");
  EXPECT_EQ(o.pool, "mock");  // defaults to the backend name
  ASSERT_EQ(o.backends.size(), 1u);
  EXPECT_EQ(o.backends[0].plugin, "mock");
  EXPECT_EQ(o.backends[0].config, (nlohmann::json{{"tdx", true}}));
  EXPECT_EQ(o.controller, "127.0.0.1:7000");
  EXPECT_EQ(o.state_dir, "/tmp/s");
  EXPECT_EQ(o.labels.at("zone"), "a");
  EXPECT_EQ(o.plugin_path.size(), 2u);
  EXPECT_EQ(o.heartbeat_interval.count(), 250);
  EXPECT_EQ(o.guest_silence_timeout, std::chrono::seconds(15));
}

TEST(CliTest, PoolFile) {
  CliResult result = parse_command_line(
      {"hal-node", "--name", "n2", "--pool-file",
       std::string(HAL_SOURCE_DIR) + "/examples/manifests/nodepools.yaml", "--pool", "qemu",
       "--tls-ca", "ca.crt", "--tls-cert", "n2.crt", "--tls-key", "n2.key"});
  ASSERT_TRUE(result.options) << result.error;
  EXPECT_EQ(result.options->pool, "qemu");
  EXPECT_EQ(result.options->backends.at(0).plugin, "kvm-qemu");
  EXPECT_EQ(result.options->labels.at("hal.dev/pool"), "qemu");
  EXPECT_EQ(result.options->tls.ca_file, "ca.crt");
  EXPECT_EQ(result.options->tls.cert_file, "n2.crt");
  EXPECT_EQ(result.options->tls.key_file, "n2.key");
  EXPECT_FALSE(result.options->tls.insecure);
  EXPECT_FALSE(result.options->allow_insecure_migration);  // migrations over TLS or refused
}

TEST(CliTest, AllowInsecureMigrationIsAnExplicitFlag) {
  CliResult result = parse_command_line({"hal-node", "--name", "n", "--backend", "mock", "--tls-ca",
                                         "ca.crt", "--tls-cert", "n.crt", "--tls-key", "n.key",
                                         "--allow-insecure-migration"});
  ASSERT_TRUE(result.options) << result.error;
  EXPECT_TRUE(result.options->allow_insecure_migration);
}

TEST(CliTest, BootstrapTokenAndServer) {
  CliResult result = parse_command_line(
      {"hal-node", "--name", "n", "--backend", "mock", "--tls-ca", "ca.crt", "--tls-cert", "n.crt",
       "--tls-key", "n.key", "--bootstrap-token", "hal1.6e.1.ab", "--bootstrap-server", "c:7441"});
  ASSERT_TRUE(result.options) << result.error;
  EXPECT_EQ(result.options->bootstrap_token, "hal1.6e.1.ab");
  EXPECT_EQ(result.options->bootstrap_server, "c:7441");
}

TEST(CliTest, NeitherTlsNorInsecureIsAUsageError) {
  CliResult result = parse_command_line({"hal-node", "--name", "n", "--backend", "mock"});
  EXPECT_FALSE(result.options);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.error.find("hal-node: no TLS credentials"), std::string::npos) << result.error;
  result = parse_command_line(
      {"hal-node", "--name", "n", "--backend", "mock", "--tls-ca", "ca.crt", "--insecure"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.error.find("exclusive"), std::string::npos) << result.error;
}

TEST(CliTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string> &args :
       {std::vector<std::string>{"hal-node", "--backend", "mock"},
        std::vector<std::string>{"hal-node", "--name", "n"},
        std::vector<std::string>{"hal-node", "--name", "n", "--backend", "mock", "--backend-config",
                                 "[1]"},
        std::vector<std::string>{"hal-node", "--name", "n", "--backend", "mock", "--label", "x"},
        std::vector<std::string>{"hal-node", "--name", "n", "--backend", "mock",
                                 "--guest-silence-timeout", "-1"},
        std::vector<std::string>{"hal-node", "--name", "n", "--pool-file", "/nonexistent", "--pool",
                                 "p"}}) {
    CliResult result = parse_command_line(args);
    EXPECT_FALSE(result.options);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_FALSE(result.error.empty());
  }
}

TEST(CliTest, AdvertiseIsCheckedAndKept) {
  CliResult result =
      parse_command_line({"hal-node", "--name", "n", "--backend", "mock", "--listen",
                          "0.0.0.0:7450", "--advertise", "node-a.example:7450", "--insecure"});
  ASSERT_TRUE(result.options) << result.error;
  EXPECT_EQ(result.options->advertise, "node-a.example:7450");
  for (const char *bad : {"0.0.0.0:7450", "[::]", ":7450", "fe80::1", "node-a:0", "node-a:http",
                          "node-a:70000", "[::1"}) {
    result = parse_command_line(
        {"hal-node", "--name", "n", "--backend", "mock", "--advertise", bad, "--insecure"});
    EXPECT_EQ(result.exit_code, 2) << bad;
    EXPECT_NE(result.error.find("--advertise"), std::string::npos) << bad << ": " << result.error;
  }
}

TEST(AdvertisedAddress, DefaultsToTheListenHostWithTheBoundPort) {
  EXPECT_EQ(advertised_address("127.0.0.1:0", "", 41000), "127.0.0.1:41000");
  EXPECT_EQ(advertised_address("10.0.0.5:7450", "", 7450), "10.0.0.5:7450");
  EXPECT_EQ(advertised_address("0.0.0.0:7450", "", 7450), "127.0.0.1:7450");  // this host only
  EXPECT_TRUE(is_wildcard_listen("0.0.0.0:7450"));
  EXPECT_TRUE(is_wildcard_listen("[::]:7450"));
  EXPECT_FALSE(is_wildcard_listen("10.0.0.5:7450"));
}

TEST(AdvertisedAddress, AdvertiseWinsAndTakesTheBoundPortWhenItNamesNone) {
  EXPECT_EQ(advertised_address("0.0.0.0:0", "node-a.example", 41000), "node-a.example:41000");
  EXPECT_EQ(advertised_address("0.0.0.0:7450", "10.0.0.5:17450", 7450), "10.0.0.5:17450");
  EXPECT_EQ(advertised_address("[::]:7450", "[fd00::5]", 7450), "[fd00::5]:7450");
  EXPECT_EQ(advertised_address("[::]:7450", "[fd00::5]:80", 7450), "[fd00::5]:80");
  EXPECT_THROW(advertised_address("0.0.0.0:0", "0.0.0.0", 41000), Error);
}

TEST(AdvertisedAddress, MigrationsListenOnTheServedHostAndAreDialledAtTheAdvertisedOne) {
  EXPECT_EQ(migration_listen_uri("127.0.0.1:0"), "tcp:127.0.0.1:0");
  EXPECT_EQ(migration_listen_uri("0.0.0.0:7450"), "tcp:0.0.0.0:0");
  EXPECT_EQ(migration_listen_uri("[::]:7450"), "tcp:[::]:0");
  EXPECT_EQ(migration_listen_uri(":7450"), "tcp:0.0.0.0:0");
  // A wildcard answer becomes the registered host; a concrete one is kept.
  EXPECT_EQ(dialable_migration_endpoint("tcp:0.0.0.0:4444", "node-7.example:7450"),
            "tcp:node-7.example:4444");
  EXPECT_EQ(dialable_migration_endpoint("tcp:[::]:4444", "[fd00::5]:7450"), "tcp:[fd00::5]:4444");
  EXPECT_EQ(dialable_migration_endpoint("tcp:10.0.0.5:4444", "node-7.example:7450"),
            "tcp:10.0.0.5:4444");
  EXPECT_EQ(dialable_migration_endpoint("unix:/run/m.sock", "node-7.example:7450"),
            "unix:/run/m.sock");
}

}  // namespace
}  // namespace hal::node
