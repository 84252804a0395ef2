// main.cc - the halctl binary: runs the command line with the process's stdio.
#include <unistd.h>

#include <exception>
#include <iostream>

#include "controller/halctl/halctl.h"

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  hal::halctl::Io io{std::cin,     std::cout,    std::cerr, isatty(STDOUT_FILENO) != 0,
                     STDIN_FILENO, STDOUT_FILENO};
  try {
    return hal::halctl::run(args, io);
  } catch (const std::exception &e) {
    // A bug, not bad input (run answers that itself): still one clear line, not an abort.
    std::cerr << "halctl: internal error: " << e.what() << "\n";
    return 1;
  }
}
