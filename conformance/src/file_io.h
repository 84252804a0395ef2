// file_io.h - the files hal-conformance reads and writes itself (configs, saved reports, result
// and report files), with errors that name the file.
#ifndef HAL_CONFORMANCE_FILE_IO_H
#define HAL_CONFORMANCE_FILE_IO_H

#include <nlohmann/json.hpp>
#include <string>

namespace hal::conformance {

/** The JSON object in file `path`. Throws std::runtime_error ("cannot read PATH", "PATH: not a
 *  JSON object") when it cannot be read or holds anything else. */
nlohmann::json read_json_file(const std::string &path);

/** Writes `text` to file `path`, replacing it. Throws std::runtime_error ("cannot write PATH"). */
void write_file(const std::string &path, const std::string &text);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_FILE_IO_H
