// main.cc - hal-node: runs one NodeAgent until SIGTERM/SIGINT, then stops it leaving every VM
// running (a restarted hal-node re-adopts them). Prints "hal-node: listening on HOST:PORT" once
// serving. Exit codes: 0 after a signal, 1 when the agent cannot start, 2 for usage errors.
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "controller/node/bootstrap_join.h"
#include "controller/node/cli.h"
#include "controller/node/node_agent.h"
#include "controller/proto/grpc_runtime.h"
#include "core/log/log.h"

int main(int argc, char **argv) {
  hal::wire::tune_grpc_runtime();
  std::vector<std::string> args(argv, argv + argc);
  hal::node::CliResult cli = hal::node::parse_command_line(args);
  if (!cli.options) return cli.exit_code;

  // Block the stop signals in every thread; this one waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    hal::node::join_if_needed(*cli.options);
  } catch (const std::exception &e) {
    std::cerr << "hal-node: " << e.what() << "\n";
    return 1;
  }
  hal::node::NodeAgent agent(std::move(*cli.options));
  try {
    agent.start();
  } catch (const std::exception &e) {
    std::cerr << "hal-node: " << e.what() << "\n";
    return 1;
  }
  std::cout << "hal-node: listening on " << agent.address() << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  hal::log("node")->info("hal-node: signal {}; stopping (VMs keep running)", signal_number);
  agent.stop();
  return 0;
}
