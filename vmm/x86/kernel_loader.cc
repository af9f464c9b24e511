#include "vmm/x86/kernel_loader.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "vmm/hex.h"
#include "vmm/unique_fd.h"
#include "vmm/x86/layout.h"

namespace vmrun::x86 {
namespace {

constexpr uint64_t kSetupHeaderOffset = 0x1f1;
constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
constexpr uint16_t kMinBootProtocol = 0x020c;  // has xloadflags
constexpr uint16_t kXlfKernel64 = 0x0001;
constexpr uint64_t kStartup64Offset = 0x200;
constexpr uint64_t kMaxElfSegments = 64;

template <class T>
bool read_at(std::span<const uint8_t> file, uint64_t offset, T* out) {
  if (offset > file.size() || sizeof(T) > file.size() - offset) return false;
  std::memcpy(out, file.data() + offset, sizeof(T));
  return true;
}

bool is_elf(std::span<const uint8_t> image) {
  return image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

Result<void> check_elf_header(std::span<const uint8_t> image) {
  Elf64_Ehdr eh;
  if (!read_at(image, 0, &eh) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC) {
    return Error("not an x86-64 executable ELF (vmlinux)");
  }
  return ok();
}

Result<LoadedKernel> load_elf(std::span<const uint8_t> image,
                              const GuestMemory& mem) {
  VMRUN_TRY(check_elf_header(image));
  Elf64_Ehdr eh;
  read_at(image, 0, &eh);
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      eh.e_phnum > kMaxElfSegments) {
    return Error("ELF kernel has a bad program header table");
  }
  LoadedKernel k{eh.e_entry, 0, std::nullopt, 0x7fffffff};
  bool entry_found = false;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!read_at(image, eh.e_phoff + uint64_t{i} * sizeof ph, &ph)) {
      return Error("ELF kernel: program header " + std::to_string(i) +
                   " is past the end of the file");
    }
    if (ph.p_type != PT_LOAD) continue;
    if (ph.p_filesz > ph.p_memsz || ph.p_offset > image.size() ||
        ph.p_filesz > image.size() - ph.p_offset) {
      return Error("ELF kernel: segment " + std::to_string(i) +
                   " lies outside the file");
    }
    auto dst = VMRUN_TRY_CTX(mem.slice(ph.p_paddr, ph.p_memsz),
                             "ELF kernel segment at " + hex(ph.p_paddr));
    std::memcpy(dst.data(), image.data() + ph.p_offset, ph.p_filesz);
    std::memset(dst.data() + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    k.end = std::max(k.end, ph.p_paddr + ph.p_memsz);
    // The entry may be given as a virtual address; translate it through
    // the segment that contains it.
    if (eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
      k.entry = ph.p_paddr + (eh.e_entry - ph.p_vaddr);
      entry_found = true;
    } else if (eh.e_entry >= ph.p_paddr &&
               eh.e_entry - ph.p_paddr < ph.p_memsz) {
      entry_found = true;
    }
  }
  if (!entry_found) return Error("ELF kernel: entry point is in no segment");
  return k;
}

// The bzImage's setup header, if it has one we can enter in 64-bit mode.
Result<setup_header> bzimage_header(std::span<const uint8_t> image) {
  setup_header hdr;
  if (!read_at(image, kSetupHeaderOffset, &hdr) || hdr.header != kHdrSMagic) {
    return Error("not a Linux kernel (neither an ELF vmlinux nor a bzImage)");
  }
  if (hdr.version < kMinBootProtocol || !(hdr.xloadflags & kXlfKernel64)) {
    return Error("bzImage has no 64-bit entry point (boot protocol " +
                 hex(hdr.version) + ")");
  }
  return hdr;
}

Result<LoadedKernel> load_bzimage(std::span<const uint8_t> image,
                                  const GuestMemory& mem) {
  setup_header hdr = VMRUN_TRY(bzimage_header(image));
  uint64_t setup_sects = hdr.setup_sects == 0 ? 4 : hdr.setup_sects;
  uint64_t kernel_offset = (setup_sects + 1) * 512;
  if (kernel_offset >= image.size()) return Error("bzImage is truncated");
  uint64_t kernel_size = image.size() - kernel_offset;
  // The decompressor needs init_size bytes from its load address.
  uint64_t footprint = std::max<uint64_t>(kernel_size, hdr.init_size);
  VMRUN_TRY_CTX(mem.slice(kHighMemAddr, footprint),
                "bzImage needs " + std::to_string(footprint >> 20) +
                    " MiB above 1 MiB");
  VMRUN_TRY(mem.write(kHighMemAddr, image.subspan(kernel_offset)));
  return LoadedKernel{kHighMemAddr + kStartup64Offset, kHighMemAddr + footprint,
                      hdr, hdr.initrd_addr_max};
}

}  // namespace

Result<LoadedKernel> load_kernel(std::span<const uint8_t> image,
                                 const GuestMemory& mem) {
  if (is_elf(image)) return load_elf(image, mem);
  return load_bzimage(image, mem);
}

Result<void> check_kernel_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("cannot open kernel " + path);
  uint8_t head[4096] = {};
  ssize_t n = pread(fd.get(), head, sizeof head, 0);
  if (n < 0) return Error::from_errno("read kernel " + path);
  std::span<const uint8_t> image(head, static_cast<size_t>(n));
  const std::string where = "kernel " + path;
  if (is_elf(image)) {
    if (auto r = check_elf_header(image); !r) return r.error().context(where);
    return ok();
  }
  if (auto r = bzimage_header(image); !r) return r.error().context(where);
  return ok();
}

Result<LoadedKernel> load_kernel_file(const std::string& path,
                                      const GuestMemory& mem) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("cannot open kernel " + path);
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return Error::from_errno("stat " + path);
  if (!S_ISREG(st.st_mode) || st.st_size == 0) {
    return Error("kernel " + path + " is not a regular, non-empty file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) return Error::from_errno("mmap " + path);
  auto loaded = load_kernel({static_cast<const uint8_t*>(p), size}, mem);
  munmap(p, size);
  if (!loaded) return loaded.error().context("kernel " + path);
  return loaded;
}

}  // namespace vmrun::x86
