// tls_relay_test.cc - TlsRelay with a source relay and a target relay back to back on loopback:
// bytes go both ways and each end's close reaches the other; the target refuses a certificate
// of another CA and a subject outside peerSubjects (listening on for the right source); the
// source refuses a target whose certificate does not name the host it dials; unusable files
// are named.
#include "backends/common/tls_relay.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <string>

#include "controller/pki/pki.h"
#include "hal/plugin.hpp"
#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Role = TlsRelay::Role;

// A connected or listening unix stream socket, closed at the end.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd &&other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd &operator=(Fd &&other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_un unix_address(const fs::path &path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  return address;
}

Fd listen_unix(const fs::path &path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address = unix_address(path);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
  EXPECT_EQ(::listen(fd.get(), 4), 0);
  return fd;
}

Fd connect_unix(const std::string &url) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address = unix_address(url.substr(5));
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof address), 0)
      << url << ": " << std::strerror(errno);
  return fd;
}

void send_all(int fd, const std::string &data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    done += static_cast<size_t>(n);
  }
}

// Everything until end of stream (or error).
std::string read_all(int fd) {
  std::string data;
  char buffer[65536];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
    data.append(buffer, static_cast<size_t>(n));
  return data;
}

// Accepts one connection on `listener` within `timeout`; -1 when none came.
Fd accept_within(const Fd &listener, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  fd_set set;
  FD_ZERO(&set);
  FD_SET(listener.get(), &set);
  if (::select(listener.get() + 1, &set, nullptr, nullptr, &tv) <= 0) return Fd();
  return Fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
}

class TlsRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = pki::create_ca("hal-relay-ca", std::chrono::hours(1));
    // Another CA with the same name: a client picking its certificate by the CA's name would
    // present this one too.
    const pki::KeyAndCertificate other = pki::create_ca("hal-relay-ca", std::chrono::hours(1));
    write("target", ca_.certificate_pem, pki::issue(ca_, node("target")));
    write("source", ca_.certificate_pem, pki::issue(ca_, node("source")));
    write("user", ca_.certificate_pem, pki::issue(ca_, pki::user_request("alice", {})));
    write("rogue", ca_.certificate_pem + other.certificate_pem, pki::issue(other, node("source")));
    pki::CertificateRequest elsewhere = node("target");
    elsewhere.ip_addresses = {"10.9.9.9"};
    write("elsewhere", ca_.certificate_pem, pki::issue(ca_, elsewhere));
    receiver_path_ = dir_.path() / "receiver.sock";
    receiver_ = listen_unix(receiver_path_);
  }

  static pki::CertificateRequest node(const std::string &name) {
    pki::CertificateRequest request = pki::node_request(name);
    request.ip_addresses = {"127.0.0.1"};
    return request;
  }

  void write(const std::string &name, const std::string &ca, const pki::KeyAndCertificate &id) {
    pki::write_tls_creds_dir(dir_.path() / name, ca, id.certificate_pem, id.key_pem);
  }

  MigrationTlsParams params(const std::string &name, bool nodes_only = true) const {
    MigrationTlsParams p;
    p.dir = (dir_.path() / name).string();
    if (nodes_only) p.peer_subjects = {"O=system:nodes,CN=system:node:*"};
    return p;
  }

  std::unique_ptr<TlsRelay> target(const std::string &name = "target") {
    return std::make_unique<TlsRelay>(Role::kTarget, params(name), "tcp:127.0.0.1:0",
                                      "unix:" + receiver_path_.string());
  }

  hal::testing::TempDir dir_{"hal-relay-"};
  pki::KeyAndCertificate ca_;
  fs::path receiver_path_;
  Fd receiver_;
};

TEST_F(TlsRelayTest, CarriesBothDirectionsAndTheirEnds) {
  auto to = target();
  ASSERT_TRUE(to->listen_url().starts_with("tcp:127.0.0.1:")) << to->listen_url();
  TlsRelay from(Role::kSource, params("source"), "unix:", to->listen_url());
  ASSERT_TRUE(from.listen_url().starts_with("unix:/")) << from.listen_url();
  // The plain listener sits in a directory of its own that only this user may enter.
  EXPECT_EQ(fs::status(fs::path(from.listen_url().substr(5)).parent_path()).permissions(),
            fs::perms::owner_all);
  EXPECT_TRUE(to->wait_finished(0ms));  // nothing relayed yet

  Fd vmm = connect_unix(from.listen_url());
  std::string stream(3 << 20, '\0');
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<char>(i * 7 + i / 4096);
  auto sent = std::async(std::launch::async, [&] {
    send_all(vmm.get(), stream);
    ::shutdown(vmm.get(), SHUT_WR);  // the source VMM is done sending
  });
  Fd received = accept_within(receiver_, 10s);
  ASSERT_GE(received.get(), 0) << "target: " << to->error() << " source: " << from.error();
  EXPECT_EQ(read_all(received.get()), stream);  // ends: the source's close came through
  sent.get();
  send_all(received.get(), "ack");
  ::shutdown(received.get(), SHUT_WR);
  EXPECT_EQ(read_all(vmm.get()), "ack");  // and the target's close came back
  EXPECT_TRUE(from.wait_finished(10s));
  EXPECT_TRUE(to->wait_finished(10s));
  EXPECT_EQ(from.error(), "");
  EXPECT_EQ(to->error(), "");
}

TEST_F(TlsRelayTest, TargetRefusesAnotherCaAndOtherSubjectsAndWaitsForANode) {
  auto to = target();
  for (const char *who : {"rogue", "user"}) {
    SCOPED_TRACE(who);
    TlsRelay from(Role::kSource, params(who), "unix:", to->listen_url());
    Fd vmm = connect_unix(from.listen_url());
    EXPECT_EQ(read_all(vmm.get()), "");  // dropped
    EXPECT_TRUE(from.wait_finished(10s));
    EXPECT_LT(accept_within(receiver_, 200ms).get(), 0) << "the receiver got a connection";
    const std::string refusal = to->error();
    if (std::string(who) == "rogue") {
      EXPECT_NE(refusal.find("certificate verify failed"), std::string::npos) << refusal;
    } else {
      EXPECT_NE(refusal.find("certificate subject CN=alice matches no peerSubjects pattern"),
                std::string::npos)
          << refusal;
    }
    EXPECT_NE(from.error(), "");
  }
  // Still listening: the node's connection goes through.
  TlsRelay from(Role::kSource, params("source"), "unix:", to->listen_url());
  Fd vmm = connect_unix(from.listen_url());
  send_all(vmm.get(), "QEVM");
  Fd received = accept_within(receiver_, 10s);
  ASSERT_GE(received.get(), 0) << to->error();
  char head[4];
  ASSERT_EQ(::recv(received.get(), head, 4, MSG_WAITALL), 4);
  EXPECT_EQ(std::string(head, 4), "QEVM");
}

TEST_F(TlsRelayTest, SourceRefusesATargetNotNamedAsDialled) {
  auto to = target("elsewhere");  // its certificate names 10.9.9.9, not 127.0.0.1
  TlsRelay from(Role::kSource, params("source"), "unix:", to->listen_url());
  Fd vmm = connect_unix(from.listen_url());
  EXPECT_EQ(read_all(vmm.get()), "");
  EXPECT_TRUE(from.wait_finished(10s));
  EXPECT_NE(from.error().find("certificate verify failed"), std::string::npos) << from.error();
  EXPECT_NE(from.error().find("IP address mismatch"), std::string::npos) << from.error();
  EXPECT_LT(accept_within(receiver_, 200ms).get(), 0);

  // tls.hostname names what the certificate must carry instead of the dialled host.
  MigrationTlsParams named = params("source");
  named.hostname = "10.9.9.9";
  auto again = target("elsewhere");
  TlsRelay ok(Role::kSource, named, "unix:", again->listen_url());
  Fd vmm2 = connect_unix(ok.listen_url());
  send_all(vmm2.get(), "x");
  EXPECT_GE(accept_within(receiver_, 10s).get(), 0) << ok.error();
}

TEST_F(TlsRelayTest, UnusableFilesAreNamed) {
  fs::remove(dir_.path() / "source" / "client-key.pem");
  try {
    TlsRelay relay(Role::kSource, params("source"), "unix:", "tcp:127.0.0.1:1");
    ADD_FAILURE() << "a missing key was accepted";
  } catch (const hal::plugin::Failure &f) {
    EXPECT_EQ(f.status, HAL_INVALID_ARGUMENT);
    EXPECT_NE(std::string(f.what()).find("client-key.pem"), std::string::npos) << f.what();
  }
  // A key that is not the certificate's.
  fs::copy_file(dir_.path() / "user" / "client-key.pem", dir_.path() / "source" / "client-key.pem");
  EXPECT_THROW(TlsRelay(Role::kSource, params("source"), "unix:", "tcp:127.0.0.1:1"),
               hal::plugin::Failure);
}

}  // namespace
}  // namespace hal::backend_common
