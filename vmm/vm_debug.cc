// Vm's debugging aids: the gdb stub's set-up (--gdb) and the state dump
// (SIGUSR2). Kept apart from the VM's construction and run loop.
#include <csignal>
#include <cstdio>
#include <string>

#include "vmm/vm.h"

namespace vmrun {

Result<void> Vm::setup_gdb() {
  const gdb::ListenAddress where = VMRUN_TRY_CTX(gdb::parse_listen_address(config_.gdb), "--gdb");
  std::vector<VcpuThread*> vcpus;
  for (auto& v : vcpus_) vcpus.push_back(v.get());
  StopSignal* stop = &stop_;
  gdb_target_ = std::make_unique<gdb::KvmTarget>(
      std::move(vcpus), *memory_,
      [stop] {
        devices::JobStatus s{};
        s.value = SIGKILL;
        stop->request({StopReason::kInterrupted, s, "gdb's kill"});
      },
      config_.gdb_wait,
      static_cast<uint32_t>(std::max(0, kvm_.check_extension(KVM_CAP_SET_GUEST_DEBUG2))));
  gdb_server_ = VMRUN_TRY_CTX(gdb::Server::start(where, *gdb_target_), "--gdb");
  // Said whatever the log level: the user needs the port (tcp::0 picks one).
  std::fprintf(stderr, "vmrun: gdb stub listening on %s:%u%s\n", where.host.c_str(),
               gdb_server_->port(),
               config_.gdb_wait ? "; the guest waits for gdb to continue" : "");
  return ok();
}

void Vm::dump_state() {
  std::string s = "vmrun: state at " + std::to_string(static_cast<int64_t>(ms_since_start())) +
                  " ms\n";
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    s += "vcpu" + std::to_string(i) + ": " + std::to_string(vcpus_[i]->exits()) +
         " exits, last reason " + std::to_string(vcpus_[i]->last_exit()) + "\n";
  }
  for (auto& v : virtio_) s += v->describe();
  std::fputs(s.c_str(), stderr);
}

}  // namespace vmrun
