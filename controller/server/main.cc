// main.cc - hal-controller: serves the Controller API and the NodeRegistry on one port over an
// embedded SQLite (or in-memory) store or an etcd cluster (--store etcd://..., --etcd-* for its
// TLS), with mutual TLS (--tls-*) and RBAC unless told --insecure, and an audit log of the API's
// changes (--audit-log); stops cleanly on SIGTERM/SIGINT. --import-store URL copies another
// store's objects into --store and exits (moving to etcd).
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "controller/proto/grpc_runtime.h"
#include "controller/server/bootstrap_server.h"
#include "controller/server/controller_server.h"
#include "controller/store/copy_store.h"
#include "controller/tls/tls_options.h"
#include "core/log/log.h"

int main(int argc, char **argv) {
  hal::wire::tune_grpc_runtime();
  using namespace hal::controller;
  CLI::App app{"hal-controller: KubeVirt-style VM controller for HAL node pools"};
  ControllerServerOptions options;
  int heartbeat_ms = 1000, grace_ms = 10000, backoff_ms = 10000, retry_ms = 100;
  app.add_option("--listen", options.listen,
                 "host:port to serve Controller and NodeRegistry (0 = pick)")
      ->capture_default_str();
  app.add_option("--store", options.store,
                 "sqlite:PATH (embedded, one controller host), memory, or "
                 "etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (an etcd cluster, failing over "
                 "between its members; objects under /PREFIX/, default /hal/)")
      ->capture_default_str();
  app.add_option("--etcd-ca", options.store_options.etcd_ca_file,
                 "PEM CA of the etcd members' serving certificates (TLS to etcd)");
  app.add_option("--etcd-cert", options.store_options.etcd_cert_file,
                 "PEM client certificate for etcd's --client-cert-auth (with --etcd-key)");
  app.add_option("--etcd-key", options.store_options.etcd_key_file, "private key of --etcd-cert");
  std::string import_from;
  app.add_option("--import-store", import_from,
                 "copy every object of this store (e.g. sqlite:PATH) into --store, which must "
                 "be empty, and exit");
  app.add_option("--image", options.images, "image catalogue entry NAME=DIR (repeatable)");
  app.add_option("--heartbeat-interval-ms", heartbeat_ms, "node heartbeat interval")
      ->capture_default_str();
  app.add_option("--node-grace-ms", grace_ms, "missed heartbeats for this long -> node NotReady")
      ->capture_default_str();
  app.add_option("--backoff-base-ms", backoff_ms, "CrashLoopBackOff base delay")
      ->capture_default_str();
  app.add_option("--retry-base-ms", retry_ms, "work queue retry back-off base")
      ->capture_default_str();
  app.add_option("--workers", options.controller.workers, "concurrent reconciles")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_option("--calls-per-node", options.controller.calls_per_node,
                 "reconcile workers one node's calls may hold at once (at most workers - 1)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  app.add_option("--audit-log", options.audit_log,
                 "file (mode 0600) each mutating API call is appended to as one JSON line "
                 "(default: audit.log next to the sqlite store; none with --store memory or etcd)");
  ObjectLimits &limits = options.controller.limits;
  app.add_option("--max-object-bytes", limits.object_bytes,
                 "largest object (JSON) an apply may store; etcd's default request limit")
      ->check(CLI::Range(std::size_t{4096}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-annotations-bytes", limits.annotations_bytes,
                 "annotations of one object in total (keys and values); Kubernetes' limit")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-manifest-bytes", limits.manifest_bytes,
                 "largest manifest one apply takes (checked before it is parsed)")
      ->check(CLI::Range(std::size_t{4096}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-list-page-bytes", limits.list_page_bytes,
                 "objects in one List page (and echoed by Apply and Delete) at most")
      ->check(CLI::Range(std::size_t{4096}, std::size_t{1} << 30))
      ->capture_default_str();
  int64_t orphan_grace_ms = -1;
  app.add_option("--orphan-vm-grace-ms", orphan_grace_ms,
                 "delete a VM that no object owns this long after it is found on a node; "
                 "-1: only report it (Warning event, the Node's OrphanVMs condition)")
      ->check(CLI::Range(int64_t{-1}, int64_t{365} * 24 * 3600 * 1000))
      ->capture_default_str();
  hal::tls::add_tls_flags(app, options.tls);
  BootstrapOptions bootstrap;
  app.add_option("--bootstrap-listen", bootstrap.listen,
                 "host:port where nodes without a certificate join with a bootstrap token "
                 "(hal-pki token NAME); needs --tls-ca-key");
  app.add_option("--tls-ca-key", bootstrap.ca_key_file,
                 "The cluster CA's private key, to sign joining nodes' certificates");
  CLI11_PARSE(app, argc, argv);
  if (options.store_options.etcd_cert_file.empty() != options.store_options.etcd_key_file.empty()) {
    std::cerr << "hal-controller: --etcd-cert and --etcd-key go together" << std::endl;
    return 2;
  }
  if (!import_from.empty()) {
    try {
      auto from = open_store(import_from, options.store_options);
      auto to = open_store(options.store, options.store_options);
      const size_t copied = copy_store(*from, *to);
      std::cout << "imported " << copied << " objects from " << import_from << " into "
                << options.store << " (revision " << to->revision() << ")" << std::endl;
      return 0;
    } catch (const std::exception &e) {
      std::cerr << "hal-controller: --import-store: " << e.what() << std::endl;
      return 1;
    }
  }
  if (auto error = hal::tls::check_tls_options(options.tls, "hal-controller")) {
    std::cerr << *error << std::endl;
    return 2;
  }
  if (options.tls.insecure)
    hal::log("controller")
        ->warn(
            "--insecure: the Controller API and NodeRegistry accept anyone who reaches {}, "
            "and nodes are dialled without TLS",
            options.listen);
  if (options.audit_log.empty()) options.audit_log = default_audit_log_path(options.store);
  options.controller.nodes.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  options.controller.nodes.grace_period = std::chrono::milliseconds(grace_ms);
  options.controller.crash_backoff_base = std::chrono::milliseconds(backoff_ms);
  options.controller.retry_base = std::chrono::milliseconds(retry_ms);
  if (orphan_grace_ms >= 0)
    options.controller.orphan_vm_grace = std::chrono::milliseconds(orphan_grace_ms);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Every thread inherits the mask.
  try {
    std::unique_ptr<BootstrapServer> joins;
    if (!bootstrap.listen.empty()) {
      bootstrap.tls = options.tls;
      joins = std::make_unique<BootstrapServer>(bootstrap);
    }
    ControllerServer server(options);
    server.start();
    if (joins) {
      joins->start();
      std::cout << "NodeBootstrap (joins) on " << joins->address() << std::endl;
    }
    std::cout << "listening on " << server.address() << std::endl;
    int signal = 0;
    sigwait(&signals, &signal);
    hal::log("controller")->info("signal {}: shutting down", signal);
    server.stop();
  } catch (const std::exception &e) {
    std::cerr << "hal-controller: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
