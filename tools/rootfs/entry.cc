#include "tools/rootfs/entry.h"

#include <algorithm>
#include <string_view>

#include "tools/rootfs/errors.h"

namespace vmrun::rootfs {
namespace {

constexpr size_t kSymlinkMax = 4095;  // ext4: one block, less the NUL
constexpr size_t kMaxXattrs = 256;    // per entry; ext4 holds far fewer

}  // namespace

const char* entry_name(const char* local, const char* utf8) {
  return local ? local : utf8;
}

Result<std::shared_ptr<Inode>> read_inode(archive_entry* e, int64_t size,
                                          const Limits& limits,
                                          const std::string& what) {
  auto inode = std::make_shared<Inode>();
  switch (archive_entry_filetype(e)) {
    case AE_IFREG:
      inode->type = FileType::kRegular;
      break;
    case AE_IFDIR:
      inode->type = FileType::kDirectory;
      break;
    case AE_IFLNK:
      inode->type = FileType::kSymlink;
      break;
    case AE_IFCHR:
      inode->type = FileType::kCharDevice;
      break;
    case AE_IFBLK:
      inode->type = FileType::kBlockDevice;
      break;
    case AE_IFIFO:
      inode->type = FileType::kFifo;
      break;
    default:
      return input_error(what + " has an unknown file type");
  }
  const la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
  if (uid < 0 || uid > 0xfffffffe || gid < 0 || gid > 0xfffffffe) {
    return input_error(what + " has an invalid owner");
  }
  inode->mode = archive_entry_perm(e) & 07777;
  inode->uid = static_cast<uint32_t>(uid);
  inode->gid = static_cast<uint32_t>(gid);
  inode->mtime = archive_entry_mtime(e);
  inode->mtime_nsec = static_cast<int32_t>(archive_entry_mtime_nsec(e));
  if (inode->type == FileType::kRegular) {
    inode->size = static_cast<uint64_t>(size);
  }
  if (inode->type == FileType::kSymlink) {
    const char* s =
        entry_name(archive_entry_symlink(e), archive_entry_symlink_utf8(e));
    inode->symlink = s ? s : "";
    if (inode->symlink.empty() || inode->symlink.size() > kSymlinkMax) {
      return input_error(what +
                         " is a symlink with an empty or too long target");
    }
  }
  if (inode->type == FileType::kCharDevice ||
      inode->type == FileType::kBlockDevice) {
    inode->rdev_major = static_cast<uint32_t>(archive_entry_rdevmajor(e));
    inode->rdev_minor = static_cast<uint32_t>(archive_entry_rdevminor(e));
  }
  auto too_large = [&] {
    return input_error(what + " has more than " +
                       std::to_string(limits.max_xattr_bytes) +
                       " bytes of extended attributes");
  };
  size_t xattr_bytes = 0;
  archive_entry_xattr_reset(e);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t vsize = 0;
  while (archive_entry_xattr_next(e, &name, &value, &vsize) == ARCHIVE_OK) {
    if (!name || !*name) continue;
    xattr_bytes += std::string_view(name).size() + vsize;
    // Bounds the work; the attributes kept are checked below.
    if (xattr_bytes > 2 * limits.max_xattr_bytes) return too_large();
    // A pax header may carry an attribute twice (SCHILY.xattr and
    // LIBARCHIVE.xattr): the last one counts.
    std::string v(static_cast<const char*>(value), vsize);
    auto same = std::find_if(inode->xattrs.begin(), inode->xattrs.end(),
                             [&](const auto& x) { return x.first == name; });
    if (same != inode->xattrs.end()) {
      same->second = std::move(v);
    } else if (inode->xattrs.size() >= kMaxXattrs) {
      return input_error(what + " has more than " + std::to_string(kMaxXattrs) +
                         " extended attributes");
    } else {
      inode->xattrs.emplace_back(name, std::move(v));
    }
  }
  xattr_bytes = 0;
  for (const auto& [k, v] : inode->xattrs) xattr_bytes += k.size() + v.size();
  if (xattr_bytes > limits.max_xattr_bytes) return too_large();
  return inode;
}

}  // namespace vmrun::rootfs
