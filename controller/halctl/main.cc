// main.cc - the halctl binary: runs the command line with the process's stdio.
#include <unistd.h>

#include <iostream>

#include "controller/halctl/halctl.h"

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  hal::halctl::Io io{std::cin,     std::cout,    std::cerr, isatty(STDOUT_FILENO) != 0,
                     STDIN_FILENO, STDOUT_FILENO};
  return hal::halctl::run(args, io);
}
