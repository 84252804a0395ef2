// bootstrap_join.cc - certificate request and NodeBootstrap/Join (see bootstrap_join.h).
#include "controller/node/bootstrap_join.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <stdexcept>

#include "controller/node/advertised_address.h"
#include "controller/pki/bootstrap_token.h"
#include "core/log/log.h"
#include "hal/v1/bootstrap.grpc.pb.h"

namespace hal::node {
namespace {

// "host" of "host:port" or "[v6]:port".
std::string host_of(const std::string &address) {
  if (!address.empty() && address.front() == '[') return address.substr(1, address.find(']') - 1);
  return address.substr(0, address.rfind(':'));
}

bool is_ip(const std::string &host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

void join_if_needed(const NodeAgentOptions &options) {
  if (options.bootstrap_token.empty()) return;
  namespace fs = std::filesystem;
  if (fs::exists(options.tls.cert_file) && fs::exists(options.tls.key_file)) {
    hal::log("node")->info("node {}: {} exists; not joining again", options.node_name,
                           options.tls.cert_file);
    return;
  }
  if (options.bootstrap_server.empty())
    throw std::runtime_error("--bootstrap-token needs --bootstrap-server HOST:PORT");
  pki::KeyAndRequest request =
      pki::make_certificate_request(std::string(pki::kNodeUserPrefix) + options.node_name);
  v1::JoinRequest join;
  join.set_node_name(options.node_name);
  join.set_token(options.bootstrap_token);
  join.set_csr_pem(request.csr_pem);
  const std::string host = host_of(advertised_address(options.listen, options.advertise, 1));
  if (is_ip(host))
    join.add_ip_addresses(host);
  else
    join.add_dns_names(host);

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki::read_file(options.tls.ca_file, "CA certificate");
  auto stub = v1::NodeBootstrap::NewStub(
      grpc::CreateChannel(options.bootstrap_server, grpc::SslCredentials(ssl)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  context.set_wait_for_ready(true);
  v1::JoinResponse response;
  grpc::Status status = stub->Join(&context, join, &response);
  if (!status.ok())
    throw std::runtime_error("joining through " + options.bootstrap_server +
                             " failed: " + status.error_message());
  pki::write_private_file(options.tls.key_file, request.key_pem);
  pki::write_private_file(options.tls.cert_file, response.certificate_pem());
  hal::log("node")->info("node {}: joined through {}; certificate {} (names {})", options.node_name,
                         options.bootstrap_server, options.tls.cert_file, host);
}

}  // namespace hal::node
