// migration_tls_test.cc - unit tests of migration over TLS in kvm-qemu: params.tls parsing, the
// exact QMP command sequence each side sends before migrate / migrate-incoming (with and without
// TLS), and the staged copy of the PEM files QEMU reads.
#include "backends/kvm-qemu/migration_tls.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "backends/kvm-qemu/migration.h"
#include "hal/plugin.hpp"
#include "testing/temp_dir.h"

namespace hal::kvm_qemu {
namespace {

using nlohmann::json;

// The names of `commands`, in order.
std::vector<std::string> names(const std::vector<QmpCommand> &commands) {
  std::vector<std::string> out;
  for (const QmpCommand &command : commands) out.push_back(command.name);
  return out;
}

TEST(MigrationTlsParams, ParsesAndNamesBadFields) {
  MigrationParams params = parse_migration_params(
      R"({"uri":"tcp:10.0.0.2:4444","tls":{"dir":"/var/lib/hal/mig","hostname":"node-b",
          "peerSubjects":["O=system:nodes,CN=system:node:*"]}})",
      {});
  ASSERT_TRUE(params.tls);
  EXPECT_EQ(params.tls->dir, "/var/lib/hal/mig");
  EXPECT_EQ(params.tls->hostname, "node-b");
  EXPECT_EQ(params.tls->peer_subjects, std::vector<std::string>{"O=system:nodes,CN=system:node:*"});
  EXPECT_FALSE(parse_migration_params(R"({"uri":"tcp:1.2.3.4:5"})", {}).tls);

  auto refusal = [](const char *text) -> std::string {
    try {
      parse_migration_params(text, {});
    } catch (const hal::plugin::Failure &f) {
      return std::to_string(f.status) + " " + f.what();
    }
    return "accepted";
  };
  const std::string invalid = std::to_string(HAL_INVALID_ARGUMENT) + " ";
  EXPECT_EQ(refusal(R"({"tls":true})"), invalid + "migration params.tls: must be an object");
  EXPECT_EQ(refusal(R"({"tls":{}})"), invalid + "migration params.tls.dir: required");
  EXPECT_EQ(refusal(R"({"tls":{"dir":"rel"}})"),
            invalid + "migration params.tls.dir: must be an absolute directory path");
  EXPECT_EQ(refusal(R"({"tls":{"dir":"/d","cipher":"x"}})"),
            invalid + "migration params.tls.cipher: unknown field");
  EXPECT_NE(refusal(R"({"tls":{"dir":"/d","peerSubjects":[]}})").find("peerSubjects"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"tls":{"dir":"/d","hostname":""}})").find("tls.hostname"),
            std::string::npos);
}

// Clear text: the sequences are what they were before TLS existed, plus the source resetting
// the TLS parameters (an earlier TLS migration of the same QEMU must not linger).
TEST(MigrationTlsQmp, ClearTextSequences) {
  MigrationParams params;
  std::vector<QmpCommand> source = qmp_migration_setup(params, true, "");
  EXPECT_EQ(names(source),
            (std::vector<std::string>{"migrate-set-capabilities", "migrate-set-parameters"}));
  EXPECT_EQ(source[1].arguments["tls-creds"], "");
  EXPECT_EQ(source[1].arguments["tls-hostname"], "");
  EXPECT_EQ(source[1].arguments["tls-authz"], "");
  EXPECT_EQ(names(qmp_migration_setup(params, false, "")),
            std::vector<std::string>{"migrate-set-capabilities"});
  params.multifd_channels = 2;
  std::vector<QmpCommand> target = qmp_migration_setup(params, false, "");
  ASSERT_EQ(target.size(), 2u);
  EXPECT_EQ(target[1].arguments, json({{"multifd-channels", 2}}));
}

// TLS on the source: stale objects deleted (errors ignored), a client tls-creds-x509 verifying
// the target, then the parameters naming it and the expected host name.
TEST(MigrationTlsQmp, SourceSequence) {
  MigrationParams params;
  params.tls = MigrationTls{"/node/mig-tls", "node-b.example", {}};
  std::vector<QmpCommand> commands = qmp_migration_setup(params, true, "/tmp/staged");
  ASSERT_EQ(names(commands),
            (std::vector<std::string>{"object-del", "object-del", "object-add",
                                      "migrate-set-capabilities", "migrate-set-parameters"}));
  EXPECT_TRUE(commands[0].may_fail && commands[1].may_fail);
  EXPECT_EQ(commands[0].arguments, json({{"id", "hal-migration-tls"}}));
  EXPECT_EQ(commands[1].arguments, json({{"id", "hal-migration-authz"}}));
  EXPECT_FALSE(commands[2].may_fail);
  EXPECT_EQ(commands[2].arguments, json({{"qom-type", "tls-creds-x509"},
                                         {"id", "hal-migration-tls"},
                                         {"endpoint", "client"},
                                         {"dir", "/tmp/staged"},
                                         {"verify-peer", true}}));
  const json &set = commands[4].arguments;
  EXPECT_EQ(set["tls-creds"], "hal-migration-tls");
  EXPECT_EQ(set["tls-hostname"], "node-b.example");
  EXPECT_EQ(set["tls-authz"], "");
  EXPECT_TRUE(set.contains("downtime-limit"));
}

// TLS on the target: a server tls-creds-x509 requiring a client certificate, the authz-list of
// accepted subjects, and the parameters naming both, all before migrate-incoming.
TEST(MigrationTlsQmp, TargetSequence) {
  MigrationParams params;
  params.tls = MigrationTls{"/node/mig-tls", "", {"O=system:nodes,CN=system:node:*"}};
  std::vector<QmpCommand> commands = qmp_migration_setup(params, false, "/tmp/staged");
  ASSERT_EQ(names(commands),
            (std::vector<std::string>{"object-add", "object-add", "migrate-set-capabilities",
                                      "migrate-set-parameters"}));
  EXPECT_EQ(commands[0].arguments["endpoint"], "server");
  EXPECT_EQ(commands[0].arguments["verify-peer"], true);
  EXPECT_EQ(commands[0].arguments["dir"], "/tmp/staged");
  EXPECT_EQ(commands[1].arguments,
            json::parse(R"({"qom-type":"authz-list","id":"hal-migration-authz","policy":"deny",
                "rules":[{"match":"O=system:nodes,CN=system:node:*","policy":"allow",
                          "format":"glob"}]})"));
  EXPECT_EQ(commands[3].arguments,
            json({{"tls-creds", "hal-migration-tls"}, {"tls-authz", "hal-migration-authz"}}));
  // Without peerSubjects: any certificate of the CA, no authz object.
  params.tls->peer_subjects.clear();
  commands = qmp_migration_setup(params, false, "/tmp/staged");
  ASSERT_EQ(names(commands), (std::vector<std::string>{"object-add", "migrate-set-capabilities",
                                                       "migrate-set-parameters"}));
  EXPECT_EQ(commands[2].arguments, json({{"tls-creds", "hal-migration-tls"}}));
}

// The staged copy holds exactly one endpoint's files, owner-only, and goes away with the object.
TEST(MigrationTlsStaging, CopiesOneEndpointsFilesPrivatelyAndRemovesThem) {
  hal::testing::TempDir source_dir("hal-migtls-src-");
  for (const char *name :
       {"ca-cert.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem"})
    std::ofstream(source_dir.path() / name) << "PEM of " << name;
  hal::testing::TempDir parent("hal-migtls-parent-");
  MigrationTls tls{source_dir.str(), "", {}};
  std::filesystem::path staged_path;
  {
    StagedTlsDir staged(tls, true, parent.path(), "");
    staged_path = staged.path();
    EXPECT_EQ(staged_path.parent_path(), parent.path());
    struct stat dir_stat {};
    ASSERT_EQ(::stat(staged_path.c_str(), &dir_stat), 0);
    EXPECT_EQ(dir_stat.st_mode & 0777, 0700u);
    EXPECT_FALSE(std::filesystem::exists(staged_path / "server-key.pem"));
    for (const std::string &name : tls_files_for(true)) {
      struct stat file_stat {};
      ASSERT_EQ(::stat((staged_path / name).c_str(), &file_stat), 0) << name;
      EXPECT_EQ(file_stat.st_mode & 0777, 0400u) << name;
      std::ifstream in(staged_path / name);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_EQ(text, "PEM of " + name);
    }
  }
  EXPECT_FALSE(std::filesystem::exists(staged_path));

  // Run as root, the copy belongs to the user QEMU runs as.
  struct passwd *nobody = ::getpwnam("nobody");
  if (::geteuid() == 0 && nobody != nullptr) {
    StagedTlsDir staged(tls, false, parent.path(), "nobody");
    struct stat key_stat {};
    ASSERT_EQ(::stat((staged.path() / "server-key.pem").c_str(), &key_stat), 0);
    EXPECT_EQ(key_stat.st_uid, nobody->pw_uid);
    struct stat dir_stat {};
    ASSERT_EQ(::stat(staged.path().c_str(), &dir_stat), 0);
    EXPECT_EQ(dir_stat.st_uid, nobody->pw_uid);
  }

  // A missing file is the caller's mistake, named; nothing is left behind.
  std::filesystem::remove(source_dir.path() / "client-key.pem");
  try {
    StagedTlsDir staged(tls, true, parent.path(), "");
    ADD_FAILURE() << "a missing client-key.pem was accepted";
  } catch (const hal::plugin::Failure &f) {
    EXPECT_EQ(f.status, HAL_INVALID_ARGUMENT);
    EXPECT_NE(std::string(f.what()).find("client-key.pem"), std::string::npos) << f.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(parent.path()));
}

}  // namespace
}  // namespace hal::kvm_qemu
