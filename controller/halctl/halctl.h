// halctl.h - the halctl command line (kubectl/virtctl-like) as a function, so tests can run it
// in-process: run() parses the arguments with CLI11 and executes one command.
#ifndef HAL_CONTROLLER_HALCTL_HALCTL_H
#define HAL_CONTROLLER_HALCTL_HALCTL_H

#include <grpcpp/security/credentials.h>

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace hal::halctl {

/** Where a command reads and writes. */
struct Io {
  std::istream &in;         ///< `apply -f -` / `validate -f -` input.
  std::ostream &out;        ///< Results.
  std::ostream &err;        ///< Errors and notices.
  bool out_is_tty = false;  ///< Live progress bar instead of plain lines.
  int console_in_fd = 0;    ///< File descriptor `console` reads keystrokes from.
  int console_out_fd = 1;   ///< File descriptor `console` writes guest output to.
};

/** Exit codes: 0 success, 1 failure (server error, invalid manifest, failed migration),
 *  2 bad command-line arguments. */
int run(const std::vector<std::string> &args, Io &io);

/** `halctl console`: attaches to a VM's serial console through the controller, which relays
 *  it to the VM's node (see console.cc), dialling it with `credentials`. Returns the exit code. */
int run_console(const std::string &server,
                const std::shared_ptr<grpc::ChannelCredentials> &credentials, const std::string &ns,
                const std::string &name, double timeout_s, Io &io);

}  // namespace hal::halctl

#endif  // HAL_CONTROLLER_HALCTL_HALCTL_H
