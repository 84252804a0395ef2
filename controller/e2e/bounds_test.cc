// bounds_test.cc - a HAL installation bounded under abuse, tried as a careless or hostile client
// would against real hal-controller and hal-node (mock) processes over mutual TLS: objects too
// large for the limits are refused naming the limit and leave no memory behind in the
// controller, lists of many large objects come back in pages, bytes that are not UTF-8 are
// refused naming their document and line whichever client sends them, a VM made behind the
// controller's back is reported (and deleted after a grace period when configured), and a
// migration whose source or target agent is killed ends within seconds without a stray copy.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "controller/e2e/cluster.h"
#include "controller/pki/pki.h"
#include "hal/v1/controller.grpc.pb.h"
#include "hal/v1/node.grpc.pb.h"
#include "testing/temp_dir.h"

namespace hal::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The controller's resident memory (VmRSS) in KiB.
long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A VirtualMachine manifest on the mock pool; `metadata` and `template_metadata` are YAML lines
// indented by 2 and 6 (may be empty).
std::string vm_yaml(const std::string &name, const std::string &metadata = "",
                    const std::string &template_metadata = "") {
  return "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: " + name + "\n" +
         metadata + "spec:\n  runStrategy: Halted\n  template:\n" +
         (template_metadata.empty() ? "" : "    metadata:\n" + template_metadata) +
         "    spec:\n      nodeSelector:\n        hal.dev/pool: mock\n      domain:\n"
         "        cpu:\n          cores: 1\n        resources:\n          requests:\n"
         "            memory: 64Mi\n        devices: {}\n";
}

// `bytes` of annotation value under `key`, as YAML indented by `indent`.
std::string annotation(size_t bytes, int indent, const std::string &key = "filler") {
  const std::string pad(static_cast<size_t>(indent), ' ');
  return pad + "annotations:\n" + pad + "  " + key + ": \"" + std::string(bytes, 'x') + "\"\n";
}

// Mutual TLS as pki/<base>.crt ("user-admin", or "controller" for calls to a node agent).
std::shared_ptr<grpc::ChannelCredentials> credentials_of(const std::string &pki,
                                                         const std::string &base = "user-admin") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki::read_file(pki + "/ca.crt", "CA");
  ssl.pem_cert_chain = pki::read_file(pki + "/" + base + ".crt", "certificate");
  ssl.pem_private_key = pki::read_file(pki + "/" + base + ".key", "key");
  return grpc::SslCredentials(ssl);
}

std::unique_ptr<grpc::ClientContext> deadline(std::chrono::seconds seconds = 20s) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + seconds);
  return context;
}

// A cluster of mock nodes with `controller_flags`.
Cluster *start_cluster(std::vector<NodeSpec> nodes, std::vector<std::string> controller_flags = {},
                       const std::string &nodepools = HAL_SOURCE_DIR
                       "/examples/manifests/nodepools.yaml") {
  ClusterOptions options;
  options.nodes = std::move(nodes);
  options.nodepools_file = nodepools;
  options.controller_flags = std::move(controller_flags);
  unsetenv("HALCONFIG");
  return new Cluster(Binaries{HAL_CONTROLLER_BIN, HAL_NODE_BIN, HALCTL_BIN, HAL_PLUGIN_PATH},
                     options);
}

// Creates VM `vm_id` on `node` by calling its agent directly (as the controller could).
grpc::Status create_directly(Cluster &cluster, const std::string &node, const std::string &vm_id) {
  auto agent = v1::NodeAgent::NewStub(grpc::CreateChannel(
      cluster.node_address(node), credentials_of(cluster.pki_dir(), "controller")));
  v1::CreateVmRequest create;
  create.set_backend("mock");
  create.set_spec_json(json{
      {"apiVersion", "hal.dev/v1"},
      {"name", vm_id},
      {"cpu", {{"vcpus", 1}}},
      {"memory",
       {{"size", "64Mi"}}}}.dump());
  create.set_start(true);
  v1::VmStatus status;
  return agent->CreateVm(deadline().get(), create, &status);
}

// The VMs `node`'s agent runs, by id, with their state; nullopt when the agent does not answer.
std::optional<std::map<std::string, std::string>> vms_on(Cluster &cluster,
                                                         const std::string &node) {
  auto agent = v1::NodeAgent::NewStub(grpc::CreateChannel(
      cluster.node_address(node), credentials_of(cluster.pki_dir(), "controller")));
  v1::ListVmsResponse listed;
  if (!agent->ListVms(deadline(5s).get(), v1::ListVmsRequest(), &listed).ok()) return std::nullopt;
  std::map<std::string, std::string> vms;
  for (const auto &vm : listed.vms()) vms[vm.vm_id()] = vm.state();
  return vms;
}

// Whether `node`'s agent answers that it runs (`present`) or does not run VM `vm_id`.
bool reports(Cluster &cluster, const std::string &node, const std::string &vm_id, bool present) {
  auto vms = vms_on(cluster, node);
  return vms && (vms->count(vm_id) > 0) == present;
}

// The message of `node`'s condition `type` ("" when it has none).
std::string node_condition(Cluster &cluster, const std::string &node, const std::string &type) {
  const json object = cluster.get("node", node);
  if (!object.is_object()) return "";
  for (const json &condition : object["status"].value("conditions", json::array())) {
    if (condition.value("type", "") == type) return condition.value("message", "(no message)");
  }
  return "";
}

class Bounds : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = start_cluster({{"mock-a", "mock"}}); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  // Writes `text` to a file in the cluster's dir and returns its path.
  static std::string file(const std::string &name, const std::string &text) {
    const std::string path = cluster_->dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  static testing::RunResult apply(const std::string &name, const std::string &text) {
    return cluster_->halctl({"apply", "-f", file(name, text)});
  }
  static std::unique_ptr<v1::Controller::Stub> stub() {
    return v1::Controller::NewStub(
        grpc::CreateChannel(cluster_->address(), credentials_of(cluster_->pki_dir())));
  }
  // VmRSS once the controller has had time to hand back what a request freed.
  static long settled_rss() {
    std::this_thread::sleep_for(1500ms);
    return rss_kib(cluster_->controller_pid());
  }
  static Cluster *cluster_;
};

Cluster *Bounds::cluster_ = nullptr;

TEST_F(Bounds, OversizedObjectsAreRefusedByTheirLimitAndLeaveNoMemoryBehind) {
  // Traffic within the limits first (a 3.4 MiB manifest of objects with 240 KiB annotations,
  // listed back): the memory it leaves in the allocator's and gRPC's caches is the baseline.
  std::string legal;
  for (int i = 0; i < 7; ++i)
    legal += "---\n" + vm_yaml("legal-" + std::to_string(i), annotation(240 * 1024, 2),
                               annotation(240 * 1024, 6));
  auto r = apply("legal.yaml", legal);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(cluster_->halctl({"get", "vms", "-o", "yaml"}).exit_code, 0);
  const long before = settled_rss();

  // 50 MiB and 5 MiB annotations: more than one apply takes (gRPC refuses the message).
  for (size_t mib : {50, 5}) {
    r = apply("huge.yaml", vm_yaml("huge", annotation(mib << 20, 2)));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("RESOURCE_EXHAUSTED"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("apply the manifest in parts"), std::string::npos) << r.err;
  }
  // 3 MiB of annotations: within the manifest limit, refused by the annotations' limit.
  r = apply("big.yaml", vm_yaml("big", annotation(3 << 20, 2)));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("virtualmachine/big: metadata.annotations: too long"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("256 KiB"), std::string::npos) << r.err;
  // 1.9 MiB of valid labels: refused as an object above 1.5 MiB.
  std::string labels = "  labels:\n";
  for (int i = 0; i < 24000; ++i) {
    char line[128];
    std::snprintf(line, sizeof line, "    key-%05d-%s: value-%s\n", i, std::string(40, 'k').c_str(),
                  std::string(30, 'v').c_str());
    labels += line;
  }
  r = apply("wide.yaml", vm_yaml("wide", labels));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("virtualmachine/wide: (object): too large"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1.5 MiB"), std::string::npos) << r.err;
  for (const char *name : {"huge", "big", "wide"})
    EXPECT_TRUE(cluster_->get("vm", name).is_null()) << name << " was stored";

  const long after = settled_rss();
  std::printf("controller VmRSS: %ld KiB before the oversized applies, %ld KiB after\n", before,
              after);
  EXPECT_LE(after, before + before / 10) << "before " << before << " KiB, after " << after;
}

TEST_F(Bounds, ManyLargeObjectsListInPagesAndApplyAndDeleteSayTheyWorked) {
  // 16 objects of 480 KiB: 7.5 MiB, more than gRPC's default 4 MiB answer and three List pages.
  std::string first_part;
  for (int part = 0; part < 2; ++part) {
    std::string manifest;
    for (int i = 0; i < 8; ++i)
      manifest += "---\n" + vm_yaml("large-" + std::to_string(part * 8 + i),
                                    annotation(240 * 1024, 2), annotation(240 * 1024, 6));
    if (part == 0) first_part = manifest;
    auto r = apply("large.yaml", manifest);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("virtualmachine/large-" + std::to_string(part * 8 + 7) + " created"),
              std::string::npos)
        << r.out;
  }
  auto listed = cluster_->halctl({"get", "vms", "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::set<std::string> names;
  const json list = json::parse(listed.out);
  for (const json &item : list["items"]) {
    const std::string name = item["metadata"]["name"];
    if (name.rfind("large-", 0) == 0) {
      EXPECT_EQ(item["metadata"]["annotations"]["filler"].get<std::string>().size(), 240u * 1024);
      names.insert(name);
    }
  }
  EXPECT_EQ(names.size(), 16u);
  EXPECT_EQ(cluster_->halctl({"get", "vms"}).exit_code, 0);

  // What Apply echoes stays within about one page: the objects past it carry their metadata.
  auto controller = stub();
  v1::ApplyRequest again;
  again.set_manifest(first_part);
  v1::ApplyResponse echoed;
  grpc::Status applied = controller->Apply(deadline().get(), again, &echoed);
  ASSERT_TRUE(applied.ok()) << applied.error_message();
  ASSERT_EQ(echoed.objects_size(), 8);
  size_t echoed_bytes = 0;
  for (const auto &object : echoed.objects()) echoed_bytes += object.json().size();
  EXPECT_LE(echoed_bytes, 2u * 1024 * 1024 + 600 * 1024);
  const json last = json::parse(echoed.objects(7).json());
  EXPECT_FALSE(last.contains("spec"));
  EXPECT_FALSE(last["metadata"].contains("annotations"));
  EXPECT_EQ(last["metadata"]["name"], "large-7");
  EXPECT_EQ(echoed.outcomes(7), "unchanged");

  // The pages themselves: at most `limit` objects, about 2 MiB each, no object twice.
  v1::ListRequest request;
  request.set_kind("vm");
  request.set_limit(5);
  std::set<std::string> paged;
  int pages = 0;
  int64_t revision = -1;
  do {
    v1::ListResponse page;
    grpc::Status status = controller->List(deadline().get(), request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ++pages;
    EXPECT_LE(page.objects_size(), 5);
    size_t bytes = 0;
    for (const auto &object : page.objects()) {
      EXPECT_TRUE(paged.insert(object.name()).second) << object.name() << " twice";
      bytes += object.json().size();
    }
    EXPECT_LE(bytes, 2u * 1024 * 1024 + 600 * 1024);
    if (revision < 0) revision = page.resource_version();
    EXPECT_EQ(page.resource_version(), revision);
    request.set_continue_(page.continue_());
  } while (!request.continue_().empty() && pages < 100);
  EXPECT_TRUE(std::includes(paged.begin(), paged.end(), names.begin(), names.end()));
  EXPECT_GE(pages, 4);
  request.set_continue_("{not a token");
  v1::ListResponse refused;
  EXPECT_EQ(controller->List(deadline().get(), request, &refused).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  auto deleted = cluster_->halctl({"delete", "vm", "large-3"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_NE(deleted.out.find("deleted"), std::string::npos);
}

TEST_F(Bounds, BytesThatAreNotUtf8AreRefusedByDocumentAndLineFromAnyClient) {
  const std::string good = vm_yaml("first");
  struct Case {
    std::string text;
    std::string where;
  };
  std::string utf16 = "\xFF\xFE";
  for (char c : std::string("kind: VirtualMachine\n")) utf16 += std::string{c, '\0'};
  const std::vector<Case> cases = {
      {utf16, "document 1 (line 1): invalid UTF-8 byte 0xFF at byte 0"},
      {"\xFF\xFE", "document 1 (line 1): invalid UTF-8 byte 0xFF"},
      {good + "---\nkind: VirtualMachine\nmetadata:\n  name: \"\xC0\xAF\"\n",
       "document 2 (line 21): invalid UTF-8 byte 0xC0"},
      {good + "---\n" + vm_yaml("third", "  labels:\n    note: \"\xED\xA0\x80\"\n"),
       "document 2 (line 24): invalid UTF-8 byte 0xED"},
  };
  auto controller = stub();
  for (const Case &c : cases) {
    auto r = apply("bad.yaml", c.text);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("(INVALID_ARGUMENT): " + c.where), std::string::npos) << r.err;
    auto validated = cluster_->halctl({"validate", "-f", cluster_->dir() + "/bad.yaml"});
    EXPECT_NE(validated.out.find(c.where), std::string::npos) << validated.out;
    // A client of its own, sending the bytes as they are.
    v1::ApplyRequest request;
    request.set_manifest(c.text);
    v1::ApplyResponse response;
    grpc::Status status = controller->Apply(deadline().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find(c.where), std::string::npos) << status.error_message();
  }
  EXPECT_TRUE(cluster_->get("vm", "first").is_null());
  EXPECT_EQ(cluster_->logs_tail(200000).find("libprotobuf"), std::string::npos);
}

TEST_F(Bounds, AVmMadeByADirectNodeAgentCallIsReportedOnItsNodeAndLeftRunning) {
  auto status = create_directly(*cluster_, "mock-a", "stray");
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::string message;
  EXPECT_TRUE(Cluster::wait_until(
      [&] { return !(message = node_condition(*cluster_, "mock-a", "OrphanVMs")).empty(); }, 10s))
      << cluster_->logs_tail();
  EXPECT_NE(message.find(": stray (left running"), std::string::npos) << message;
  auto described = cluster_->halctl({"describe", "node", "mock-a"});
  EXPECT_NE(described.out.find("OrphanVMs"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("not created by HAL"), std::string::npos) << described.out;
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(reports(*cluster_, "mock-a", "stray", true));
}

// A controller that deletes orphans 2 s after it finds them.
class BoundsOrphanGrace : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = start_cluster({{"mock-a", "mock"}}, {"--orphan-vm-grace-ms", "2000"});
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static Cluster *cluster_;
};

Cluster *BoundsOrphanGrace::cluster_ = nullptr;

TEST_F(BoundsOrphanGrace, AVmMadeByADirectNodeAgentCallIsDeletedAfterTheGracePeriod) {
  auto applied =
      cluster_->halctl({"apply", "-f", HAL_SOURCE_DIR "/examples/manifests/mock-vm.yaml"});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  ASSERT_TRUE(Cluster::wait_until(
      [&] { return reports(*cluster_, "mock-a", "default-mock-small", true); }, 20s));
  const auto created = std::chrono::steady_clock::now();
  auto status = create_directly(*cluster_, "mock-a", "stray");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(Cluster::wait_until(
      [&] {
        return node_condition(*cluster_, "mock-a", "OrphanVMs").find("deleted 2000 ms after") !=
               std::string::npos;
      },
      10s));
  EXPECT_TRUE(
      Cluster::wait_until([&] { return reports(*cluster_, "mock-a", "stray", false); }, 15s));
  const auto gone = std::chrono::steady_clock::now() - created;
  std::printf("orphan VM deleted %.1f s after it was created (grace 2 s)\n",
              std::chrono::duration<double>(gone).count());
  EXPECT_GE(gone, 2s);
  EXPECT_TRUE(Cluster::wait_until(
      [&] { return node_condition(*cluster_, "mock-a", "OrphanVMs").empty(); }, 10s));
  auto described = cluster_->halctl({"describe", "node", "mock-a"});
  EXPECT_NE(described.out.find("OrphanVMsDeleted"), std::string::npos) << described.out;
  // The controller's own VM stays.
  EXPECT_TRUE(reports(*cluster_, "mock-a", "default-mock-small", true));
}

// Two mock nodes whose outgoing migrations stall halfway, so a migration stays in progress until
// an agent is killed; heartbeats may be missed for a minute, so only the agents' connections can
// end it early.
class BoundsMigration : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<hal::testing::TempDir>("hal-bounds-pools-");
    const std::string pools = dir_->str() + "/nodepools.yaml";
    std::ofstream(pools) << "apiVersion: hal.dev/v1\nkind: NodePool\nmetadata:\n  name: mock\n"
                            "spec:\n  nodeSelector:\n    hal.dev/pool: mock\n  backend:\n"
                            "    plugin: mock\n    config:\n      faults:\n"
                            "        migration: stall\n";
    ClusterOptions options;
    options.nodes = {{"mock-a", "mock"}, {"mock-b", "mock"}};
    options.nodepools_file = pools;
    options.node_grace_ms = 60000;
    unsetenv("HALCONFIG");
    cluster_ = std::make_unique<Cluster>(
        Binaries{HAL_CONTROLLER_BIN, HAL_NODE_BIN, HALCTL_BIN, HAL_PLUGIN_PATH}, options);
  }
  std::string at(const std::string &kind, const std::string &name, const char *pointer) {
    const json object = cluster_->get(kind, name);
    return object.is_object() && object.contains(json::json_pointer(pointer))
               ? object.at(json::json_pointer(pointer)).get<std::string>()
               : "";
  }
  // Starts VM "mover" and a migration of it that stays in progress; returns (source, target).
  std::pair<std::string, std::string> start_stalled_migration() {
    std::string manifest = vm_yaml("mover");
    manifest.replace(manifest.find("runStrategy: Halted"), 19, "runStrategy: Always");
    manifest.insert(manifest.find("      domain:"), "      evictionStrategy: LiveMigrate\n");
    auto applied = cluster_->halctl({"apply", "-f", "-"}, 30s, manifest);
    EXPECT_EQ(applied.exit_code, 0) << applied.err;
    EXPECT_TRUE(
        Cluster::wait_until([&] { return at("vmi", "mover", "/status/phase") == "Running"; }, 30s));
    const std::string source = at("vmi", "mover", "/status/nodeName");
    auto migrated = cluster_->halctl({"migrate", "mover"});
    EXPECT_EQ(migrated.exit_code, 0) << migrated.err;
    const json migrations = json::parse(cluster_->halctl({"get", "vmim", "-o", "json"}).out);
    for (const json &m : migrations["items"]) migration_ = m["metadata"]["name"];
    EXPECT_TRUE(Cluster::wait_until(
        [&] { return at("vmim", migration_, "/status/phase") == "Running"; }, 20s));
    return {source, source == "mock-a" ? "mock-b" : "mock-a"};
  }
  // Waits until the migration failed; returns the seconds it took from `since`.
  double seconds_until_failed(std::chrono::steady_clock::time_point since) {
    EXPECT_TRUE(Cluster::wait_until(
        [&] { return at("vmim", migration_, "/status/phase") == "Failed"; }, 60s))
        << cluster_->logs_tail();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  }
  std::string failure() {
    const json vmim = cluster_->get("vmim", migration_);
    for (const json &c : vmim["status"].value("conditions", json::array()))
      if (c.value("type", "") == "Failed") return c.value("message", "");
    return "";
  }
  std::unique_ptr<hal::testing::TempDir> dir_;
  std::unique_ptr<Cluster> cluster_;
  std::string migration_;
};

TEST_F(BoundsMigration, AKilledSourceAgentEndsTheMigrationWithinSecondsAndLeavesNoTargetCopy) {
  const auto nodes = start_stalled_migration();
  const std::string source = nodes.first, target = nodes.second;
  ASSERT_TRUE(reports(*cluster_, target, "default-mover", true));  // the incoming copy
  const auto killed = std::chrono::steady_clock::now();
  cluster_->kill_node(source);
  const double took = seconds_until_failed(killed);
  std::printf("source agent killed: migration Failed after %.1f s (progress timeout 150 s)\n",
              took);
  EXPECT_LT(took, 10.0);
  EXPECT_NE(failure().find("the agent of source node " + source), std::string::npos) << failure();
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(reports(*cluster_, target, "default-mover", false)) << "a copy stays on " << target;
  // The source's agent comes back with its VM: the VMI carries on there.
  cluster_->start_node(source);
  EXPECT_TRUE(
      Cluster::wait_until([&] { return reports(*cluster_, source, "default-mover", true); }, 20s));
  EXPECT_EQ(at("vmi", "mover", "/status/nodeName"), source);
}

TEST_F(BoundsMigration, AKilledTargetAgentEndsTheMigrationAndItsCopyGoesWhenItIsBack) {
  const auto nodes = start_stalled_migration();
  const std::string source = nodes.first, target = nodes.second;
  const auto killed = std::chrono::steady_clock::now();
  cluster_->kill_node(target);
  const double took = seconds_until_failed(killed);
  std::printf("target agent killed: migration Failed after %.1f s: %s\n", took, failure().c_str());
  EXPECT_LT(took, 10.0);
  EXPECT_TRUE(reports(*cluster_, source, "default-mover", true));
  EXPECT_EQ(at("vmi", "mover", "/status/nodeName"), source);
  cluster_->start_node(target);  // with the incoming copy it had, if it kept one
  EXPECT_TRUE(
      Cluster::wait_until([&] { return reports(*cluster_, target, "default-mover", false); }, 20s));
}

}  // namespace
}  // namespace hal::e2e
