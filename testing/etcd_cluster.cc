// etcd_cluster.cc - etcd members on loopback (see etcd_cluster.h).
#include "testing/etcd_cluster.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace hal::testing {
namespace {

// A loopback TCP port free right now (bound to port 0, read back, closed).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// True when `file` exists and is executable.
bool executable(const std::string &file) {
  return ::access(file.c_str(), X_OK) == 0;
}

// The last `bytes` of `file`.
std::string tail_of(const std::string &file, size_t bytes) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

}  // namespace

std::optional<std::string> EtcdCluster::binary() {
  if (const char *path = std::getenv("HAL_ETCD"); path != nullptr && executable(path)) return path;
  const char *path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && executable(dir + "/etcd")) return dir + "/etcd";
  }
  return std::nullopt;
}

EtcdCluster::EtcdCluster(EtcdClusterOptions options) : options_(std::move(options)) {
  auto found = binary();
  if (!found) throw std::runtime_error("etcd is not installed (Debian package etcd-server)");
  binary_ = *found;
  token_ = "hal-test-" + std::to_string(::getpid()) + "-" + dir_.path().filename().string();
  members_.resize(static_cast<size_t>(options_.members));
  for (Member &member : members_) {
    member.client_port = free_port();
    member.peer_port = free_port();
  }
  for (int i = 0; i < options_.members; ++i) {
    members_[static_cast<size_t>(i)].process = std::make_unique<ChildProcess>(
        argv(i, true), output_to(dir_.path() / ("m" + std::to_string(i) + ".log")));
  }
  // Members of a new cluster serve clients once a leader has published them: wait for all.
  for (int i = 0; i < options_.members; ++i) {
    if (!members_[static_cast<size_t>(i)].process->wait_for_output(
            std::regex("serving client traffic"), options_.startup_timeout))
      throw std::runtime_error("etcd member " + std::to_string(i) + " did not start within " +
                               std::to_string(options_.startup_timeout.count()) + " ms:\n" +
                               logs_tail());
  }
}

EtcdCluster::~EtcdCluster() {
  for (Member &member : members_) {
    if (member.process) member.process->kill_hard();
    member.process.reset();
  }
}

std::vector<std::string> EtcdCluster::argv(int i, bool first) const {
  const Member &member = members_[static_cast<size_t>(i)];
  const std::string name = "m" + std::to_string(i);
  const bool tls = !options_.cert_file.empty();
  const std::string client_url =
      std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(member.client_port);
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(member.peer_port);
  std::string cluster;
  for (size_t m = 0; m < members_.size(); ++m) {
    cluster += (m == 0 ? "" : ",") + std::string("m") + std::to_string(m) +
               "=http://127.0.0.1:" + std::to_string(members_[m].peer_port);
  }
  std::vector<std::string> args = {binary_,
                                   "--name",
                                   name,
                                   "--data-dir",
                                   (dir_.path() / name).string(),
                                   "--listen-client-urls",
                                   client_url,
                                   "--advertise-client-urls",
                                   client_url,
                                   "--listen-peer-urls",
                                   peer_url,
                                   "--initial-advertise-peer-urls",
                                   peer_url,
                                   "--initial-cluster",
                                   cluster,
                                   "--initial-cluster-token",
                                   token_,
                                   "--initial-cluster-state",
                                   first ? "new" : "existing",
                                   "--heartbeat-interval",
                                   "50",
                                   "--election-timeout",
                                   "500",
                                   "--logger",
                                   "zap",
                                   "--log-outputs",
                                   "stderr"};
  if (tls) {
    args.insert(args.end(), {"--cert-file", options_.cert_file, "--key-file", options_.key_file,
                             "--trusted-ca-file", options_.client_ca_file, "--client-cert-auth"});
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  return args;
}

std::string EtcdCluster::endpoint(int i) const {
  return "127.0.0.1:" + std::to_string(members_.at(static_cast<size_t>(i)).client_port);
}

std::string EtcdCluster::endpoints() const {
  std::string out;
  for (int i = 0; i < static_cast<int>(members_.size()); ++i)
    out += (i == 0 ? "" : ",") + endpoint(i);
  return out;
}

std::string EtcdCluster::url(const std::string &suffix) const {
  return "etcd://" + endpoints() + suffix;
}

int EtcdCluster::pid(int i) const {
  const Member &member = members_.at(static_cast<size_t>(i));
  return member.process ? member.process->pid() : -1;
}

void EtcdCluster::kill(int i) {
  Member &member = members_.at(static_cast<size_t>(i));
  if (member.process) member.process->kill_hard();
  member.process.reset();
}

void EtcdCluster::start(int i) {
  Member &member = members_.at(static_cast<size_t>(i));
  if (member.process) return;
  member.process = std::make_unique<ChildProcess>(
      argv(i, false), output_to(dir_.path() / ("m" + std::to_string(i) + ".log")));
  if (!member.process->wait_for_output(std::regex("serving client traffic"),
                                       options_.startup_timeout))
    throw std::runtime_error("etcd member " + std::to_string(i) + " did not restart within " +
                             std::to_string(options_.startup_timeout.count()) + " ms:\n" +
                             logs_tail());
}

std::string EtcdCluster::logs_tail(size_t bytes) const {
  std::string out;
  for (size_t i = 0; i < members_.size(); ++i) {
    out += "--- etcd m" + std::to_string(i) + "\n" +
           tail_of((dir_.path() / ("m" + std::to_string(i) + ".log")).string(), bytes);
  }
  return out;
}

}  // namespace hal::testing
