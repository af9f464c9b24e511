#include "devices/disk.h"

#include <fcntl.h>
#include <limits.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace vmrun::devices {
namespace {

std::string disk_name(const std::string& path) { return "disk '" + path + "'"; }

// Host I/O errors name the disk: "disk 'x': write at offset 512: EIO".
Result<void> named(const std::string& path, Result<void> r) {
  if (!r.ok()) return r.error().context(disk_name(path));
  return r;
}

Result<void> check_range(uint64_t offset, uint64_t len, uint64_t size) {
  if (offset > size || len > size - offset) {
    return Error("range [" + std::to_string(offset) + " +" +
                 std::to_string(len) + ") is past the end of the disk (" +
                 std::to_string(size) + " bytes)");
  }
  return ok();
}

// pread/pwrite over a list of buffers until every byte moved: retries
// EINTR and short transfers; end of file (the image shrank under us) is
// an error, not zeros.
Result<void> transfer(int fd, uint64_t offset, std::vector<iovec> iov,
                      bool write) {
  size_t i = 0;
  for (;;) {
    while (i < iov.size() && iov[i].iov_len == 0) ++i;
    if (i == iov.size()) return ok();
    int count = static_cast<int>(std::min<size_t>(iov.size() - i, IOV_MAX));
    ssize_t n = write ? pwritev(fd, &iov[i], count, static_cast<off_t>(offset))
                      : preadv(fd, &iov[i], count, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(std::string(write ? "write" : "read") +
                               " at offset " + std::to_string(offset));
    }
    if (n == 0) {
      return Error(std::string(write ? "write" : "read") + " at offset " +
                   std::to_string(offset) + ": unexpected end of file");
    }
    offset += static_cast<uint64_t>(n);
    for (size_t left = static_cast<size_t>(n); left > 0;) {
      size_t step = std::min(left, iov[i].iov_len);
      iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + step;
      iov[i].iov_len -= step;
      left -= step;
      if (iov[i].iov_len == 0) ++i;
    }
  }
}

Result<void> pread_full(int fd, uint64_t offset, std::span<uint8_t> out) {
  return transfer(fd, offset, {{out.data(), out.size()}}, false);
}

Result<void> pwrite_full(int fd, uint64_t offset,
                         std::span<const uint8_t> data) {
  return transfer(fd, offset,
                  {{const_cast<uint8_t*>(data.data()), data.size()}}, true);
}

Result<void> write_zero_bytes(int fd, uint64_t offset, uint64_t len) {
  static constexpr std::array<uint8_t, 64 * 1024> kZeros{};
  while (len > 0) {
    uint64_t n = std::min<uint64_t>(len, kZeros.size());
    VMRUN_TRY(pwrite_full(fd, offset, std::span(kZeros.data(), n)));
    offset += n;
    len -= n;
  }
  return ok();
}

bool unsupported(int err) { return err == EOPNOTSUPP || err == ENOSYS; }

// Zeros [offset, offset + len) with the first of `modes` the filesystem
// supports (clearing `*supported` for one it does not), else by writing.
Result<void> fallocate_zero(
    int fd, uint64_t offset, uint64_t len,
    std::initializer_list<std::pair<int, bool*>> modes) {
  if (len == 0) return ok();
  for (auto [mode, supported] : modes) {
    if (!*supported) continue;
    if (fallocate(fd, mode, static_cast<off_t>(offset),
                  static_cast<off_t>(len)) == 0) {
      return ok();
    }
    if (!unsupported(errno)) {
      return Error::from_errno("fallocate at offset " + std::to_string(offset));
    }
    *supported = false;
  }
  return write_zero_bytes(fd, offset, len);
}

constexpr int kPunchHole = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
constexpr int kZeroRange = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

// Punching a hole past the end of the file touches no data: it answers
// whether the filesystem can punch holes at all.
bool probe_punch_hole(int fd, uint64_t file_size) {
  uint64_t past_end = (file_size + 8191) & ~uint64_t{4095};
  return fallocate(fd, kPunchHole, static_cast<off_t>(past_end), 4096) == 0;
}

std::vector<iovec> to_iovecs(std::span<const std::span<uint8_t>> bufs) {
  std::vector<iovec> iov;
  iov.reserve(bufs.size());
  for (auto b : bufs) iov.push_back({b.data(), b.size()});
  return iov;
}

std::vector<iovec> to_iovecs(std::span<const std::span<const uint8_t>> bufs) {
  std::vector<iovec> iov;
  iov.reserve(bufs.size());
  for (auto b : bufs) iov.push_back({const_cast<uint8_t*>(b.data()), b.size()});
  return iov;
}

uint64_t total_size(const std::vector<iovec>& iov) {
  uint64_t n = 0;
  for (const auto& v : iov) n += v.iov_len;
  return n;
}

}  // namespace

Result<void> DiskBackend::read_vec(uint64_t offset,
                                   std::span<const std::span<uint8_t>> bufs) {
  for (auto b : bufs) {
    VMRUN_TRY(read_at(offset, b));
    offset += b.size();
  }
  return ok();
}

Result<void> DiskBackend::write_vec(
    uint64_t offset, std::span<const std::span<const uint8_t>> bufs) {
  for (auto b : bufs) {
    VMRUN_TRY(write_at(offset, b));
    offset += b.size();
  }
  return ok();
}

// ---- FileDisk ----

Result<std::unique_ptr<FileDisk>> FileDisk::open(const std::string& path,
                                                 bool read_only) {
  const std::string name = disk_name(path);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Error::from_errno(name);
  if (S_ISDIR(st.st_mode)) return Error(name + ": is a directory");
  if (!S_ISREG(st.st_mode)) return Error(name + ": not a regular file");

  int fd = ::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    // Readable but not writable: say how to use it anyway.
    if (!read_only && (err == EACCES || err == EPERM || err == EROFS) &&
        UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)).valid()) {
      return Error(name + ": not writable (" + std::strerror(err) +
                   "); attach it with ,ro or ,snapshot");
    }
    return Error::from_errno(name, err);
  }
  UniqueFd file(fd);

  while (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK)
      return Error(name + " is in use by another process");
    // Some network filesystems have no flock: the image is used unlocked.
    spdlog::debug("{}: flock: {}; not locked", name, std::strerror(errno));
    break;
  }

  if (fstat(fd, &st) != 0) return Error::from_errno(name + ": fstat");
  uint64_t bytes = static_cast<uint64_t>(st.st_size);
  if (bytes < kSectorSize) {
    return Error(name + ": smaller than one 512-byte sector");
  }
  if (bytes % kSectorSize != 0) {
    spdlog::debug(
        "{}: {} bytes, the last {} past the final whole sector are "
        "not visible to the guest",
        name, bytes, bytes % kSectorSize);
  }
  bool punch = !read_only && probe_punch_hole(fd, bytes);
  return std::unique_ptr<FileDisk>(
      new FileDisk(path, std::move(file), bytes / kSectorSize * kSectorSize,
                   read_only, punch));
}

Result<void> FileDisk::check_write(uint64_t offset, uint64_t len) const {
  if (read_only_) return Error(disk_name(path_) + ": read-only");
  return check_range(offset, len, size_);
}

Result<void> FileDisk::read_at(uint64_t offset, std::span<uint8_t> out) {
  VMRUN_TRY(check_range(offset, out.size(), size_));
  return named(path_, pread_full(fd_.get(), offset, out));
}

Result<void> FileDisk::write_at(uint64_t offset,
                                std::span<const uint8_t> data) {
  VMRUN_TRY(check_write(offset, data.size()));
  return named(path_, pwrite_full(fd_.get(), offset, data));
}

Result<void> FileDisk::read_vec(uint64_t offset,
                                std::span<const std::span<uint8_t>> bufs) {
  auto iov = to_iovecs(bufs);
  VMRUN_TRY(check_range(offset, total_size(iov), size_));
  return named(path_, transfer(fd_.get(), offset, std::move(iov), false));
}

Result<void> FileDisk::write_vec(
    uint64_t offset, std::span<const std::span<const uint8_t>> bufs) {
  auto iov = to_iovecs(bufs);
  VMRUN_TRY(check_write(offset, total_size(iov)));
  return named(path_, transfer(fd_.get(), offset, std::move(iov), true));
}

Result<void> FileDisk::flush() {
  if (read_only_) return ok();
  while (fdatasync(fd_.get()) != 0) {
    if (errno != EINTR)
      return Error::from_errno(disk_name(path_) + ": fdatasync");
  }
  return ok();
}

Result<void> FileDisk::discard(uint64_t offset, uint64_t len) {
  VMRUN_TRY(check_write(offset, len));
  return named(path_, fallocate_zero(fd_.get(), offset, len,
                                     {{kPunchHole, &punch_holes_}}));
}

Result<void> FileDisk::write_zeroes(uint64_t offset, uint64_t len) {
  VMRUN_TRY(check_write(offset, len));
  return named(path_, fallocate_zero(fd_.get(), offset, len,
                                     {{kZeroRange, &zero_range_},
                                      {kPunchHole, &punch_holes_}}));
}

// ---- SnapshotDisk ----

SnapshotDisk::SnapshotDisk(std::unique_ptr<FileDisk> base, UniqueFd overlay,
                           bool punch_holes)
    : base_(std::move(base)),
      overlay_(std::move(overlay)),
      punch_holes_(punch_holes) {
  uint64_t blocks = (base_->size() + kBlockSize - 1) / kBlockSize;
  leaves_.resize((blocks + kLeafBlocks - 1) / kLeafBlocks);
}

Result<std::unique_ptr<SnapshotDisk>> SnapshotDisk::create(
    std::unique_ptr<FileDisk> base, std::string tmp_dir) {
  if (tmp_dir.empty()) {
    const char* env = getenv("TMPDIR");
    tmp_dir = env && *env ? env : "/tmp";
  }
  const std::string what =
      disk_name(base->path()) + ": snapshot overlay in " + tmp_dir;
  // An unnamed file: nothing of it is left behind, even if vmrun is killed.
  int fd = ::open(tmp_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string tmpl = tmp_dir + "/vmrun-snapshot.XXXXXX";
    fd = mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd >= 0) unlink(tmpl.c_str());
  }
  if (fd < 0) return Error::from_errno(what);
  UniqueFd overlay(fd);
  // Sparse at the disk's size: blocks cost space only once written.
  if (ftruncate(fd, static_cast<off_t>(base->size())) != 0) {
    return Error::from_errno(what + ": ftruncate");
  }
  // The overlay is all hole yet: punching one tells whether it can.
  bool punch = fallocate(fd, kPunchHole, 0, kBlockSize) == 0;
  return std::unique_ptr<SnapshotDisk>(
      new SnapshotDisk(std::move(base), std::move(overlay), punch));
}

bool SnapshotDisk::present(uint64_t block) const {
  const auto& leaf = leaves_[block / kLeafBlocks];
  return leaf && leaf->test(block % kLeafBlocks);
}

void SnapshotDisk::mark(uint64_t first_block, uint64_t last_block) {
  for (uint64_t b = first_block; b <= last_block; ++b) {
    auto& leaf = leaves_[b / kLeafBlocks];
    if (!leaf) leaf = std::make_unique<Leaf>();
    if (!leaf->test(b % kLeafBlocks)) {
      leaf->set(b % kLeafBlocks);
      ++overlay_blocks_;
    }
  }
}

Result<void> SnapshotDisk::read_at(uint64_t offset, std::span<uint8_t> out) {
  VMRUN_TRY(check_range(offset, out.size(), size()));
  const uint64_t end = offset + out.size();
  uint64_t pos = offset;
  // Runs of blocks from the same side, one read each.
  while (pos < end) {
    uint64_t block = pos / kBlockSize;
    const bool in_overlay = present(block);
    uint64_t run_end = (block + 1) * kBlockSize;
    while (run_end < end && present(run_end / kBlockSize) == in_overlay) {
      run_end += kBlockSize;
    }
    run_end = std::min(run_end, end);
    auto piece = out.subspan(pos - offset, run_end - pos);
    if (in_overlay) {
      VMRUN_TRY(pread_full(overlay_.get(), pos, piece));
    } else {
      VMRUN_TRY(base_->read_at(pos, piece));
    }
    pos = run_end;
  }
  return ok();
}

Result<void> SnapshotDisk::copy_partial_edges(uint64_t offset, uint64_t len) {
  const uint64_t end = offset + len;
  const uint64_t first = offset / kBlockSize, last = (end - 1) / kBlockSize;
  for (uint64_t block : {first, last}) {
    if (present(block)) continue;
    const uint64_t start = block * kBlockSize;
    const uint64_t stop = std::min(start + kBlockSize, size());
    if (offset <= start && end >= stop) continue;  // wholly covered
    std::array<uint8_t, kBlockSize> buf;
    auto bytes = std::span(buf.data(), stop - start);
    VMRUN_TRY(base_->read_at(start, bytes));
    VMRUN_TRY(pwrite_full(overlay_.get(), start, bytes));
    mark(block, block);
    if (first == last) break;
  }
  return ok();
}

Result<void> SnapshotDisk::write_at(uint64_t offset,
                                    std::span<const uint8_t> data) {
  VMRUN_TRY(check_range(offset, data.size(), size()));
  if (data.empty()) return ok();
  VMRUN_TRY(copy_partial_edges(offset, data.size()));
  VMRUN_TRY(pwrite_full(overlay_.get(), offset, data));
  mark(offset / kBlockSize, (offset + data.size() - 1) / kBlockSize);
  return ok();
}

Result<void> SnapshotDisk::zero(uint64_t offset, uint64_t len) {
  VMRUN_TRY(check_range(offset, len, size()));
  if (len == 0) return ok();
  VMRUN_TRY(copy_partial_edges(offset, len));
  VMRUN_TRY(fallocate_zero(overlay_.get(), offset, len,
                           {{kPunchHole, &punch_holes_}}));
  mark(offset / kBlockSize, (offset + len - 1) / kBlockSize);
  return ok();
}

Result<void> SnapshotDisk::discard(uint64_t offset, uint64_t len) {
  return zero(offset, len);
}

Result<void> SnapshotDisk::write_zeroes(uint64_t offset, uint64_t len) {
  return zero(offset, len);
}

// ---- open_disk ----

Result<std::unique_ptr<DiskBackend>> open_disk(const DiskOptions& options) {
  const bool snapshot = options.snapshot && !options.read_only;
  auto file =
      VMRUN_TRY(FileDisk::open(options.path, options.read_only || snapshot));
  if (!snapshot) return std::unique_ptr<DiskBackend>(std::move(file));
  auto snap = VMRUN_TRY(SnapshotDisk::create(std::move(file)));
  return std::unique_ptr<DiskBackend>(std::move(snap));
}

}  // namespace vmrun::devices
