// main.cc - hal-pki: creates and uses HAL's cluster CA (pki.h). `init` makes the CA; `controller`,
// `node NAME` and `user NAME --group G` issue certificates signed by it; `show FILE` prints a
// certificate's identity and validity; `token NAME` prints a short-lived bootstrap token for
// node NAME. Keys and certificates are written 0600 under --dir.
#include <CLI/CLI.hpp>
#include <iostream>

#include "controller/pki/bootstrap_token.h"
#include "controller/pki/certificate.h"
#include "controller/pki/pki.h"

namespace {

using namespace hal::pki;

// Validity and output options shared by the issuing subcommands.
struct IssueOptions {
  int64_t days = 365;
  int64_t seconds = 0;  // Overrides days when set.
  int64_t backdate_seconds = 300;
  std::string out;  // File base name (without .crt/.key).
  std::vector<std::string> dns, ips;
};

void add_issue_options(CLI::App *command, IssueOptions &options, bool serving) {
  command->add_option("--days", options.days, "Validity in days")->capture_default_str();
  command->add_option("--seconds", options.seconds, "Validity in seconds (overrides --days)");
  command
      ->add_option("--backdate-seconds", options.backdate_seconds,
                   "notBefore this long before now (clock skew; more than the validity makes "
                   "an expired certificate, for tests)")
      ->capture_default_str();
  command->add_option("--out", options.out, "Output base name in --dir (NAME.crt, NAME.key)");
  if (serving) {
    command->add_option("--dns", options.dns,
                        "subjectAltName DNS name (repeatable; default localhost)");
    command->add_option("--ip", options.ips,
                        "subjectAltName IP address (repeatable; default 127.0.0.1 and ::1)");
  }
}

void apply(const IssueOptions &options, CertificateRequest &request) {
  request.validity = options.seconds > 0 ? std::chrono::seconds(options.seconds)
                                         : std::chrono::seconds(options.days * 86400);
  request.backdate = std::chrono::seconds(options.backdate_seconds);
  request.dns_names = options.dns;
  request.ip_addresses = options.ips;
  if (request.server_auth && options.dns.empty() && options.ips.empty()) {
    request.dns_names = {"localhost"};
    request.ip_addresses = {"127.0.0.1", "::1"};
  }
}

KeyAndCertificate load_ca(const std::filesystem::path &dir) {
  return {read_file(dir / "ca.crt", "CA certificate"), read_file(dir / "ca.key", "CA key")};
}

void write_pair(const std::filesystem::path &dir, const std::string &base,
                const KeyAndCertificate &pair, bool overwrite) {
  write_private_file(dir / (base + ".key"), pair.key_pem, overwrite);
  write_private_file(dir / (base + ".crt"), pair.certificate_pem, overwrite);
  std::cout << "wrote " << (dir / (base + ".crt")).string() << " and "
            << (dir / (base + ".key")).string() << "\n";
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"hal-pki: HAL's cluster CA and the certificates it signs"};
  app.require_subcommand(1);
  std::filesystem::path dir = ".";
  app.add_option("--dir", dir, "Directory holding ca.crt/ca.key and the issued files")
      ->capture_default_str();

  std::string ca_name = "hal-cluster-ca";
  int64_t ca_days = 3650;
  bool force = false;
  CLI::App *init = app.add_subcommand("init", "Create the cluster CA (ca.crt, ca.key)");
  init->add_option("--name", ca_name, "CA common name")->capture_default_str();
  init->add_option("--days", ca_days, "Validity in days")->capture_default_str();
  init->add_flag("--force", force, "Replace an existing CA (every issued certificate dies)");

  IssueOptions controller_options;
  CLI::App *controller = app.add_subcommand(
      "controller", "Issue the controller's certificate (CN=system:controller, serving + client)");
  add_issue_options(controller, controller_options, true);

  std::string node_name;
  IssueOptions node_options;
  CLI::App *node = app.add_subcommand(
      "node", "Issue node NAME's certificate (CN=system:node:NAME, O=system:nodes)");
  node->add_option("NAME", node_name, "Node name")->required();
  add_issue_options(node, node_options, true);

  std::string user_name;
  std::vector<std::string> groups;
  IssueOptions user_options;
  CLI::App *user = app.add_subcommand("user", "Issue a client certificate (CN=user, O=groups)");
  user->add_option("NAME", user_name, "User name")->required();
  user->add_option("--group", groups, "Group (repeatable)");
  add_issue_options(user, user_options, false);

  std::string token_node;
  int64_t token_seconds = 1800;
  CLI::App *token = app.add_subcommand(
      "token",
      "Print a bootstrap token with which node NAME may join (hal-node --bootstrap-token)");
  token->add_option("NAME", token_node, "Node name")->required();
  token->add_option("--ttl-seconds", token_seconds, "How long the token is good for")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  std::string show_file;
  CLI::App *show = app.add_subcommand("show", "Print a certificate's identity and validity");
  show->add_option("FILE", show_file, "PEM certificate")->required();

  CLI11_PARSE(app, argc, argv);
  try {
    if (init->parsed()) {
      std::filesystem::create_directories(dir);
      KeyAndCertificate ca = create_ca(ca_name, std::chrono::seconds(ca_days * 86400));
      write_pair(dir, "ca", ca, force);
    } else if (controller->parsed()) {
      CertificateRequest request = controller_request();
      apply(controller_options, request);
      write_pair(dir, controller_options.out.empty() ? "controller" : controller_options.out,
                 issue(load_ca(dir), request), true);
    } else if (node->parsed()) {
      CertificateRequest request = node_request(node_name);
      apply(node_options, request);
      write_pair(dir, node_options.out.empty() ? "node-" + node_name : node_options.out,
                 issue(load_ca(dir), request), true);
    } else if (user->parsed()) {
      CertificateRequest request = user_request(user_name, groups);
      apply(user_options, request);
      write_pair(dir, user_options.out.empty() ? "user-" + user_name : user_options.out,
                 issue(load_ca(dir), request), true);
    } else if (token->parsed()) {
      std::cout << mint_bootstrap_token(
                       read_file(dir / "ca.key", "CA key"), token_node,
                       std::chrono::system_clock::now() + std::chrono::seconds(token_seconds))
                << "\n";
    } else if (show->parsed()) {
      CertificateInfo info = inspect_certificate(read_file(show_file, "certificate"));
      std::cout << "subject:    " << info.subject << "\nissuer:     " << info.issuer
                << "\nnot before: " << format_utc(info.not_before)
                << "\nnot after:  " << format_utc(info.not_after) << "\n";
    }
  } catch (const std::exception &e) {
    std::cerr << "hal-pki: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
