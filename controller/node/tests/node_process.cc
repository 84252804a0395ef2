// node_process.cc - starting and stopping hal-node for integration tests (see node_process.h).
#include "controller/node/tests/node_process.h"

#include <signal.h>

#include <regex>
#include <stdexcept>

namespace hal::node::testing {

NodeProcess::NodeProcess(const std::string &binary, const std::vector<std::string> &args,
                         const std::filesystem::path &log_file, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  process_ = std::make_unique<hal::testing::ChildProcess>(std::move(argv), log_file);
  auto listening =
      process_->wait_for_output(std::regex("hal-node: listening on ([^\n]*)\n"), timeout);
  if (!listening) {
    const std::string output = process_->output();
    process_->signal_and_wait(SIGKILL, std::chrono::milliseconds(5000));
    throw std::runtime_error("hal-node did not start; output: " + output);
  }
  address_ = (*listening)[1].str();
}

NodeProcess::~NodeProcess() {
  process_->signal_and_wait(SIGKILL, std::chrono::milliseconds(5000));
}

}  // namespace hal::node::testing
