// main_test.cc - the hal-controller program: serves on a picked port, stops cleanly (exit 0)
// on SIGTERM, refuses a port another controller serves on, and refuses a corrupted store file, an
// unknown store, zero workers or calls per node, an audit log it cannot open, an etcd client
// certificate without its key, and running with neither TLS files nor --insecure with a clear
// message; --insecure logs a warning; the audit log is next to the store by default;
// --import-store copies a store into --store and exits; --help names the etcd store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

/** Runs hal-controller with `args`, its stdout+stderr going to `log`; returns the pid. */
pid_t spawn(const std::vector<std::string> &args, const fs::path &log) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE *out = fopen(log.c_str(), "w");
    dup2(fileno(out), 1);
    dup2(fileno(out), 2);
    std::vector<char *> argv;
    std::string program = HAL_CONTROLLER_BINARY;
    argv.push_back(program.data());
    for (const auto &arg : args) argv.push_back(const_cast<char *>(arg.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::string read_all(const fs::path &path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/** Waits up to 5 s for hal-controller's "listening on HOST:PORT" line in `log`; returns
 *  HOST:PORT, or "" when it did not come. */
std::string listening_address(const fs::path &log) {
  const std::string marker = "listening on ";
  for (int i = 0; i < 500; ++i) {
    std::string text = read_all(log);
    auto at = text.find(marker);
    auto end = at == std::string::npos ? at : text.find('\n', at);
    if (end != std::string::npos) return text.substr(at + marker.size(), end - at - marker.size());
    usleep(10000);
  }
  return "";
}

class ControllerMain : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/hal-ctl-main-XXXXXX";
    dir_ = mkdtemp(pattern);
  }
  void TearDown() override { fs::remove_all(dir_); }
  /** Runs hal-controller with `args` until it exits and leaves its output in `output`; returns
   *  its exit code, -1 when a signal ended it. */
  int run_until_exit(const std::vector<std::string> &args, std::string &output) {
    fs::path log = dir_ / "out.log";
    pid_t pid = spawn(args, log);
    int status = 0;
    const bool waited = waitpid(pid, &status, 0) == pid;
    output = read_all(log);
    if (!waited) {
      ADD_FAILURE() << "waitpid failed for hal-controller " << pid;
      return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  fs::path dir_;
};

TEST_F(ControllerMain, ServesAndStopsOnSigterm) {
  fs::path log = dir_ / "out.log";
  pid_t pid = spawn(
      {"--insecure", "--listen", "127.0.0.1:0", "--store", "sqlite:" + (dir_ / "c.db").string()},
      log);
  ASSERT_GT(pid, 0);
  const bool listening = listening_address(log).starts_with("127.0.0.1:");
  if (!listening) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  ASSERT_TRUE(listening) << read_all(log);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << read_all(log);
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_all(log);
  EXPECT_TRUE(fs::exists(dir_ / "c.db"));
  EXPECT_NE(read_all(log).find("--insecure: the Controller API and NodeRegistry accept anyone"),
            std::string::npos)
      << read_all(log);
  // The audit log is next to the store, owner-only.
  EXPECT_NE(read_all(log).find("audit log " + (dir_ / "audit.log").string()), std::string::npos)
      << read_all(log);
  ASSERT_TRUE(fs::exists(dir_ / "audit.log"));
  EXPECT_EQ(fs::status(dir_ / "audit.log").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(ControllerMain, UnopenableAuditLogIsNamed) {
  std::string output;
  const std::string path = (dir_ / "no-such-dir" / "audit.log").string();
  EXPECT_EQ(run_until_exit(
                {"--insecure", "--listen", "127.0.0.1:0", "--store", "memory", "--audit-log", path},
                output),
            1)
      << output;
  EXPECT_NE(output.find("cannot open the audit log " + path), std::string::npos) << output;
}

TEST_F(ControllerMain, NeitherTlsNorInsecureIsRefused) {
  std::string output;
  EXPECT_EQ(run_until_exit({"--listen", "127.0.0.1:0", "--store", "memory"}, output), 2) << output;
  EXPECT_NE(output.find("hal-controller: no TLS credentials"), std::string::npos) << output;
}

TEST_F(ControllerMain, BootstrapWithoutTlsAndTheCaKeyIsRefused) {
  std::string output;
  EXPECT_EQ(run_until_exit({"--insecure", "--listen", "127.0.0.1:0", "--store", "memory",
                            "--bootstrap-listen", "127.0.0.1:0"},
                           output),
            1)
      << output;
  EXPECT_NE(output.find("--bootstrap-listen needs"), std::string::npos) << output;
}

TEST_F(ControllerMain, MissingTlsFileIsNamed) {
  std::string output;
  EXPECT_EQ(run_until_exit({"--listen", "127.0.0.1:0", "--store", "memory", "--tls-ca",
                            (dir_ / "ca.crt").string(), "--tls-cert", (dir_ / "c.crt").string(),
                            "--tls-key", (dir_ / "c.key").string()},
                           output),
            1)
      << output;
  EXPECT_NE(output.find((dir_ / "ca.crt").string()), std::string::npos) << output;
}

TEST_F(ControllerMain, PortAnotherControllerServesOnIsRefused) {
  fs::path log = dir_ / "first.log";
  pid_t first = spawn(
      {"--insecure", "--listen", "127.0.0.1:0", "--store", "sqlite:" + (dir_ / "a.db").string()},
      log);
  ASSERT_GT(first, 0);
  const std::string address = listening_address(log);
  if (address.empty()) {
    kill(first, SIGKILL);
    waitpid(first, nullptr, 0);
  }
  ASSERT_FALSE(address.empty()) << read_all(log);

  // Before SO_REUSEPORT was turned off the second one started too and served beside the first.
  fs::path second_log = dir_ / "second.log";
  pid_t second =
      spawn({"--insecure", "--listen", address, "--store", "sqlite:" + (dir_ / "b.db").string()},
            second_log);
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 1000 && !exited; ++i) {
    exited = waitpid(second, &status, WNOHANG) == second;
    if (!exited) usleep(10000);
  }
  if (!exited) {
    kill(second, SIGKILL);
    waitpid(second, nullptr, 0);
  }
  kill(first, SIGTERM);
  waitpid(first, nullptr, 0);
  const std::string output = read_all(second_log);
  ASSERT_TRUE(exited) << "a second controller is serving on " << address << ":\n" << output;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << output;
  EXPECT_NE(output.find("cannot listen on " + address), std::string::npos) << output;
}

TEST_F(ControllerMain, CorruptedStoreIsAClearError) {
  {
    std::ofstream out(dir_ / "bad.db");
    out << std::string(8192, 'x');
  }
  std::string output;
  EXPECT_EQ(run_until_exit({"--insecure", "--listen", "127.0.0.1:0", "--store",
                            "sqlite:" + (dir_ / "bad.db").string()},
                           output),
            1)
      << output;
  EXPECT_NE(output.find("bad.db"), std::string::npos) << output;
  EXPECT_NE(output.find("not a HAL controller store"), std::string::npos) << output;
}

TEST_F(ControllerMain, UnknownStoreSchemeIsRefused) {
  std::string output;
  EXPECT_EQ(run_until_exit({"--insecure", "--store", "zookeeper://localhost:2181"}, output), 1)
      << output;
  EXPECT_NE(output.find("unknown store"), std::string::npos) << output;
}

TEST_F(ControllerMain, EtcdCertWithoutKeyIsRefused) {
  std::string output;
  EXPECT_EQ(run_until_exit({"--insecure", "--store", "etcd://127.0.0.1:1", "--etcd-cert", "c.crt"},
                           output),
            2)
      << output;
  EXPECT_NE(output.find("--etcd-cert and --etcd-key go together"), std::string::npos) << output;
}

TEST_F(ControllerMain, HelpNamesTheEtcdStore) {
  std::string output;
  EXPECT_EQ(run_until_exit({"--help"}, output), 0) << output;
  EXPECT_NE(output.find("etcd://HOST:PORT"), std::string::npos) << output;
  EXPECT_NE(output.find("--etcd-ca"), std::string::npos) << output;
}

TEST_F(ControllerMain, ImportStoreCopiesAndExits) {
  std::string output;
  const std::string from = "sqlite:" + (dir_ / "from.db").string();
  EXPECT_EQ(run_until_exit(
                {"--store", "sqlite:" + (dir_ / "to.db").string(), "--import-store", from}, output),
            0)
      << output;
  EXPECT_NE(output.find("imported 0 objects from " + from), std::string::npos) << output;
}

TEST_F(ControllerMain, ZeroWorkersOrCallsPerNodeAreRefusedByName) {
  std::string output;
  EXPECT_GT(run_until_exit({"--insecure", "--workers", "0"}, output), 0)
      << output;  // Exited, with an error.
  EXPECT_NE(output.find("--workers"), std::string::npos) << output;
  EXPECT_GT(run_until_exit({"--insecure", "--calls-per-node", "0"}, output), 0) << output;
  EXPECT_NE(output.find("--calls-per-node"), std::string::npos) << output;
}

}  // namespace
