// config_test.cc - halctl's configuration file: contexts, relative file names, flags over the
// file, $HALCONFIG, the messages for a missing file, context, cluster, user or credential, and
// `halctl config` (contexts listed, switched, the file kept owner-only).
#include "controller/halctl/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "controller/halctl/halctl.h"
#include "testing/temp_dir.h"

namespace hal::halctl {
namespace {

/** halctl's connection flags: --config, and --context, --server, --namespace when not empty. */
ConnectionFlags flags_for(const std::string &config_file, const std::string &context = "",
                          const std::string &server = "", const std::string &ns = "") {
  ConnectionFlags flags;
  flags.config_file = config_file;
  flags.context = context;
  flags.server = server;
  flags.ns = ns;
  return flags;
}

constexpr char kTwoContexts[] = R"(apiVersion: hal.dev/v1
kind: Config
clusters:
- name: local
  cluster:
    server: 127.0.0.1:7440
    certificate-authority: pki/ca.crt
- name: open
  cluster:
    server: 127.0.0.1:7441
    insecure: true
users:
- name: admin
  user:
    client-certificate: pki/admin.crt
    client-key: /abs/admin.key
contexts:
- name: admin@local
  context: {cluster: local, user: admin, namespace: team-a}
- name: open
  context: {cluster: open}
- name: ghost
  context: {cluster: nowhere, user: admin}
current-context: admin@local
)";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("HALCONFIG");
    unsetenv("HALCTL_SERVER");
    path_ = dir_.path() / "config";
    std::ofstream(path_) << kTwoContexts;
  }
  void TearDown() override { unsetenv("HALCONFIG"); }
  std::string error_of(const ConnectionFlags &flags) {
    try {
      resolve_connection(flags);
    } catch (const ConfigError &e) {
      return e.what();
    }
    return "";
  }
  hal::testing::TempDir dir_;
  std::filesystem::path path_;
};

TEST_F(ConfigTest, CurrentContextGivesServerCredentialsAndNamespace) {
  Connection c = resolve_connection(flags_for(path_.string()));
  EXPECT_EQ(c.server, "127.0.0.1:7440");
  EXPECT_EQ(c.tls.ca_file, (dir_.path() / "pki/ca.crt").string());
  EXPECT_EQ(c.tls.cert_file, (dir_.path() / "pki/admin.crt").string());
  EXPECT_EQ(c.tls.key_file, "/abs/admin.key");
  EXPECT_FALSE(c.tls.insecure);
  EXPECT_EQ(c.ns, "team-a");
  EXPECT_NE(c.source.find("admin@local"), std::string::npos) << c.source;
}

TEST_F(ConfigTest, ContextFlagAndOverrides) {
  Connection c = resolve_connection(flags_for(path_.string(), "open"));
  EXPECT_TRUE(c.tls.insecure);
  EXPECT_EQ(c.server, "127.0.0.1:7441");
  EXPECT_EQ(c.ns, "default");
  c = resolve_connection(flags_for(path_.string(), "", "10.0.0.1:7440", "other"));
  EXPECT_EQ(c.server, "10.0.0.1:7440");
  EXPECT_EQ(c.ns, "other");
  ConnectionFlags flags = flags_for(path_.string());
  flags.tls.cert_file = "/other.crt";
  flags.tls.key_file = "/other.key";
  c = resolve_connection(flags);
  EXPECT_EQ(c.tls.cert_file, "/other.crt");
  EXPECT_EQ(c.tls.ca_file, (dir_.path() / "pki/ca.crt").string());
}

TEST_F(ConfigTest, HalconfigEnvironmentVariable) {
  setenv("HALCONFIG", path_.c_str(), 1);
  EXPECT_EQ(resolve_connection({}).server, "127.0.0.1:7440");
  setenv("HALCONFIG", (dir_.path() / "missing").c_str(), 1);
  std::string error = error_of({});
  EXPECT_NE(error.find("from $HALCONFIG): no such file"), std::string::npos) << error;
}

TEST_F(ConfigTest, MissingPiecesAreNamed) {
  std::string error = error_of(flags_for((dir_.path() / "nope").string()));
  EXPECT_NE(error.find("nope (from --config): no such file"), std::string::npos) << error;
  error = error_of(flags_for(path_.string(), "staging"));
  EXPECT_NE(error.find("no context 'staging'"), std::string::npos) << error;
  error = error_of(flags_for(path_.string(), "ghost"));
  EXPECT_NE(error.find("cluster 'nowhere', which is not there"), std::string::npos) << error;
}

TEST_F(ConfigTest, NoCredentialsAtAllIsRefusedWithWhatToDo) {
  ConnectionFlags flags;
  if (std::filesystem::exists(std::filesystem::path(getenv("HOME") ? getenv("HOME") : "") /
                              ".hal/config"))
    GTEST_SKIP() << "~/.hal/config exists";
  std::string error = error_of(flags);
  EXPECT_NE(error.find("no credentials for 127.0.0.1:7440"), std::string::npos) << error;
  EXPECT_NE(error.find("--insecure"), std::string::npos) << error;
  flags.tls.insecure = true;
  EXPECT_TRUE(resolve_connection(flags).tls.insecure);
}

TEST_F(ConfigTest, BrokenFileIsNamed) {
  std::ofstream(path_) << "clusters: {not: a list}\n";
  std::string error = error_of(flags_for(path_.string()));
  EXPECT_NE(error.find("clusters: must be a list"), std::string::npos) << error;
  std::ofstream(path_) << "clusters:\n- name: x\n  cluster: {certificate-authority: ca}\n";
  error = error_of(flags_for(path_.string()));
  EXPECT_NE(error.find("clusters[0].cluster.server: required"), std::string::npos) << error;
}

TEST_F(ConfigTest, WrittenConfigReadsBack) {
  std::ofstream(path_) << config_yaml("c", {"h:1", "/ca.crt", false}, "u", {"/u.crt", "/u.key"},
                                      "u@c", "ns1");
  Connection c = resolve_connection(flags_for(path_.string()));
  EXPECT_EQ(c.server, "h:1");
  EXPECT_EQ(c.tls.ca_file, "/ca.crt");
  EXPECT_EQ(c.tls.cert_file, "/u.crt");
  EXPECT_EQ(c.tls.key_file, "/u.key");
  EXPECT_EQ(c.ns, "ns1");
}

/** Runs `halctl --config PATH config ARGS...`; returns exit code, stdout and stderr. */
struct ConfigRun {
  int code;
  std::string out, err;
};
ConfigRun halctl_config(const std::filesystem::path &path, std::vector<std::string> args) {
  args.insert(args.begin(), {"--config", path.string(), "config"});
  std::istringstream in;
  std::ostringstream out, err;
  Io io{in, out, err};
  const int code = run(args, io);
  return {code, out.str(), err.str()};
}

TEST_F(ConfigTest, ConfigCommandListsAndSwitchesContexts) {
  ConfigRun listed = halctl_config(path_, {"get-contexts"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find("CURRENT"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("\n*         admin@local   local"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("team-a"), std::string::npos) << listed.out;
  EXPECT_EQ(halctl_config(path_, {"current-context"}).out, "admin@local\n");
  EXPECT_NE(halctl_config(path_, {"view"}).out.find("certificate-authority: pki/ca.crt"),
            std::string::npos);

  ConfigRun switched = halctl_config(path_, {"use-context", "open"});
  ASSERT_EQ(switched.code, 0) << switched.err;
  EXPECT_EQ(switched.out, "Switched to context \"open\".\n");
  EXPECT_EQ(halctl_config(path_, {"current-context"}).out, "open\n");
  Connection c = resolve_connection(flags_for(path_.string()));
  EXPECT_TRUE(c.tls.insecure);
  EXPECT_EQ(c.server, "127.0.0.1:7441");
  // Every other entry is kept, relative file names included, and the file is owner-only.
  Config config = load_config(path_);
  EXPECT_EQ(config.contexts.size(), 3u);
  EXPECT_EQ(config.clusters["local"].certificate_authority, (dir_.path() / "pki/ca.crt").string());
  EXPECT_EQ(std::filesystem::status(path_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_FALSE(std::filesystem::exists(path_.string() + ".tmp"));
}

TEST_F(ConfigTest, ConfigCommandErrorsNameTheProblem) {
  ConfigRun unknown = halctl_config(path_, {"use-context", "staging"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("no context 'staging'"), std::string::npos) << unknown.err;
  EXPECT_EQ(halctl_config(path_, {"current-context"}).out, "admin@local\n");
  EXPECT_EQ(halctl_config(path_, {"use-context"}).code, 2);
  ConfigRun action = halctl_config(path_, {"set-cluster"});
  EXPECT_EQ(action.code, 2);
  EXPECT_NE(action.err.find("unknown config action \"set-cluster\""), std::string::npos);
  ConfigRun missing = halctl_config(dir_.path() / "nope", {"get-contexts"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("nope: no such file"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace hal::halctl
