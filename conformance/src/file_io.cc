// file_io.cc - reading JSON files and writing text files (see file_io.h).
#include "file_io.h"

#include <fstream>
#include <stdexcept>

namespace hal::conformance {

nlohmann::json read_json_file(const std::string &path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw std::runtime_error(path + ": not a JSON object");
  }
  return j;
}

void write_file(const std::string &path, const std::string &text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace hal::conformance
