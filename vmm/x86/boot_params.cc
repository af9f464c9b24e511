#include "vmm/x86/boot_params.h"

#include <algorithm>
#include <cstring>

#include "vmm/x86/layout.h"

namespace vmrun::x86 {
namespace {

constexpr uint16_t kBootFlag = 0xaa55;
constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
constexpr uint8_t kLoaderUndefined = 0xff;
constexpr uint8_t kLoadedHigh = 0x01;

uint64_t low_ram_end(uint64_t mem_size) {
  return std::min(mem_size, kMmioHoleStart);
}

}  // namespace

std::vector<std::pair<uint64_t, uint64_t>> ram_regions(uint64_t mem_size) {
  std::vector<std::pair<uint64_t, uint64_t>> regions;
  regions.emplace_back(0, low_ram_end(mem_size));
  if (mem_size > kMmioHoleStart) {
    regions.emplace_back(kMmioHoleEnd, mem_size - kMmioHoleStart);
  }
  return regions;
}

std::vector<E820Entry> e820_map(uint64_t mem_size) {
  std::vector<E820Entry> map;
  map.push_back({0, kMpTableAddr, kE820Ram});
  map.push_back({kMpTableAddr, kEbdaEnd - kMpTableAddr, kE820Reserved});
  map.push_back({kHighMemAddr, low_ram_end(mem_size) - kHighMemAddr, kE820Ram});
  if (mem_size > kMmioHoleStart) {
    map.push_back({kMmioHoleEnd, mem_size - kMmioHoleStart, kE820Ram});
  }
  return map;
}

Result<uint64_t> initrd_address(uint64_t mem_size, uint64_t size,
                                uint64_t addr_max, uint64_t min_addr) {
  // addr_max is the highest byte address the initrd may occupy.
  uint64_t top = std::min(low_ram_end(mem_size), addr_max + 1);
  if (size > top || ((top - size) & ~uint64_t{0xfff}) < min_addr) {
    return Error("initrd of " + std::to_string(size >> 20) +
                 " MiB does not fit in guest memory; raise -m");
  }
  return (top - size) & ~uint64_t{0xfff};
}

Result<boot_params> make_boot_params(
    const std::optional<setup_header>& header, uint64_t mem_size,
    uint64_t cmdline_addr, uint32_t cmdline_size,
    std::optional<InitrdPlacement> initrd) {
  boot_params params;
  std::memset(&params, 0, sizeof params);
  if (header) {
    params.hdr = *header;
  } else {
    params.hdr.boot_flag = kBootFlag;
    params.hdr.header = kHdrSMagic;
    params.hdr.version = 0x020f;
    params.hdr.kernel_alignment = 0x1000000;
  }
  params.hdr.type_of_loader = kLoaderUndefined;
  params.hdr.loadflags |= kLoadedHigh;
  params.hdr.cmd_line_ptr = static_cast<uint32_t>(cmdline_addr);
  params.ext_cmd_line_ptr = static_cast<uint32_t>(cmdline_addr >> 32);
  params.hdr.cmdline_size = cmdline_size;
  if (initrd) {
    params.hdr.ramdisk_image = static_cast<uint32_t>(initrd->addr);
    params.ext_ramdisk_image = static_cast<uint32_t>(initrd->addr >> 32);
    params.hdr.ramdisk_size = static_cast<uint32_t>(initrd->size);
    params.ext_ramdisk_size = static_cast<uint32_t>(initrd->size >> 32);
  }
  auto map = e820_map(mem_size);
  if (map.size() > E820_MAX_ENTRIES_ZEROPAGE) return Error("e820 map too long");
  for (size_t i = 0; i < map.size(); ++i) {
    params.e820_table[i] = {map[i].addr, map[i].size, map[i].type};
  }
  params.e820_entries = static_cast<uint8_t>(map.size());
  return params;
}

}  // namespace vmrun::x86
