// cluster.cc - starting, restarting and stopping a single-machine HAL installation for tests.
#include "controller/e2e/cluster.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "controller/pki/pki.h"

namespace hal::e2e {
namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::RunResult;

namespace {

std::string read_file(const fs::path &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail(const std::string &text, size_t bytes) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

}  // namespace

Cluster::Cluster(Binaries binaries, ClusterOptions options)
    : bin_(std::move(binaries)), options_(std::move(options)) {
  testing::become_subreaper();
  char tmpl[] = "/tmp/hal-e2e-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  make_pki();
  start_controller();
  auto applied = halctl({"apply", "-f", options_.nodepools_file});
  if (applied.exit_code != 0)
    throw std::runtime_error("applying node pools failed: " + applied.out + applied.err);
  for (const auto &node : options_.nodes) start_node(node.name);
  if (!all_nodes_ready(std::chrono::seconds(30)))
    throw std::runtime_error("nodes did not become Ready:\n" + logs_tail());
}

Cluster::~Cluster() {
  for (auto &[name, node] : nodes_) node.reset();
  controller_.reset();
  // QEMU processes the agents started (ours, by their pidfiles), also those of killed agents.
  testing::stop_pidfiles_under(dir_, "qemu.pid", "qemu-system");
  std::error_code ec;
  if (!std::getenv("HAL_E2E_KEEP")) fs::remove_all(dir_, ec);
}

int Cluster::bound_port(ChildProcess &process, const std::string &marker) {
  auto match = process.wait_for_output(std::regex(marker + R"(127\.0\.0\.1:(\d+))"),
                                       std::chrono::seconds(20));
  if (!match) throw std::runtime_error("no '" + marker + "' line:\n" + logs_tail());
  return std::stoi((*match)[1].str());
}

void Cluster::make_pki() {
  const fs::path pki = pki_dir();
  fs::create_directories(pki);
  pki::KeyAndCertificate ca = pki::create_ca("hal-e2e-ca", std::chrono::hours(24));
  auto save = [&](const std::string &base, const pki::KeyAndCertificate &pair) {
    pki::write_private_file(pki / (base + ".crt"), pair.certificate_pem);
    pki::write_private_file(pki / (base + ".key"), pair.key_pem);
  };
  save("ca", ca);
  auto serving = [](pki::CertificateRequest request) {
    request.dns_names = {"localhost"};
    request.ip_addresses = {"127.0.0.1"};
    return request;
  };
  save("controller", pki::issue(ca, serving(pki::controller_request())));
  for (const auto &node : options_.nodes)
    save("node-" + node.name, pki::issue(ca, serving(pki::node_request(node.name))));
  save("user-admin", pki::issue(ca, pki::user_request("admin", {"system:admins"})));
  std::ofstream config(halconfig());
  if (options_.insecure) {
    config << "clusters:\n- name: e2e\n  cluster: {server: 127.0.0.1:1, insecure: true}\n"
           << "contexts:\n- name: e2e\n  context: {cluster: e2e}\ncurrent-context: e2e\n";
    return;
  }
  config << "clusters:\n- name: e2e\n  cluster:\n    server: 127.0.0.1:1\n"
         << "    certificate-authority: " << (pki / "ca.crt").string() << "\n"
         << "users:\n- name: admin\n  user:\n    client-certificate: "
         << (pki / "user-admin.crt").string()
         << "\n    client-key: " << (pki / "user-admin.key").string() << "\n"
         << "contexts:\n- name: admin@e2e\n  context: {cluster: e2e, user: admin}\n"
         << "current-context: admin@e2e\n";
}

tls::TlsOptions Cluster::issue_user(const std::string &user,
                                    const std::vector<std::string> &groups) {
  const fs::path pki = pki_dir();
  const pki::KeyAndCertificate ca{pki::read_file(pki / "ca.crt", "CA"),
                                  pki::read_file(pki / "ca.key", "CA key")};
  const pki::KeyAndCertificate pair = pki::issue(ca, pki::user_request(user, groups));
  pki::write_private_file(pki / ("user-" + user + ".crt"), pair.certificate_pem);
  pki::write_private_file(pki / ("user-" + user + ".key"), pair.key_pem);
  return tls::TlsOptions{(pki / "ca.crt").string(), (pki / ("user-" + user + ".crt")).string(),
                         (pki / ("user-" + user + ".key")).string(), false};
}

std::vector<std::string> Cluster::tls_flags(const std::string &base) const {
  if (options_.insecure) return {"--insecure"};
  return {"--tls-ca",   pki_dir() + "/ca.crt",
          "--tls-cert", pki_dir() + "/" + base + ".crt",
          "--tls-key",  pki_dir() + "/" + base + ".key"};
}

std::string Cluster::node_address(const std::string &name) const {
  auto port = node_ports_.find(name);
  return port == node_ports_.end() ? "" : "127.0.0.1:" + std::to_string(port->second);
}

void Cluster::start_controller() {
  // The first start binds port 0 and reads the port back (a port probed free and released could
  // be taken by a parallel test before the controller binds it); restarts keep that port.
  const bool first = address_.empty();
  std::vector<std::string> argv = {
      bin_.controller,
      "--listen",
      first ? "127.0.0.1:0" : address_,
      "--store",
      options_.store.empty() ? "sqlite:" + dir_ + "/controller.db" : options_.store,
      "--heartbeat-interval-ms",
      std::to_string(options_.heartbeat_ms),
      "--node-grace-ms",
      std::to_string(options_.node_grace_ms)};
  if (!options_.test_guest_dir.empty())
    argv.insert(argv.end(), {"--image", "hal/test-guest=" + options_.test_guest_dir});
  for (const std::string &flag : tls_flags("controller")) argv.push_back(flag);
  argv.insert(argv.end(), options_.controller_flags.begin(), options_.controller_flags.end());
  if (options_.bootstrap)
    argv.insert(argv.end(),
                {"--bootstrap-listen", "127.0.0.1:0", "--tls-ca-key", pki_dir() + "/ca.key"});
  controller_ = std::make_unique<ChildProcess>(argv, dir_ + "/controller.log");
  if (options_.bootstrap)
    bootstrap_address_ =
        "127.0.0.1:" + std::to_string(bound_port(*controller_, "NodeBootstrap \\(joins\\) on "));
  if (first) address_ = "127.0.0.1:" + std::to_string(bound_port(*controller_, "listening on "));
  bool up = wait_until(
      [&] {
        return controller_->running() &&
               halctl({"get", "nodes"}, std::chrono::seconds(5)).exit_code == 0;
      },
      std::chrono::seconds(20));
  if (!up) throw std::runtime_error("hal-controller did not come up:\n" + logs_tail());
}

void Cluster::start_node(const std::string &name) {
  const NodeSpec *spec = nullptr;
  for (const auto &n : options_.nodes)
    if (n.name == name) spec = &n;
  if (!spec) throw std::runtime_error("unknown node " + name);
  fs::create_directories(dir_ + "/nodes/" + name);
  // As for the controller: port 0 the first time, the same port on every restart.
  auto port = node_ports_.find(name);
  const int listen_port = port == node_ports_.end() ? 0 : port->second;
  std::vector<std::string> argv = {bin_.node,
                                   "--name",
                                   name,
                                   "--pool",
                                   spec->pool,
                                   "--pool-file",
                                   options_.nodepools_file,
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(listen_port),
                                   "--controller",
                                   address_,
                                   "--state-dir",
                                   dir_ + "/nodes/" + name,
                                   "--plugin-path",
                                   bin_.plugin_path,
                                   "--heartbeat-interval-ms",
                                   std::to_string(options_.heartbeat_ms),
                                   "--guest-silence-timeout",
                                   std::to_string(options_.guest_silence_s)};
  for (const std::string &flag : tls_flags("node-" + name)) argv.push_back(flag);
  if (!options_.test_guest_dir.empty())  // the guest's kernel and initrd live there
    argv.insert(argv.end(), {"--host-path-root", options_.test_guest_dir});
  nodes_[name].reset();
  nodes_[name] = std::make_unique<ChildProcess>(argv, dir_ + "/node-" + name + ".log");
  if (listen_port == 0) node_ports_[name] = bound_port(*nodes_[name], "hal-node: listening on ");
}

void Cluster::restart_controller(bool hard) {
  if (hard)
    controller_->kill_hard();
  else
    controller_->stop();
  start_controller();
  if (!all_nodes_ready(std::chrono::seconds(30)))
    throw std::runtime_error("nodes did not re-register:\n" + logs_tail());
}

void Cluster::kill_node(const std::string &name) {
  nodes_.at(name)->kill_hard();
}

bool Cluster::node_running(const std::string &name) {
  auto it = nodes_.find(name);
  return it != nodes_.end() && it->second && it->second->running();
}

int Cluster::node_pid(const std::string &name) const {
  auto it = nodes_.find(name);
  return it != nodes_.end() && it->second ? it->second->pid() : -1;
}

bool Cluster::all_nodes_ready(std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        auto listed = halctl({"get", "nodes", "-o", "json"}, std::chrono::seconds(10));
        auto doc = nlohmann::json::parse(listed.out, nullptr, false);
        if (listed.exit_code != 0 || doc.is_discarded()) return false;
        const auto &items = doc.is_array() ? doc : doc.value("items", nlohmann::json::array());
        std::set<std::string> ready;
        for (const auto &node : items)
          for (const auto &c : node["status"].value("conditions", nlohmann::json::array()))
            if (c.value("type", "") == "Ready" && c.value("status", "") == "True")
              ready.insert(node["metadata"].value("name", ""));
        for (const auto &n : options_.nodes)
          if (node_running(n.name) && !ready.count(n.name)) return false;
        return true;
      },
      timeout);
}

RunResult Cluster::halctl(const std::vector<std::string> &args, std::chrono::milliseconds timeout,
                          const std::string &input) {
  std::vector<std::string> argv = {bin_.halctl, "--config", halconfig(), "--server", address_};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_to_completion(argv, timeout, input);
}

nlohmann::json Cluster::get(const std::string &kind, const std::string &name) {
  auto result = halctl({"get", kind, name, "-o", "json"}, std::chrono::seconds(10));
  if (result.exit_code != 0) return nullptr;
  return nlohmann::json::parse(result.out, nullptr, false);
}

bool Cluster::wait_until(const std::function<bool()> &condition,
                         std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string Cluster::qemu_vm_dir(const std::string &node, const std::string &vm_id) const {
  return dir_ + "/nodes/" + node + "/kvm-qemu/" + vm_id;
}

std::string Cluster::console_log(const std::string &node, const std::string &vm_id) const {
  return read_file(qemu_vm_dir(node, vm_id) + "/console.log");
}

int Cluster::qemu_pid(const std::string &node, const std::string &vm_id) const {
  std::ifstream in(qemu_vm_dir(node, vm_id) + "/qemu.pid");
  int pid = -1;
  in >> pid;
  return pid;
}

std::string Cluster::logs_tail(size_t bytes) const {
  std::string out;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".log") continue;
    out += "---- " + entry.path().filename().string() + "\n" +
           tail(read_file(entry.path()), bytes) + "\n";
  }
  return out;
}

std::pair<long, std::string> last_heartbeat(const std::string &console) {
  static const std::regex beat(
      R"(HAL-GUEST: heartbeat (\d+) boot_id=([0-9a-f]+)(?: uptime_ms=\d+)?[\r\n])");
  std::pair<long, std::string> last{-1, ""};
  for (auto it = std::sregex_iterator(console.begin(), console.end(), beat);
       it != std::sregex_iterator(); ++it)
    last = {std::stol((*it)[1]), (*it)[2]};
  return last;
}

}  // namespace hal::e2e
