// File attributes: getattr, setattr, statfs, readlink.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>

#include "devices/p9/server.h"
#include "devices/p9/server_internal.h"

namespace vmrun::devices::p9 {
namespace {

constexpr uint64_t kGetattrBasic = 0x7ff;  // mode .. blocks: all we fill in

// Tsetattr's valid bits.
constexpr uint32_t kSetMode = 0x1, kSetUid = 0x2, kSetGid = 0x4, kSetSize = 0x8,
                   kSetAtime = 0x10, kSetMtime = 0x20, kSetAtimeSet = 0x80,
                   kSetMtimeSet = 0x100;

std::string proc_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace

Server::Reply Server::getattr(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32();
  r.u64();  // request mask: the basic set is always cheap to give
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  struct stat st;
  if (fstatat(f->path->get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
    return errno_error(errno);
  }
  Writer w(kTgetattr + 1, tag);
  w.u64(kGetattrBasic);
  w.qid(qid_from_stat(st));
  w.u32(st.st_mode);
  w.u32(st.st_uid);
  w.u32(st.st_gid);
  w.u64(st.st_nlink);
  w.u64(st.st_rdev);
  w.u64(static_cast<uint64_t>(st.st_size));
  w.u64(static_cast<uint64_t>(st.st_blksize));
  w.u64(static_cast<uint64_t>(st.st_blocks));
  for (const auto& t : {st.st_atim, st.st_mtim, st.st_ctim}) {
    w.u64(static_cast<uint64_t>(t.tv_sec));
    w.u64(static_cast<uint64_t>(t.tv_nsec));
  }
  for (int i = 0; i < 4; ++i) w.u64(0);  // btime, gen, data_version: not given
  return std::move(w).finish();
}

Server::Reply Server::setattr(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32(), valid = r.u32(), mode = r.u32();
  r.u32();  // uid
  r.u32();  // gid
  const uint64_t size = r.u64();
  timespec times[2];
  for (auto& t : times) {
    t.tv_sec = static_cast<time_t>(r.u64());
    t.tv_nsec = static_cast<long>(r.u64());
  }
  if (!r.ok() || size > INT64_MAX) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  VMRUN_TRY(writable());
  const std::string proc = proc_path(f->path->get());
  if ((valid & kSetMode) && chmod(proc.c_str(), safe_mode(mode)) < 0) return errno_error(errno);
  // kSetUid/kSetGid: accepted and ignored; files stay vmrun's user's.
  (void)kSetUid;
  (void)kSetGid;
  if (valid & kSetSize) {
    // Through the file itself, not the open descriptor, which may be
    // read-only (Linux sends setattr on whatever fid it has).
    if (truncate(proc.c_str(), static_cast<off_t>(size)) < 0) return errno_error(errno);
  }
  if (valid & (kSetAtime | kSetMtime)) {
    if (!(valid & kSetAtime)) times[0].tv_nsec = UTIME_OMIT;
    else if (!(valid & kSetAtimeSet)) times[0].tv_nsec = UTIME_NOW;
    if (!(valid & kSetMtime)) times[1].tv_nsec = UTIME_OMIT;
    else if (!(valid & kSetMtimeSet)) times[1].tv_nsec = UTIME_NOW;
    for (auto& t : times) {
      if (t.tv_nsec != UTIME_OMIT && t.tv_nsec != UTIME_NOW &&
          (t.tv_nsec < 0 || t.tv_nsec > 999999999)) {
        return errno_error(EINVAL);
      }
    }
    if (utimensat(AT_FDCWD, proc.c_str(), times, 0) < 0) return errno_error(errno);
  }
  return Writer(kTsetattr + 1, tag).finish();
}

Server::Reply Server::statfs(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32();
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  struct statfs s;
  if (fstatfs(f->path->get(), &s) < 0) return errno_error(errno);
  Writer w(kTstatfs + 1, tag);
  w.u32(0x01021997);  // V9FS_MAGIC
  w.u32(static_cast<uint32_t>(s.f_bsize));
  w.u64(s.f_blocks);
  w.u64(s.f_bfree);
  w.u64(s.f_bavail);
  w.u64(s.f_files);
  w.u64(s.f_ffree);
  uint64_t fsid;
  static_assert(sizeof fsid == sizeof s.f_fsid);
  std::memcpy(&fsid, &s.f_fsid, sizeof fsid);
  w.u64(fsid);
  w.u32(static_cast<uint32_t>(s.f_namelen));
  return std::move(w).finish();
}

Server::Reply Server::readlink(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32();
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  char buf[4096];
  ssize_t n = readlinkat(f->path->get(), "", buf, sizeof buf);
  if (n < 0) return errno_error(errno);
  Writer w(kTreadlink + 1, tag);
  w.str(std::string(buf, static_cast<size_t>(n)));
  return std::move(w).finish();
}

}  // namespace vmrun::devices::p9
