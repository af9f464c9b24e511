#include "devices/exit_port.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace vmrun::devices {

std::optional<JobStatus> decode_status_word(uint32_t word) {
  if ((word >> 16) != 0x564d) return std::nullopt;
  uint8_t kind = static_cast<uint8_t>(word >> 8);
  if (kind > static_cast<uint8_t>(JobEnd::kInitReady)) return std::nullopt;
  return JobStatus{static_cast<JobEnd>(kind), static_cast<uint8_t>(word)};
}

void ExitPort::read(uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
}

void ExitPort::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != 0 || data.size() != 4) {
    spdlog::debug("[exit] ignored {}-byte write at offset {}", data.size(),
                  offset);
    return;
  }
  uint32_t word;
  std::memcpy(&word, data.data(), 4);
  auto status = decode_status_word(word);
  if (!status) {
    spdlog::debug("[exit] ignored status word {:#x}", word);
    return;
  }
  on_status_(*status);
}

}  // namespace vmrun::devices
