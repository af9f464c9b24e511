#include "vmm/gdb/registers.h"

#include <array>
#include <bit>
#include <cstring>

#include "vmm/gdb/packet.h"

namespace vmrun::gdb {

// Register values are copied as host bytes; the wire wants the target's
// (little-endian) order.
static_assert(std::endian::native == std::endian::little);

namespace {

struct RegDesc {
  std::string name;
  size_t offset = 0;  // in X86Regs
  size_t size = 0;
  const char* type = "";
  const char* group = nullptr;
};

// The general registers are consecutive uint64_t members; reading them by
// offset relies on that.
static_assert(offsetof(X86Regs, rip) == offsetof(X86Regs, rax) + 16 * 8);
static_assert(offsetof(X86Regs, gs) == offsetof(X86Regs, cs) + 5 * 4);
static_assert(offsetof(X86Regs, fop) == offsetof(X86Regs, fctrl) + 7 * 4);
static_assert(sizeof(X86Regs::st) == 80 && sizeof(X86Regs::xmm) == 256);

// Feature boundaries in register numbers.
constexpr int kFirstSse = 40, kFirstSegment = 57;

const std::array<RegDesc, kNumRegisters>& table() {
  static const auto t = [] {
    std::array<RegDesc, kNumRegisters> r{};
    int n = 0;
    auto add = [&](std::string name, size_t off, size_t size, const char* type,
                   const char* group = nullptr) {
      r[n++] = {std::move(name), off, size, type, group};
    };
    static constexpr const char* gprs[] = {"rax", "rbx", "rcx", "rdx",
                                           "rsi", "rdi", "rbp", "rsp"};
    for (int i = 0; i < 8; ++i) {
      const char* type = i >= 6 ? "data_ptr" : "int64";
      add(gprs[i], offsetof(X86Regs, rax) + 8 * i, 8, type);
    }
    for (int i = 8; i < 16; ++i)
      add("r" + std::to_string(i), offsetof(X86Regs, rax) + 8 * i, 8, "int64");
    add("rip", offsetof(X86Regs, rip), 8, "code_ptr");
    add("eflags", offsetof(X86Regs, eflags), 4, "i386_eflags");
    static constexpr const char* segs[] = {"cs", "ss", "ds", "es", "fs", "gs"};
    for (int i = 0; i < 6; ++i)
      add(segs[i], offsetof(X86Regs, cs) + 4 * i, 4, "int32");
    for (int i = 0; i < 8; ++i)
      add("st" + std::to_string(i), offsetof(X86Regs, st) + 10 * i, 10,
          "i387_ext");
    static constexpr const char* fpu[] = {"fctrl", "fstat", "ftag",  "fiseg",
                                          "fioff", "foseg", "fooff", "fop"};
    for (int i = 0; i < 8; ++i)
      add(fpu[i], offsetof(X86Regs, fctrl) + 4 * i, 4, "int", "float");
    for (int i = 0; i < 16; ++i)
      add("xmm" + std::to_string(i), offsetof(X86Regs, xmm) + 16 * i, 16,
          "vec128");
    add("mxcsr", offsetof(X86Regs, mxcsr), 4, "i386_mxcsr", "vector");
    add("fs_base", offsetof(X86Regs, fs_base), 8, "int");
    add("gs_base", offsetof(X86Regs, gs_base), 8, "int");
    return r;
  }();
  return t;
}

constexpr const char* kEflagsType = R"(
  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/>
    <field name="PF" start="2" end="2"/>
    <field name="AF" start="4" end="4"/>
    <field name="ZF" start="6" end="6"/>
    <field name="SF" start="7" end="7"/>
    <field name="TF" start="8" end="8"/>
    <field name="IF" start="9" end="9"/>
    <field name="DF" start="10" end="10"/>
    <field name="OF" start="11" end="11"/>
    <field name="NT" start="14" end="14"/>
    <field name="RF" start="16" end="16"/>
    <field name="VM" start="17" end="17"/>
    <field name="AC" start="18" end="18"/>
    <field name="VIF" start="19" end="19"/>
    <field name="VIP" start="20" end="20"/>
    <field name="ID" start="21" end="21"/>
  </flags>
)";

constexpr const char* kSseTypes = R"(
  <vector id="v4f" type="ieee_single" count="4"/>
  <vector id="v2d" type="ieee_double" count="2"/>
  <vector id="v16i8" type="int8" count="16"/>
  <vector id="v8i16" type="int16" count="8"/>
  <vector id="v4i32" type="int32" count="4"/>
  <vector id="v2i64" type="int64" count="2"/>
  <union id="vec128">
    <field name="v4_float" type="v4f"/>
    <field name="v2_double" type="v2d"/>
    <field name="v16_int8" type="v16i8"/>
    <field name="v8_int16" type="v8i16"/>
    <field name="v4_int32" type="v4i32"/>
    <field name="v2_int64" type="v2i64"/>
    <field name="uint128" type="uint128"/>
  </union>
  <flags id="i386_mxcsr" size="4">
    <field name="IE" start="0" end="0"/>
    <field name="DE" start="1" end="1"/>
    <field name="ZE" start="2" end="2"/>
    <field name="OE" start="3" end="3"/>
    <field name="UE" start="4" end="4"/>
    <field name="PE" start="5" end="5"/>
    <field name="DAZ" start="6" end="6"/>
    <field name="IM" start="7" end="7"/>
    <field name="DM" start="8" end="8"/>
    <field name="ZM" start="9" end="9"/>
    <field name="OM" start="10" end="10"/>
    <field name="UM" start="11" end="11"/>
    <field name="PM" start="12" end="12"/>
    <field name="FZ" start="15" end="15"/>
  </flags>
)";

std::string build_xml() {
  const auto& t = table();
  std::string x =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
      "<target version=\"1.0\">\n"
      "<architecture>i386:x86-64</architecture>\n";
  auto regs = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      x += "  <reg name=\"" + t[i].name + "\" bitsize=\"" +
           std::to_string(t[i].size * 8) + "\" type=\"" + t[i].type +
           "\" regnum=\"" + std::to_string(i) + "\"";
      if (t[i].group) x += std::string(" group=\"") + t[i].group + "\"";
      x += "/>\n";
    }
  };
  x += "<feature name=\"org.gnu.gdb.i386.core\">";
  x += kEflagsType;
  regs(0, kFirstSse);
  x += "</feature>\n<feature name=\"org.gnu.gdb.i386.sse\">";
  x += kSseTypes;
  regs(kFirstSse, kFirstSegment);
  x += "</feature>\n<feature name=\"org.gnu.gdb.i386.segments\">\n";
  regs(kFirstSegment, kNumRegisters);
  x += "</feature>\n</target>\n";
  return x;
}

}  // namespace

std::span<uint8_t> register_bytes(X86Regs& regs, int regno) {
  if (regno < 0 || regno >= kNumRegisters) return {};
  const RegDesc& d = table()[regno];
  return {reinterpret_cast<uint8_t*>(&regs) + d.offset, d.size};
}

std::span<const uint8_t> register_bytes(const X86Regs& regs, int regno) {
  return register_bytes(const_cast<X86Regs&>(regs), regno);
}

std::string encode_registers(const X86Regs& regs) {
  std::string out;
  out.reserve(kRegisterBytes * 2);
  for (int i = 0; i < kNumRegisters; ++i)
    out += to_hex(register_bytes(regs, i));
  return out;
}

bool decode_registers(std::string_view hex, X86Regs& regs) {
  if (hex.size() != kRegisterBytes * 2) return false;
  X86Regs parsed = regs;
  size_t pos = 0;
  for (int i = 0; i < kNumRegisters; ++i) {
    auto bytes = register_bytes(parsed, i);
    if (!from_hex(hex.substr(pos, bytes.size() * 2), bytes)) return false;
    pos += bytes.size() * 2;
  }
  regs = parsed;
  return true;
}

const std::string& target_xml() {
  static const std::string xml = build_xml();
  return xml;
}

}  // namespace vmrun::gdb
