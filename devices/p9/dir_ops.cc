// Directory operations: listing, and making, linking, renaming and
// removing entries. Every name is one component inside a directory fid.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "devices/p9/server.h"
#include "devices/p9/server_internal.h"

namespace vmrun::devices::p9 {
namespace {

constexpr uint32_t kAtRemoveDir = 0x200;  // Tunlinkat's flag, as Linux's AT_REMOVEDIR

uint8_t qid_type_of_dirent(uint8_t d_type) {
  return d_type == DT_DIR ? kQidDir : d_type == DT_LNK ? kQidSymlink : 0;
}

}  // namespace

Server::Reply Server::readdir(uint16_t tag, Reader& r, size_t max_reply) {
  const uint32_t id = r.u32();
  const uint64_t offset = r.u64();
  const uint32_t count = r.u32();
  if (!r.ok() || offset > INT64_MAX) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  if (!f->open.valid() || !f->is_dir) return errno_error(EBADF);
  // The offset is one getdents64 gave us earlier (an entry's d_off), or 0.
  if (lseek(f->open.get(), static_cast<off_t>(offset), SEEK_SET) < 0) return errno_error(errno);
  // Entries' qids are made like qid_from_stat's, so they match a walk's.
  struct stat dir_st;
  if (fstat(f->open.get(), &dir_st) < 0) return errno_error(errno);
  const dev_t dir_dev = dir_st.st_dev;
  Writer w(kTreaddir + 1, tag);
  w.u32(0);  // count, set below
  const size_t start = w.size();
  const size_t room = std::min<size_t>({count, max_reply - start, msize_ - start});
  alignas(8) uint8_t buf[32768];
  bool full = false;
  while (!full) {
    long n = syscall(SYS_getdents64, f->open.get(), buf, sizeof buf);
    if (n < 0) return errno_error(errno);
    if (n == 0) break;
    for (long at = 0; at < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + at);
      const std::string name = d->d_name;
      const size_t entry = 13 + 8 + 1 + 2 + name.size();
      if (w.size() - start + entry > room) {
        full = true;
        break;
      }
      Qid q;
      q.type = qid_type_of_dirent(d->d_type);
      q.path = static_cast<uint64_t>(d->d_ino) ^ (static_cast<uint64_t>(dir_dev) << 48);
      w.qid(q);
      w.u64(static_cast<uint64_t>(d->d_off));
      w.u8(d->d_type);
      w.str(name);
      at += d->d_reclen;
    }
  }
  const uint32_t bytes = static_cast<uint32_t>(w.size() - start);
  auto msg = std::move(w).finish();
  std::memcpy(msg.data() + kHeaderSize, &bytes, 4);
  return msg;
}

Server::Reply Server::mkdir(uint16_t tag, Reader& r) {
  const uint32_t dfid = r.u32();
  const std::string name = r.str();
  const uint32_t mode = r.u32();
  r.u32();  // gid
  if (!r.ok() || !valid_name(name)) return errno_error(EINVAL);
  Fid* d = VMRUN_TRY(fid(dfid));
  VMRUN_TRY(writable());
  if (mkdirat(d->path->get(), name.c_str(), safe_mode(mode)) < 0) return errno_error(errno);
  UniqueFd fd = VMRUN_TRY(walk_one(d->path->get(), name));
  Writer w(kTmkdir + 1, tag);
  w.qid(VMRUN_TRY(qid_of(fd.get())));
  return std::move(w).finish();
}

Server::Reply Server::symlink(uint16_t tag, Reader& r) {
  const uint32_t dfid = r.u32();
  const std::string name = r.str(), target = r.str();
  r.u32();  // gid
  if (!r.ok() || !valid_name(name) || target.empty() ||
      target.find('\0') != std::string::npos) {
    return errno_error(EINVAL);
  }
  Fid* d = VMRUN_TRY(fid(dfid));
  VMRUN_TRY(writable());
  // The target is only text to the host: the server never follows links.
  if (symlinkat(target.c_str(), d->path->get(), name.c_str()) < 0) return errno_error(errno);
  UniqueFd fd = VMRUN_TRY(walk_one(d->path->get(), name));
  Writer w(kTsymlink + 1, tag);
  w.qid(VMRUN_TRY(qid_of(fd.get())));
  return std::move(w).finish();
}

Server::Reply Server::mknod(uint16_t tag, Reader& r) {
  const uint32_t dfid = r.u32();
  const std::string name = r.str();
  const uint32_t mode = r.u32(), major = r.u32(), minor = r.u32();
  r.u32();  // gid
  if (!r.ok() || !valid_name(name)) return errno_error(EINVAL);
  Fid* d = VMRUN_TRY(fid(dfid));
  VMRUN_TRY(writable());
  const mode_t type = mode & S_IFMT;
  // FIFOs and sockets are local to the guest kernel; device nodes would
  // name host devices.
  if (type != S_IFIFO && type != S_IFSOCK && type != S_IFREG) return errno_error(EPERM);
  if (mknodat(d->path->get(), name.c_str(), type | safe_mode(mode), makedev(major, minor)) < 0) {
    return errno_error(errno);
  }
  UniqueFd fd = VMRUN_TRY(walk_one(d->path->get(), name));
  Writer w(kTmknod + 1, tag);
  w.qid(VMRUN_TRY(qid_of(fd.get())));
  return std::move(w).finish();
}

Server::Reply Server::link(uint16_t tag, Reader& r) {
  const uint32_t dfid = r.u32(), id = r.u32();
  const std::string name = r.str();
  if (!r.ok() || !valid_name(name)) return errno_error(EINVAL);
  Fid* d = VMRUN_TRY(fid(dfid));
  Fid* f = VMRUN_TRY(fid(id));
  VMRUN_TRY(writable());
  if (f->is_dir) return errno_error(EPERM);
  // Links the very file the fid holds (inside the share by construction),
  // through its descriptor rather than any path.
  const std::string proc = "/proc/self/fd/" + std::to_string(f->path->get());
  if (linkat(AT_FDCWD, proc.c_str(), d->path->get(), name.c_str(), AT_SYMLINK_FOLLOW) < 0) {
    return errno_error(errno);
  }
  return Writer(kTlink + 1, tag).finish();
}

Server::Reply Server::rename(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32(), dfid = r.u32();
  const std::string name = r.str();
  if (!r.ok() || !valid_name(name)) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  Fid* d = VMRUN_TRY(fid(dfid));
  VMRUN_TRY(writable());
  if (!f->parent) return errno_error(EBUSY);
  const std::string old_name = f->name;
  auto old_parent = f->parent;
  if (::renameat(old_parent->get(), old_name.c_str(), d->path->get(), name.c_str()) < 0) {
    return errno_error(errno);
  }
  renamed(old_parent->get(), old_name, d->path, name);
  return Writer(kTrename + 1, tag).finish();
}

Server::Reply Server::renameat(uint16_t tag, Reader& r) {
  const uint32_t old_dir = r.u32();
  const std::string old_name = r.str();
  const uint32_t new_dir = r.u32();
  const std::string new_name = r.str();
  if (!r.ok() || !valid_name(old_name) || !valid_name(new_name)) return errno_error(EINVAL);
  Fid* from = VMRUN_TRY(fid(old_dir));
  Fid* to = VMRUN_TRY(fid(new_dir));
  VMRUN_TRY(writable());
  if (::renameat(from->path->get(), old_name.c_str(), to->path->get(), new_name.c_str()) < 0) {
    return errno_error(errno);
  }
  renamed(from->path->get(), old_name, to->path, new_name);
  return Writer(kTrenameat + 1, tag).finish();
}

namespace {

bool same_file(int a, int b) {
  struct stat x, y;
  return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

}  // namespace

void Server::renamed(int dir, const std::string& name, const std::shared_ptr<UniqueFd>& new_dir,
                     const std::string& new_name) {
  // Fids hold descriptors, so they keep reaching their files; only the
  // (parent, name) that Tremove and Trename use needs to follow. Compared
  // by the directories' identity: each walk opens its own descriptor.
  for (auto& [n, f] : fids_) {
    if (!f.parent) continue;
    if (f.name == new_name && same_file(f.parent->get(), new_dir->get())) {
      f.parent.reset();  // the file this name was is gone (replaced)
      f.name.clear();
    }
  }
  for (auto& [n, f] : fids_) {
    if (f.parent && f.name == name && same_file(f.parent->get(), dir)) {
      f.parent = new_dir;
      f.name = new_name;
    }
  }
}

Server::Reply Server::unlinkat(uint16_t tag, Reader& r) {
  const uint32_t dfid = r.u32();
  const std::string name = r.str();
  const uint32_t flags = r.u32();
  if (!r.ok() || !valid_name(name) || (flags & ~kAtRemoveDir)) return errno_error(EINVAL);
  Fid* d = VMRUN_TRY(fid(dfid));
  VMRUN_TRY(writable());
  if (::unlinkat(d->path->get(), name.c_str(), (flags & kAtRemoveDir) ? AT_REMOVEDIR : 0) < 0) {
    return errno_error(errno);
  }
  return Writer(kTunlinkat + 1, tag).finish();
}

}  // namespace vmrun::devices::p9
