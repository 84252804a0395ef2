// private_libvirtd.h - a private libvirtd + virtlogd for benchmarks: started by the benchmark
// itself, isolated from any system libvirt, stopped by the PIDs it started, temp dir removed.
//
// How it is isolated (as root; libvirtd run by root is always the privileged "system" daemon,
// whose state paths are compiled in): both daemons run in a private mount namespace in which
// tmpfs hides /run, /var/lib, /var/log and /var/cache, and directories of a temp dir are bound
// onto /run/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and /etc/libvirt
// (config written by us: libvirtd.conf, qemu.conf with user/group root). /etc/passwd and
// /etc/group are bound to copies that add the `libvirt-qemu` user Debian's libvirt is built to
// expect (libvirt-daemon-system would create it; we do not touch the host's files). Clients reach
// the daemon through the socket path uri() names, outside the namespace.
#ifndef HAL_BACKENDS_KVM_QEMU_BENCH_PRIVATE_LIBVIRTD_H
#define HAL_BACKENDS_KVM_QEMU_BENCH_PRIVATE_LIBVIRTD_H

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace hal::kvm_qemu::bench {

/** One private libvirtd + virtlogd pair. Not copyable; the destructor stops both daemons (and a
 *  QEMU libvirt left running) by PID and removes the temp dir. */
class PrivateLibvirtd {
 public:
  /** Starts the daemons. Never throws: on failure error() says why and the object is inert. */
  PrivateLibvirtd();
  /** Stops the daemons by their PIDs (SIGTERM, SIGKILL after 10 s) and removes the temp dir. */
  ~PrivateLibvirtd();
  PrivateLibvirtd(const PrivateLibvirtd &) = delete;
  PrivateLibvirtd &operator=(const PrivateLibvirtd &) = delete;

  /** "" when the daemons run, else why they could not be started. */
  const std::string &error() const { return error_; }
  /** The connection URI for virsh -c (qemu:///system on the private socket). */
  std::string uri() const;
  /** The temp dir (config, sockets, state, logs); paths in domain XML may point into it. */
  const std::filesystem::path &dir() const { return dir_; }

  /** Runs `virsh -q -c uri() args...` and waits for it. Returns its exit status (0 = success);
   *  its output goes to dir()/virsh.log, the tail of which is put into *output when given. */
  int virsh(const std::vector<std::string> &args, std::string *output = nullptr) const;

  /** Kills (SIGKILL, by the PID libvirt recorded in its pidfile) a QEMU that libvirt started
   *  for domain `name` and that is still alive; used on cleanup. */
  void kill_domain_qemu(const std::string &name) const;

 private:
  bool start();
  void stop(pid_t &pid);

  std::filesystem::path dir_;
  std::string error_;
  pid_t virtlogd_ = -1;
  pid_t libvirtd_ = -1;
};

}  // namespace hal::kvm_qemu::bench

#endif  // HAL_BACKENDS_KVM_QEMU_BENCH_PRIVATE_LIBVIRTD_H
