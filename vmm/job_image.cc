#include "vmm/job_image.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string_view>

#include "vmm/kernel_release.h"
#include "vmm/unique_fd.h"

// Last: ext2fs.h defines a clamp() macro that breaks <algorithm>'s
// std::clamp wherever the standard headers come after it.
#include <ext2fs/ext2fs.h>
#undef clamp

namespace vmrun {
namespace {

// A release is one short line; anything bigger is not what mkjob wrote.
constexpr uint64_t kMaxKernelFileSize = 256;

struct FsFree {
  // ext2fs_free, not ext2fs_close: close flushes a dirty file system, and
  // this one is never to be written.
  void operator()(struct struct_ext2_filsys* fs) const { ext2fs_free(fs); }
};
using Filesystem = std::unique_ptr<struct struct_ext2_filsys, FsFree>;

std::string ext2_error(errcode_t code) {
  // com_err knows libext2fs's codes once its table is registered (once:
  // registering is idempotent, but not free).
  static const bool registered = (initialize_ext2_error_table(), true);
  (void)registered;
  return error_message(code);
}

// `name` in directory `dir`; 0 when it is not there.
Result<ext2_ino_t> lookup(ext2_filsys fs, ext2_ino_t dir,
                          std::string_view name) {
  ext2_ino_t ino = 0;
  errcode_t e = ext2fs_lookup(fs, dir, name.data(),
                              static_cast<int>(name.size()), nullptr, &ino);
  if (e == EXT2_ET_FILE_NOT_FOUND) return ext2_ino_t{0};
  if (e) return Error("lookup of " + std::string(name) + ": " + ext2_error(e));
  return ino;
}

// The inode of kJobKernelFile, 0 when absent; follows no symlink.
Result<ext2_ino_t> find_kernel_file(ext2_filsys fs) {
  const ext2_ino_t dir = VMRUN_TRY(lookup(fs, EXT2_ROOT_INO, ".vmrun"));
  if (dir == 0) return ext2_ino_t{0};
  struct ext2_inode inode;
  if (errcode_t e = ext2fs_read_inode(fs, dir, &inode)) {
    return Error("inode of /.vmrun: " + ext2_error(e));
  }
  if (!LINUX_S_ISDIR(inode.i_mode)) return ext2_ino_t{0};  // no /.vmrun/ at all
  return lookup(fs, dir, "kernel");
}

// Opens the image read-only, only if it is a regular file or a block device
// (a FIFO would block). libext2fs opens it again by name: /proc/self/fd/N
// is this same file, with no window for another to take its place.
Result<Filesystem> open_filesystem(const std::string& path) {
  UniqueFd fd(
      ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return Error::from_errno("open");
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return Error::from_errno("stat");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    return Error("not a file or block device");
  const std::string name = "/proc/self/fd/" + std::to_string(fd.get());
  // No EXT2_FLAG_RW: the channel is opened O_RDONLY and nothing is written;
  // libext2fs never replays a journal (only e2fsck does), and without RW it
  // neither touches the MMP block nor takes an exclusive open.
  ext2_filsys fs = nullptr;
  errcode_t e =
      ext2fs_open2(name.c_str(), nullptr, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP,
                   0, 0, unix_io_manager, &fs);
  if (e) return Error(ext2_error(e));
  return Filesystem(fs);
}

}  // namespace

Result<JobImageKernel> read_job_image_kernel(const std::string& path) {
  JobImageKernel out;
  auto fs = open_filesystem(path);
  if (!fs) {
    out.unreadable = fs.error().message();
    return out;
  }
  // A damaged directory is the guest's to report, like a damaged image.
  auto ino = find_kernel_file(fs->get());
  if (!ino) {
    out.unreadable = ino.error().message();
    return out;
  }
  if (*ino == 0) return out;
  const std::string where = path + ": " + kJobKernelFile;
  struct ext2_inode inode;
  if (errcode_t e = ext2fs_read_inode(fs->get(), *ino, &inode)) {
    out.unreadable = std::string(kJobKernelFile) + ": " + ext2_error(e);
    return out;
  }
  const uint64_t size = EXT2_I_SIZE(&inode);
  if (!LINUX_S_ISREG(inode.i_mode) || size >= kMaxKernelFileSize) {
    return Error(where + " must be a regular file of under " +
                 std::to_string(kMaxKernelFileSize) +
                 " bytes: rebuild the image with vmrun-mkjob --dkms");
  }
  ext2_file_t file = nullptr;
  if (errcode_t e = ext2fs_file_open(fs->get(), *ino, 0, &file)) {
    out.unreadable = std::string(kJobKernelFile) + ": " + ext2_error(e);
    return out;
  }
  std::array<char, kMaxKernelFileSize> buf{};
  unsigned int got = 0;
  errcode_t e =
      ext2fs_file_read(file, buf.data(), static_cast<unsigned int>(size), &got);
  ext2fs_file_close(file);
  if (e) {
    out.unreadable = std::string(kJobKernelFile) + ": " + ext2_error(e);
    return out;
  }
  auto release = parse_release_line({buf.data(), std::min<size_t>(got, size)});
  if (!release) return release.error().context(where);
  out.release = std::move(release).value();
  return out;
}

Result<void> check_job_image_kernel(const std::string& image,
                                    const std::optional<std::string>& booted,
                                    const std::string& why_unknown) {
  const JobImageKernel job = VMRUN_TRY(read_job_image_kernel(image));
  if (job.unreadable) {
    spdlog::debug("{}: not checked against the guest kernel: {}", image,
                  *job.unreadable);
    return ok();
  }
  if (!job.release) return ok();
  if (!booted) {
    spdlog::warn(
        "{}'s modules were built for {}; this guest kernel's release is "
        "unknown "
        "({}), so they may not load",
        image, *job.release, why_unknown);
    return ok();
  }
  if (*job.release != *booted) {
    return Error(image + "'s modules were built for " + *job.release +
                 "; this guest kernel is " + *booted +
                 ": rebuild with vmrun-mkjob --dkms, or boot that kernel");
  }
  spdlog::debug("{}: modules built for {}, the guest kernel's release", image,
                *job.release);
  return ok();
}

}  // namespace vmrun
