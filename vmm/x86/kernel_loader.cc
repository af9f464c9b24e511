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

class SpanReader : public ImageReader {
 public:
  explicit SpanReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  Result<void> read(uint64_t offset, std::span<uint8_t> out) const override {
    if (!out.empty()) std::memcpy(out.data(), bytes_.data() + offset, out.size());
    return ok();
  }

 private:
  std::span<const uint8_t> bytes_;
};

class FileReader : public ImageReader {
 public:
  FileReader(int fd, uint64_t size) : fd_(fd), size_(size) {}
  uint64_t size() const override { return size_; }
  Result<void> read(uint64_t offset, std::span<uint8_t> out) const override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = pread(fd_, out.data() + done, out.size() - done,
                        static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::from_errno("read");
      if (n == 0) return Error("file shrank while being read");
      done += static_cast<size_t>(n);
    }
    return ok();
  }

 private:
  int fd_;
  uint64_t size_;
};

bool in_file(const ImageReader& image, uint64_t offset, uint64_t len) {
  return offset <= image.size() && len <= image.size() - offset;
}

// Reads a struct at `offset`; false if the file is too short or unreadable.
template <class T>
bool read_at(const ImageReader& image, uint64_t offset, T* out) {
  if (!in_file(image, offset, sizeof(T))) return false;
  return image.read(offset, {reinterpret_cast<uint8_t*>(out), sizeof(T)}).ok();
}

bool is_elf(const ImageReader& image) {
  unsigned char ident[SELFMAG];
  return read_at(image, 0, &ident) && std::memcmp(ident, ELFMAG, SELFMAG) == 0;
}

Result<void> check_elf_header(const ImageReader& image) {
  Elf64_Ehdr eh;
  if (!read_at(image, 0, &eh) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC) {
    return Error("not an x86-64 executable ELF (vmlinux)");
  }
  return ok();
}

Result<LoadedKernel> load_elf(const ImageReader& image,
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
    if (ph.p_filesz > ph.p_memsz || !in_file(image, ph.p_offset, ph.p_filesz)) {
      return Error("ELF kernel: segment " + std::to_string(i) +
                   " lies outside the file");
    }
    auto dst = VMRUN_TRY_CTX(mem.slice(ph.p_paddr, ph.p_memsz),
                             "ELF kernel segment at " + hex(ph.p_paddr));
    VMRUN_TRY(image.read(ph.p_offset, dst.first(ph.p_filesz)));
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
Result<setup_header> bzimage_header(const ImageReader& image) {
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

Result<LoadedKernel> load_bzimage(const ImageReader& image,
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
  auto dst = VMRUN_TRY(mem.slice(kHighMemAddr, kernel_size));
  VMRUN_TRY(image.read(kernel_offset, dst));
  return LoadedKernel{kHighMemAddr + kStartup64Offset, kHighMemAddr + footprint,
                      hdr, hdr.initrd_addr_max};
}

}  // namespace

Result<LoadedKernel> load_kernel(const ImageReader& image,
                                 const GuestMemory& mem) {
  if (is_elf(image)) return load_elf(image, mem);
  return load_bzimage(image, mem);
}

Result<LoadedKernel> load_kernel(std::span<const uint8_t> image,
                                 const GuestMemory& mem) {
  return load_kernel(SpanReader(image), mem);
}

// Opens a kernel file: a regular, non-empty file; returns it with its size.
Result<std::pair<UniqueFd, uint64_t>> open_kernel(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("cannot open kernel " + path);
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return Error::from_errno("stat " + path);
  if (!S_ISREG(st.st_mode) || st.st_size == 0) {
    return Error("kernel " + path + " is not a regular, non-empty file");
  }
  return std::pair{std::move(fd), static_cast<uint64_t>(st.st_size)};
}

Result<void> check_kernel_file(const std::string& path) {
  auto [fd, size] = VMRUN_TRY(open_kernel(path));
  FileReader image(fd.get(), size);
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
  auto [fd, size] = VMRUN_TRY(open_kernel(path));
  auto loaded = load_kernel(FileReader(fd.get(), size), mem);
  if (!loaded) return loaded.error().context("kernel " + path);
  return loaded;
}

}  // namespace vmrun::x86
