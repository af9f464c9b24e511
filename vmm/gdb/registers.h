// X86Regs on the wire: gdb's register numbers, the 'g' packet (every
// register in number order, each little-endian in its natural size) and the
// target description (target.xml) that tells gdb that order. Both come from
// one table, so they cannot disagree:
//   0-15 rax rbx rcx rdx rsi rdi rbp rsp r8..r15 (8 bytes), 16 rip,
//   17 eflags, 18-23 cs ss ds es fs gs (4), 24-31 st0..st7 (10),
//   32-39 fctrl fstat ftag fiseg fioff foseg fooff fop (4),
//   40-55 xmm0..xmm15 (16), 56 mxcsr (4), 57 fs_base, 58 gs_base (8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "vmm/gdb/target.h"

namespace vmrun::gdb {

inline constexpr int kNumRegisters = 59;
inline constexpr size_t kRegisterBytes = 552;  // all of them, 'g' order

// One register's bytes inside `regs`; empty for a number out of range.
std::span<uint8_t> register_bytes(X86Regs& regs, int regno);
std::span<const uint8_t> register_bytes(const X86Regs& regs, int regno);

// The 'g' reply: 2 * kRegisterBytes hex digits.
std::string encode_registers(const X86Regs& regs);
// A 'G' payload; false (regs untouched) unless exactly the 'g' length of hex.
bool decode_registers(std::string_view hex, X86Regs& regs);

// qXfer:features:read:target.xml's document.
const std::string& target_xml();

}  // namespace vmrun::gdb
