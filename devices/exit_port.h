// The port guest init writes the job's status to (docs/guest-protocol.md):
// one 32-bit write of magic 0x564d in bits 31-16, the kind in bits 15-8 and
// the value in bits 7-0. Anything else is ignored, so a stray byte from a
// probing driver cannot end the run.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "devices/bus.h"

namespace vmrun::devices {

enum class JobEnd : uint8_t {
  kExited = 0,
  kSignaled = 1,
  kInitFailed = 2,
  kInitReady = 3,  // not an end: init is up, its console configured
};

struct JobStatus {
  JobEnd kind;
  uint8_t value;
};

// Decodes a status word; nullopt for a word that is not a valid status.
std::optional<JobStatus> decode_status_word(uint32_t word);

class ExitPort : public BusDevice {
 public:
  static constexpr uint16_t kPort = 0xf4;
  static constexpr uint64_t kSize = 4;
  using OnStatus = std::function<void(JobStatus)>;

  explicit ExitPort(OnStatus on_status) : on_status_(std::move(on_status)) {}

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  OnStatus on_status_;
};

}  // namespace vmrun::devices
