// How a device raises its interrupt without knowing about KVM: the VM hands it
// a function that sets the line's level (KVM_IRQ_LINE in production, a
// recorder in tests).
#pragma once

#include <functional>

namespace vmrun::devices {

using IrqLine = std::function<void(bool level)>;

}  // namespace vmrun::devices
