#include "devices/vfio/interrupts.h"

#include <sys/eventfd.h>

namespace vmrun::devices::vfio {

Result<void> Interrupts::attach_intx(uint32_t gsi) {
  if (device_.irq_count(kIntxIrq) == 0) return ok();  // no INTx pin
  intx_trigger_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  intx_resample_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!intx_trigger_.valid() || !intx_resample_.valid()) return Error::from_errno("eventfd");
  VMRUN_TRY(sink_.bind_intx(gsi, intx_trigger_.get(), intx_resample_.get()));
  intx_attached_ = true;
  return enable_intx();
}

Result<void> Interrupts::enable_intx() {
  if (!intx_attached_) {
    mode_ = kNone;
    return ok();
  }
  int fd = intx_trigger_.get();
  VMRUN_TRY(device_.set_irq_eventfds(kIntxIrq, std::span(&fd, 1)));
  VMRUN_TRY(device_.set_intx_unmask_eventfd(intx_resample_.get()));
  mode_ = kIntxIrq;
  return ok();
}

Result<void> Interrupts::apply(size_t i, const MsiVector& v, bool force) {
  if (force || i >= programmed_.size() || programmed_[i].addr != v.addr ||
      programmed_[i].data != v.data) {
    VMRUN_TRY(sink_.route_msi(gsis_[i], v.addr, v.data));
  }
  if (gsi_masked_[i] != v.masked) {
    VMRUN_TRY(sink_.mask_msi(gsis_[i], v.masked));
    gsi_masked_[i] = v.masked;
  }
  return ok();
}

Result<void> Interrupts::set_msi(uint32_t index, const std::vector<MsiVector>& vectors) {
  const uint32_t available = device_.irq_count(index);
  if (vectors.empty()) {
    if (mode_ != index) return ok();
    VMRUN_TRY(device_.set_irq_eventfds(index, {}));
    programmed_.clear();
    return enable_intx();  // the device falls back to its pin
  }
  if (vectors.size() > available) {
    return Error(device_.name() + ": guest enabled " + std::to_string(vectors.size()) +
                 " vectors, the device has " + std::to_string(available));
  }
  while (gsis_.size() < vectors.size()) {
    gsis_.push_back(VMRUN_TRY(sink_.allocate_msi()));
    gsi_masked_.push_back(false);
  }
  const bool switching = mode_ != index || vectors.size() != programmed_.size();
  if (switching) {
    // VFIO takes one interrupt type at a time: the old one goes first.
    if (mode_ != kNone) VMRUN_TRY(device_.set_irq_eventfds(mode_, {}));
    mode_ = kNone;
    for (size_t i = 0; i < vectors.size(); ++i) VMRUN_TRY(apply(i, vectors[i], true));
    std::vector<int> fds;
    for (size_t i = 0; i < vectors.size(); ++i) fds.push_back(sink_.msi_eventfd(gsis_[i]));
    VMRUN_TRY(device_.set_irq_eventfds(index, fds));
    mode_ = index;
  } else {
    for (size_t i = 0; i < vectors.size(); ++i) VMRUN_TRY(apply(i, vectors[i], false));
  }
  programmed_ = vectors;
  return ok();
}

}  // namespace vmrun::devices::vfio
