// halctl_test.cc - halctl end to end against an in-process fake Controller service: apply, get
// (table, -o json/yaml), describe, delete, VM actions, migrate with progress (plain and TTY) and
// failure, drain, console through the VM's node (piped, not a TTY), local validate exit codes,
// argument errors (exit 2) and server errors. A few cases run the real halctl binary.
#include "controller/halctl/halctl.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "controller/api/kubevirt_api.h"
#include "controller/halctl/tests/fake_controller.h"

namespace hal::halctl {
namespace {

using nlohmann::json;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result halctl(const std::vector<std::string> &args, const std::string &input = "",
              bool tty = false) {
  std::istringstream in(input);
  std::ostringstream out, err;
  Io io{in, out, err, tty, -1, -1};
  int code = run(args, io);
  return {code, out.str(), err.str()};
}

// Runs the real binary through the shell; stdout+stderr together.
Result binary(const std::string &args) {
  std::string cmd = std::string(HALCTL_BINARY) + " " + args + " 2>&1";
  std::array<char, 4096> buffer{};
  std::string output;
  FILE *pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, "", "popen failed"};
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output, ""};
}

const std::string kTestGuest = HAL_EXAMPLES_MANIFESTS_DIR "/testguest-vm.yaml";
const std::string kFedoraSeed = HAL_API_TESTDATA_DIR "/seed-fedora-vm.yaml";

class HalctlTest : public ::testing::Test {
 protected:
  std::vector<std::string> with_server(std::vector<std::string> args) {
    args.insert(args.begin(), {"--insecure", "--server", server_.address()});
    return args;
  }
  Result call(std::vector<std::string> args, const std::string &input = "", bool tty = false) {
    return halctl(with_server(std::move(args)), input, tty);
  }
  testing::FakeServer server_;
};

TEST_F(HalctlTest, RbacObjectsApplyGetAndDelete) {
  auto r = call({"apply", "-f", HAL_EXAMPLES_MANIFESTS_DIR "/rbac-team-a.yaml"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "role/vm-operator created\nrolebinding/team-a-operates-vms created\n"
            "clusterrole/vm-viewer created\nclusterrolebinding/auditors-view-vms created\n");
  r = call({"get", "rolebindings", "-n", "team-a", "-o", "wide"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "NAME                  ROLE               AGE   USERS    GROUPS")
      << r.out;
  EXPECT_NE(r.out.find("team-a-operates-vms   Role/vm-operator"), std::string::npos) << r.out;
  r = call({"get", "clusterrolebinding", "auditors-view-vms", "-o", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["roleRef"]["name"], "vm-viewer");
  r = call({"get", "roles", "-A"});
  EXPECT_NE(r.out.find("vm-operator"), std::string::npos) << r.out;
  r = call({"delete", "clusterrole", "vm-viewer"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "clusterrole \"vm-viewer\" deleted\n");
  // Validation names the field.
  r = call({"apply", "-f", "-"},
           "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules:\n"
           "- apiGroups: [kubevirt.io]\n  resources: [virtualmachines]\n  verbs: [start]\n");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("role/r: rules[0].verbs[0]: \"start\" is not a verb"), std::string::npos)
      << r.err;
}

TEST_F(HalctlTest, ApplyGetDescribeDelete) {
  auto r = call({"apply", "-f", kTestGuest});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "virtualmachine/testguest created\n");
  r = call({"apply", "-f", kTestGuest});
  EXPECT_EQ(r.out, "virtualmachine/testguest unchanged\n");
  std::ifstream file(kTestGuest);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  text.replace(text.find("guest: 256Mi"), 12, "guest: 512Mi");
  r = call({"apply", "-f", "-"}, text);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "virtualmachine/testguest configured\n");

  r = call({"get", "vms"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_EQ(header, "NAME        AGE   STATUS    READY");
  EXPECT_EQ(row.rfind("testguest   ", 0), 0u) << row;
  EXPECT_NE(row.find("Stopped   False"), std::string::npos) << row;

  r = call({"get", "vm", "testguest", "-o", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  json vm = json::parse(r.out);
  EXPECT_EQ(vm["metadata"]["name"], "testguest");
  EXPECT_EQ(vm["spec"]["template"]["spec"]["domain"]["memory"]["guest"], "512Mi");
  r = call({"get", "virtualmachine", "-o", "yaml"});
  auto docs = hal::controller::parse_manifests(r.out);
  ASSERT_EQ(docs.size(), 1u) << r.out;  // the List is flattened
  EXPECT_EQ(docs[0]["metadata"]["name"], "testguest");

  server_.service().put(
      {{"apiVersion", "v1"},
       {"kind", "Event"},
       {"metadata", {{"name", "testguest.1"}, {"namespace", "default"}}},
       {"involvedObject",
        {{"kind", "VirtualMachine"}, {"namespace", "default"}, {"name", "testguest"}}},
       {"type", "Normal"},
       {"reason", "SuccessfulCreate"},
       {"message", "created VMI testguest"},
       {"count", 1}});
  r = call({"describe", "vm", "testguest"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Name:         testguest"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SuccessfulCreate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("created VMI testguest"), std::string::npos) << r.out;

  r = call({"delete", "vm", "testguest"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "virtualmachine \"testguest\" deleted\n");
  r = call({"get", "vm", "testguest"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error from server (NOT_FOUND): VirtualMachine default/testguest not found\n");
  r = call({"get", "vm"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.err, "No resources found in default namespace.\n");
}

TEST_F(HalctlTest, ApplyOfAnInvalidManifestShowsTheServersFieldError) {
  auto r = call({"apply", "-f", kFedoraSeed});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("Error from server (INVALID_ARGUMENT): virtualmachine/fedora-vm: "
                        "spec.template.spec.volumes[0].dataVolume: DataVolumes",
                        0),
            0u)
      << r.err;
}

TEST_F(HalctlTest, VmActions) {
  ASSERT_EQ(call({"apply", "-f", kTestGuest}).code, 0);
  auto r = call({"stop", "testguest", "--force"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "VM testguest was scheduled to stop\n");
  auto [action, request] = server_.service().last_action();
  EXPECT_EQ(action, "stop");
  EXPECT_TRUE(request.force());
  EXPECT_EQ(request.name(), "testguest");
  r = call({"pause", "testguest"});
  EXPECT_EQ(r.out, "VMI testguest was scheduled to pause\n");
  EXPECT_EQ(server_.service().last_action().first, "pause");
  r = call({"start", "nosuch"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error from server (NOT_FOUND): VirtualMachine nosuch not found\n");
}

TEST_F(HalctlTest, MigrateWaitPrintsProgressLinesWithoutATty) {
  ASSERT_EQ(call({"apply", "-f", kTestGuest}).code, 0);
  auto r = call({"migrate", "testguest", "--wait", "--timeout", "20"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("VM testguest was scheduled to migrate "
                       "(virtualmachineinstancemigration/testguest-migration-1)"),
            std::string::npos)
      << r.out;
  for (const char *line : {"testguest-migration-1: phase=Pending progress=0%\n",
                           "testguest-migration-1: phase=Running progress=25%\n",
                           "testguest-migration-1: phase=Running progress=50%\n",
                           "testguest-migration-1: phase=Succeeded progress=100%\n",
                           "migration testguest-migration-1 succeeded: node-a -> node-b\n"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << "missing " << line << "in\n" << r.out;
  }
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  r = call({"get", "vmim"});
  EXPECT_NE(r.out.find("testguest-migration-1   Succeeded   testguest   node-a   node-b   100%"),
            std::string::npos)
      << r.out;
}

TEST_F(HalctlTest, MigrateWaitDrawsABarOnATtyAndFailsWhenTheMigrationFails) {
  ASSERT_EQ(call({"apply", "-f", kTestGuest}).code, 0);
  auto r = call({"migrate", "testguest", "--target-node", "node-c", "--wait"}, "", true);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(
      r.out.find("\r[" + std::string(15, '=') + ">" + std::string(14, ' ') + "]  50% Running"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("100% Succeeded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("succeeded: node-a -> node-c"), std::string::npos) << r.out;

  r = call({"migrate", "testguest", "--target-node", "broken", "--wait"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("phase=Failed progress=0%"), std::string::npos) << r.out;
  EXPECT_EQ(r.err,
            "Error: migration testguest-migration-2 failed: target node refused the "
            "incoming VM\n");
  r = call({"migrate", "nosuch"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error from server (NOT_FOUND)"), std::string::npos);
}

TEST_F(HalctlTest, NodesPoolsAndDrain) {
  server_.service().put({{"apiVersion", "hal.dev/v1"},
                         {"kind", "Node"},
                         {"metadata", {{"name", "node-a"}}},
                         {"status",
                          {{"pool", "qemu"},
                           {"backends", {"kvm-qemu"}},
                           {"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
                           {"allocatable", {{"cpu", 4}, {"memory", 8589934592ull}}},
                           {"allocated", {{"cpu", 1}, {"memory", 268435456}}}}}});
  ASSERT_EQ(call({"apply", "-f", HAL_EXAMPLES_MANIFESTS_DIR "/nodepools.yaml"}).code, 0);
  auto r = call({"get", "nodes"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("node-a   Ready    qemu   kvm-qemu   1/4   256Mi/8Gi   0"),
            std::string::npos)
      << r.out;
  r = call({"get", "np"});
  EXPECT_NE(r.out.find("qemu   kvm-qemu   1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mock   mock       0"), std::string::npos) << r.out;
  r = call({"drain", "node-a"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "node/node-a cordoned\nskipped default/pinned: evictionStrategy None\n"
            "node/node-a draining\n");
  r = call({"drain", "node-a", "--cordon-only", "--uncordon"});
  EXPECT_EQ(r.code, 2);
  r = call({"drain", "node-z"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error from server (NOT_FOUND): Node node-z not found\n");
}

// `halctl console` with stdin and stdout on pipes, as a script would run it.
struct ConsoleRun {
  int code;
  std::string out;  ///< What reached the console output pipe.
  std::string err;
};

// With `timeout` set, the input stays open and halctl detaches after that many seconds.
ConsoleRun console(const std::string &server, const std::string &name, const std::string &typed,
                   const std::string &timeout = "") {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) return {-1, "", "pipe failed"};
  if (::write(in[1], typed.data(), typed.size()) != static_cast<ssize_t>(typed.size()))
    return {-1, "", "write failed"};
  if (timeout.empty()) close(in[1]);  // End of input: halctl ends its half of the stream.
  std::istringstream unused;
  std::ostringstream ignored, err;
  Io io{unused, ignored, err, false, in[0], out[1]};
  int code = run({"--insecure", "--server", server, "console", name, "--timeout",
                  timeout.empty() ? "10" : timeout},
                 io);
  if (!timeout.empty()) close(in[1]);
  close(in[0]);
  close(out[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  close(out[0]);
  return {code, text, err.str()};
}

json running_vmi(const std::string &name) {
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachineInstance"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"status", {{"phase", "Running"}, {"nodeName", "node-a"}}}};
}

TEST_F(HalctlTest, ConsoleCarriesInputToTheNodeAndItsOutputBack) {
  server_.service().put(running_vmi("testguest"));
  const auto before = std::chrono::steady_clock::now();
  ConsoleRun r = console(server_.address(), "testguest", "uname -a\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "console of default-testguest\necho: uname -a\n");
  EXPECT_EQ(r.err, "");  // No TTY: no banner, nothing to restore.
  // It ended when the input did, not at --timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
}

TEST_F(HalctlTest, ConsoleDetachesAtItsTimeoutWhileInputIsStillOpen) {
  server_.service().put(running_vmi("testguest"));
  const auto before = std::chrono::steady_clock::now();
  ConsoleRun r = console(server_.address(), "testguest", "ls\n", "1");
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(r.code, 0) << r.err;  // Detaching is how a timed session ends: not an error.
  EXPECT_EQ(r.out, "console of default-testguest\necho: ls\n");
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(HalctlTest, ConsoleErrorsNameTheirCause) {
  ConsoleRun r = console(server_.address(), "absent", "");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error from server (NOT_FOUND): VirtualMachineInstance default/absent is "
                       "not running"),
            std::string::npos)
      << r.err;
  server_.service().put(running_vmi("gone"));  // The controller places it; its node has not.
  r = console(server_.address(), "gone", "");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error from server (NOT_FOUND): VM 'default-gone' is not on this node"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(Halctl, ValidateIsLocalWithFieldNamedErrors) {
  auto r = halctl({"--server", "127.0.0.1:1", "validate", "-f", kTestGuest});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "virtualmachine/testguest valid\n");
  r = halctl({"validate", "-f", HAL_EXAMPLES_MANIFESTS_DIR "/nodepools.yaml"});
  EXPECT_EQ(r.out, "nodepool/qemu valid\nnodepool/mock valid\n");
  r = halctl({"validate", "-f", kFedoraSeed});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("virtualmachine/fedora-vm: spec.template.spec.volumes[0].dataVolume: ", 0),
            0u)
      << r.out;
  r = halctl({"validate", "-f", "-"}, "kind: VirtualMachine\nmetadata: {name: x}\n  bad: [\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("error: -: document 1"), std::string::npos) << r.out;
  r = halctl({"validate", "-f", "/nonexistent.yaml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: cannot read /nonexistent.yaml\n");
}

TEST(Halctl, BadArgumentsExitTwo) {
  for (const auto &args : std::vector<std::vector<std::string>>{{},
                                                                {"frobnicate"},
                                                                {"get"},
                                                                {"get", "pods"},
                                                                {"apply"},
                                                                {"migrate"},
                                                                {"get", "vm", "-o", "xml"}}) {
    auto r = halctl(args);
    std::string joined;
    for (const auto &a : args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << "\nout: " << r.out << "\nerr: " << r.err;
    EXPECT_FALSE(r.err.empty()) << joined;
  }
  auto r = halctl({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("migrate"), std::string::npos);
}

TEST(Halctl, UnreachableServerIsAServerError) {
  auto r = halctl({"--insecure", "--server", "127.0.0.1:1", "get", "vm"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("Error from server (UNAVAILABLE): ", 0), 0u) << r.err;
}

TEST(Halctl, TheBinary) {
  auto r = binary("validate -f " + kFedoraSeed);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("dataVolume"), std::string::npos) << r.out;
  r = binary("validate -f " + kTestGuest);
  EXPECT_EQ(r.code, 0) << r.out;
  r = binary("get");
  EXPECT_EQ(r.code, 2) << r.out;
  r = binary("version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("halctl version 0.1.0 (HAL ABI ", 0), 0u) << r.out;
  testing::FakeServer server;
  r = binary("apply -f " + kTestGuest + " --insecure --server " + server.address());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "virtualmachine/testguest created\n");
  r = binary("get vm testguest -o json --insecure --server " + server.address());
  EXPECT_EQ(json::parse(r.out)["kind"], "VirtualMachine");
  r = binary("get vm --insecure --server " + server.address() + "");
  setenv("HALCTL_SERVER", server.address().c_str(), 1);
  r = binary("get vm --insecure");
  unsetenv("HALCTL_SERVER");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("testguest"), std::string::npos) << r.out;
  // Neither a configuration nor TLS flags nor --insecure: refused before dialling.
  r = binary("get vm --config /nonexistent/halconfig");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/halconfig"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no such file"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace hal::halctl
