// stand_in_qemu.h - writes /bin/sh scripts that stand in for qemu-system-x86_64 in tests of the
// KVM probe: each knows the file of the debug console (firmware output) from its command line.
#ifndef HAL_BACKENDS_KVM_QEMU_TESTS_STAND_IN_QEMU_H
#define HAL_BACKENDS_KVM_QEMU_TESTS_STAND_IN_QEMU_H

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace hal::kvm_qemu::testing {

/** Writes an executable script at `path` whose first line sets $firmware to the path of the
 *  debug console's file from the command line, followed by `body`; returns the path. */
inline std::string write_stand_in_qemu(const std::filesystem::path &path, const std::string &body) {
  std::ofstream(path) << "#!/bin/sh\n"
                      << "for a in \"$@\"; do case $a in file,id=firmware,path=*) "
                         "firmware=${a#file,id=firmware,path=};; esac; done\n"
                      << body;
  ::chmod(path.c_str(), 0755);
  return path.string();
}

/** A body whose "firmware" prints its first line and then runs until killed. */
inline constexpr const char *kFirmwareRuns =
    "printf 'SeaBIOS (version fake)\\n' > \"$firmware\"\nexec sleep 30\n";

}  // namespace hal::kvm_qemu::testing

#endif  // HAL_BACKENDS_KVM_QEMU_TESTS_STAND_IN_QEMU_H
