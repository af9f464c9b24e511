#include "vmm/kernel_release.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "vmm/unique_fd.h"

namespace vmrun {
namespace {

// Boot protocol offsets (Documentation/arch/x86/boot.rst).
constexpr size_t kSetupSectsOffset = 0x1f1;
constexpr size_t kHeaderMagicOffset = 0x202;  // "HdrS"
constexpr size_t kProtocolOffset = 0x206;
constexpr size_t kKernelVersionOffset = 0x20e;  // the string's offset - 0x200
constexpr uint16_t kMinProtocolWithVersion = 0x0200;
constexpr size_t kSectorSize = 512;
// Enough of a version string for its first word; a longer one is not read.
constexpr size_t kMaxVersionString = 256;
// The most of a file the string can be in: its 16-bit pointer + 0x200.
constexpr size_t kHeadBytes = 0x10000 + 0x200 + kMaxVersionString;
// kernel.version holds one short line.
constexpr size_t kMaxReleaseFile = 256;

uint16_t le16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] | b[at + 1] << 8);
}

// Opens a regular file without blocking on a FIFO or a device someone
// named instead.
Result<std::pair<UniqueFd, uint64_t>> open_regular(const std::string& path) {
  UniqueFd fd(
      ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return Error::from_errno("cannot open " + path);
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return Error::from_errno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error(path + " is not a regular file");
  return std::pair{std::move(fd), static_cast<uint64_t>(st.st_size)};
}

// Up to `max` bytes from the start of the file (fewer if it is shorter).
Result<std::vector<uint8_t>> read_head(int fd, size_t max,
                                       const std::string& path) {
  std::vector<uint8_t> bytes(max);
  size_t done = 0;
  while (done < max) {
    ssize_t n =
        pread(fd, bytes.data() + done, max - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("read " + path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

// As the kernel loader decides it (vmm/x86/kernel_loader.cc): by the magic.
bool is_bzimage(std::span<const uint8_t> image) {
  return image.size() >= kKernelVersionOffset + 2 &&
         std::memcmp(image.data() + kHeaderMagicOffset, "HdrS", 4) == 0;
}

Result<std::string> release_file(const std::string& path) {
  auto [fd, size] = VMRUN_TRY(open_regular(path));
  if (size >= kMaxReleaseFile) {
    return Error(path + " is not one short line (" + std::to_string(size) +
                 " bytes)");
  }
  auto bytes = VMRUN_TRY(read_head(fd.get(), kMaxReleaseFile, path));
  auto release = parse_release_line(
      {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  if (!release) return release.error().context(path);
  return release;
}

}  // namespace

bool is_kernel_release(std::string_view text) {
  return !text.empty() && text.size() <= kMaxReleaseLength && text[0] != '.' &&
         text.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             "0123456789._+~-") == std::string_view::npos;
}

Result<std::string> parse_release_line(std::string_view text) {
  std::string_view line = text.substr(0, text.find('\n'));
  constexpr const char* kBlanks = " \t\r\v\f";
  const size_t first = line.find_first_not_of(kBlanks);
  line =
      first == std::string_view::npos ? std::string_view{} : line.substr(first);
  line = line.substr(0, line.find_last_not_of(kBlanks) + 1);
  if (!is_kernel_release(line)) {
    return Error(
        "does not name a kernel release (one line like 6.1.0-41-amd64)");
  }
  return std::string(line);
}

Result<std::string> bzimage_release(std::span<const uint8_t> image) {
  if (!is_bzimage(image)) return Error("not a bzImage");
  if (le16(image, kProtocolOffset) < kMinProtocolWithVersion) {
    return Error("bzImage: boot protocol too old for a version string");
  }
  const uint16_t pointer = le16(image, kKernelVersionOffset);
  if (pointer == 0) return Error("bzImage: no version string");
  size_t setup_sects = image[kSetupSectsOffset];
  if (setup_sects == 0) setup_sects = 4;  // the boot protocol's old default
  const size_t setup_end =
      std::min((setup_sects + 1) * kSectorSize, image.size());
  const size_t at = size_t{pointer} + 0x200;
  if (at >= setup_end)
    return Error("bzImage: version string outside the setup sectors");
  const auto text =
      image.subspan(at, std::min(setup_end - at, kMaxVersionString));
  // The first word ends at a blank or the string's NUL; without either
  // inside the bound, the word may be cut short: not trusted.
  const auto end = std::find_if(text.begin(), text.end(), [](uint8_t c) {
    return c == ' ' || c == '\0';
  });
  if (end == text.end())
    return Error("bzImage: version string is not terminated");
  const std::string word(text.begin(), end);
  if (!is_kernel_release(word))
    return Error("bzImage: version string is not a release");
  return word;
}

Result<std::string> kernel_release(const std::string& path) {
  const auto opened = VMRUN_TRY(open_regular(path));
  const auto head = VMRUN_TRY(read_head(opened.first.get(), kHeadBytes, path));
  if (is_bzimage(head)) {
    // Its own header is the authority; a bad one is not second-guessed.
    auto release = bzimage_release(head);
    if (!release) return release.error().context(path);
    return release;
  }
  const std::filesystem::path p(path);
  if (p.filename() != "vmlinux" && p.filename() != "vmlinuz") {
    return Error(
        path +
        " is not a bzImage, nor a vmlinux or vmlinuz beside a kernel.version");
  }
  return release_file((p.parent_path() / "kernel.version").string());
}

}  // namespace vmrun
