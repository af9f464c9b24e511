// The server's core: dispatch, the fid table, version, attach, walk, clunk.
// The operations live in file_ops.cc, dir_ops.cc and attr_ops.cc.
#include "devices/p9/server.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "devices/p9/server_internal.h"

namespace vmrun::devices::p9 {

bool valid_name(const std::string& name) {
  return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

Result<std::unique_ptr<Server>> Server::create(const std::string& dir, bool read_only) {
  UniqueFd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Error::from_errno("--9p: cannot open directory " + dir);
  return std::unique_ptr<Server>(new Server(std::move(root), read_only));
}

Server::Server(UniqueFd root, bool read_only) : root_(std::move(root)), read_only_(read_only) {
  fstat(root_.get(), &root_stat_);
}

std::vector<uint8_t> Server::handle(std::span<const uint8_t> request, size_t max_reply) {
  max_reply = std::max<size_t>(max_reply, 11);
  Reader r(request);
  const uint32_t size = r.u32();
  const uint8_t type = r.u8();
  const uint16_t tag = r.u16();
  if (!r.ok() || size != request.size()) return error_reply(r.ok() ? tag : kNoTag, EINVAL);
  Reply reply = dispatch(type, tag, r, max_reply);
  if (!reply.ok()) return error_reply(tag, errno_of(reply.error()));
  if (reply.value().size() > max_reply) return error_reply(tag, EMSGSIZE);
  return std::move(reply).value();
}

Server::Reply Server::dispatch(uint8_t type, uint16_t tag, Reader& r, size_t max_reply) {
  switch (type) {
    case kTversion: return version(tag, r);
    case kTattach: return attach(tag, r);
    case kTwalk: return walk(tag, r);
    case kTclunk: return clunk(tag, r, false);
    case kTremove: return clunk(tag, r, true);
    case kTflush: {
      r.u16();  // requests are answered in order: nothing is ever in flight
      if (!r.ok()) return errno_error(EINVAL);
      return Writer(kTflush + 1, tag).finish();
    }
    case kTlopen: return lopen(tag, r);
    case kTlcreate: return lcreate(tag, r);
    case kTread: return read(tag, r, max_reply);
    case kTwrite: return write(tag, r);
    case kTfsync: return fsync(tag, r);
    case kTlock: return lock(tag, r);
    case kTgetlock: return getlock(tag, r);
    case kTgetattr: return getattr(tag, r);
    case kTsetattr: return setattr(tag, r);
    case kTstatfs: return statfs(tag, r);
    case kTreadlink: return readlink(tag, r);
    case kTreaddir: return readdir(tag, r, max_reply);
    case kTmkdir: return mkdir(tag, r);
    case kTsymlink: return symlink(tag, r);
    case kTmknod: return mknod(tag, r);
    case kTlink: return link(tag, r);
    case kTrename: return rename(tag, r);
    case kTrenameat: return renameat(tag, r);
    case kTunlinkat: return unlinkat(tag, r);
    case kTxattrwalk:
    case kTxattrcreate:
      return errno_error(EOPNOTSUPP);  // no extended attributes
    default:
      return errno_error(EOPNOTSUPP);  // Tauth, and 9P2000(.u) messages
  }
}

Result<Server::Fid*> Server::fid(uint32_t id) {
  auto it = fids_.find(id);
  if (it == fids_.end()) return errno_error(EBADF);
  return &it->second;
}

Result<Server::Fid*> Server::new_fid(uint32_t id) {
  if (id == kNoFid || fids_.count(id)) return errno_error(EBADF);
  if (fids_.size() >= kMaxFids) return errno_error(ENFILE);
  return &fids_[id];
}

Result<void> Server::writable() const {
  if (read_only_) return errno_error(EROFS);
  return ok();
}

Result<Qid> Server::qid_of(int fd) {
  struct stat st;
  if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return errno_error(errno);
  return qid_from_stat(st);
}

Result<UniqueFd> Server::walk_one(int dir, const std::string& name) {
  open_how how{};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  if (name == "..") {
    // Up, but never above the share's root.
    if (is_root(dir)) return UniqueFd(fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
    how.resolve &= ~static_cast<uint64_t>(RESOLVE_BENEATH);  // ".." of a dir inside
    int fd = static_cast<int>(syscall(SYS_openat2, dir, "..", &how, sizeof how));
    if (fd < 0) return errno_error(errno);
    UniqueFd up(fd);
    // The fid's directory may have been moved out of the share on the host
    // since it was walked: its parent is then no longer below the root.
    if (!beneath_root(up.get())) return errno_error(ENOENT);
    return up;
  } else if (!valid_name(name)) {
    return errno_error(name.empty() || name == "." ? EINVAL : ENOENT);
  }
  int fd = static_cast<int>(syscall(SYS_openat2, dir, name.c_str(), &how, sizeof how));
  if (fd < 0) return errno_error(errno);
  return UniqueFd(fd);
}

bool Server::is_root(int fd) const {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == root_stat_.st_dev && st.st_ino == root_stat_.st_ino;
}

bool Server::beneath_root(int fd) const {
  UniqueFd cur(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  // Up to the filesystem's root (whose ".." is itself), looking for ours.
  for (int depth = 0; cur.valid() && depth < 4096; ++depth) {
    if (is_root(cur.get())) return true;
    UniqueFd up(openat(cur.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat a, b;
    if (!up.valid() || fstat(cur.get(), &a) < 0 || fstat(up.get(), &b) < 0) return false;
    if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) return false;  // reached "/"
    cur = std::move(up);
  }
  return false;
}

Result<UniqueFd> Server::reopen(int path_fd, int flags) {
  const std::string proc = "/proc/self/fd/" + std::to_string(path_fd);
  int fd = ::open(proc.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno_error(errno);
  return UniqueFd(fd);
}

Server::Reply Server::version(uint16_t tag, Reader& r) {
  const uint32_t msize = r.u32();
  const std::string version = r.str();
  if (!r.ok()) return errno_error(EINVAL);
  fids_.clear();  // a new session
  msize_ = std::clamp<uint32_t>(msize, 4096, kMaxMsize);
  Writer w(kTversion + 1, tag);
  w.u32(msize_);
  w.str(version.rfind("9P2000.L", 0) == 0 ? "9P2000.L" : "unknown");
  return std::move(w).finish();
}

Server::Reply Server::attach(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32();
  r.u32();  // afid: no authentication
  r.str();  // uname
  r.str();  // aname: the share is the root, whatever the client names
  r.u32();  // n_uname
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(new_fid(id));
  auto fd = std::make_shared<UniqueFd>(fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
  auto q = qid_of(fd->get());
  if (!q) {
    fids_.erase(id);
    return q.error();
  }
  f->path = std::move(fd);
  f->is_dir = true;
  Writer w(kTattach + 1, tag);
  w.qid(*q);
  return std::move(w).finish();
}

Server::Reply Server::walk(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32(), new_id = r.u32();
  const uint16_t n = r.u16();
  std::vector<std::string> names;
  for (uint16_t i = 0; i < n && r.ok(); ++i) names.push_back(r.str());
  if (!r.ok() || n > 16) return errno_error(EINVAL);  // 16: the protocol's MAXWELEM
  Fid* from = VMRUN_TRY(fid(id));
  if (new_id == kNoFid || (new_id != id && fids_.count(new_id))) return errno_error(EBADF);
  if (from->open.valid()) return errno_error(EBADF);  // an opened fid cannot walk

  std::shared_ptr<UniqueFd> cur = from->path, parent = from->parent;
  std::string name = from->name;
  bool is_dir = from->is_dir;
  std::vector<Qid> qids;
  for (const auto& next : names) {
    auto fd = walk_one(cur->get(), next);
    if (!fd) {
      if (qids.empty()) return fd.error();  // the first name failed: an error
      break;                                // later ones: a partial walk
    }
    auto q = qid_of(fd->get());
    if (!q) return q.error();
    qids.push_back(*q);
    parent = next == ".." ? nullptr : cur;
    name = next;
    cur = std::make_shared<UniqueFd>(std::move(fd).value());
    is_dir = q->type & kQidDir;
  }
  // Only a complete walk makes (or moves) newfid.
  if (qids.size() == names.size()) {
    if (new_id != id && fids_.size() >= kMaxFids) return errno_error(ENFILE);
    Fid& to = fids_[new_id];
    to.path = std::move(cur);
    to.parent = std::move(parent);
    to.name = std::move(name);
    to.is_dir = is_dir;
    to.open.reset();
  }
  Writer w(kTwalk + 1, tag);
  w.u16(static_cast<uint16_t>(qids.size()));
  for (const auto& q : qids) w.qid(q);
  return std::move(w).finish();
}

Server::Reply Server::clunk(uint16_t tag, Reader& r, bool remove) {
  const uint32_t id = r.u32();
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  int err = 0;
  if (remove) {
    // The fid goes away whether or not the file could be removed.
    if (read_only_) {
      err = EROFS;
    } else if (!f->parent) {
      err = EBUSY;  // the share's root (or a dir reached by "..")
    } else if (::unlinkat(f->parent->get(), f->name.c_str(), f->is_dir ? AT_REMOVEDIR : 0) < 0) {
      err = errno;
    }
  }
  fids_.erase(id);
  if (err) return errno_error(err);
  return Writer(static_cast<uint8_t>((remove ? kTremove : kTclunk) + 1), tag).finish();
}

}  // namespace vmrun::devices::p9
