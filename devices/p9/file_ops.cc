// Opening, creating, reading and writing files; fsync and POSIX locks.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "devices/p9/server.h"
#include "devices/p9/server_internal.h"

namespace vmrun::devices::p9 {

Server::Reply Server::lopen(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32(), flags = r.u32();
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  if (f->open.valid()) return errno_error(EBADF);
  struct stat st;
  if (fstatat(f->path->get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
    return errno_error(errno);
  }
  // Only files and directories: opening a device node or FIFO on the host
  // would reach host devices or block the server.
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return errno_error(S_ISLNK(st.st_mode) ? ELOOP : EPERM);
  int host = host_open_flags(flags);
  if (S_ISDIR(st.st_mode)) host = O_RDONLY | O_DIRECTORY;
  if (wants_write(host)) VMRUN_TRY(writable());
  f->open = VMRUN_TRY(reopen(f->path->get(), host));
  Writer w(kTlopen + 1, tag);
  w.qid(qid_from_stat(st));
  w.u32(0);  // iounit: the client uses msize
  return std::move(w).finish();
}

Server::Reply Server::lcreate(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32();
  const std::string name = r.str();
  const uint32_t flags = r.u32(), mode = r.u32();
  r.u32();  // gid: files belong to vmrun's user
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  if (f->open.valid() || !f->is_dir) return errno_error(ENOTDIR);
  if (!valid_name(name)) return errno_error(EINVAL);
  VMRUN_TRY(writable());
  const int host = host_open_flags(flags) & ~O_DIRECTORY;
  int fd = openat(f->path->get(), name.c_str(), host | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  safe_mode(mode));
  if (fd < 0) return errno_error(errno);
  UniqueFd opened(fd);
  int p = openat(f->path->get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (p < 0) return errno_error(errno);
  auto path = std::make_shared<UniqueFd>(p);
  Qid q = VMRUN_TRY(qid_of(path->get()));
  // The fid now stands for the new, open file (the protocol's rule).
  f->parent = std::move(f->path);
  f->path = std::move(path);
  f->name = name;
  f->is_dir = false;
  f->open = std::move(opened);
  Writer w(kTlcreate + 1, tag);
  w.qid(q);
  w.u32(0);
  return std::move(w).finish();
}

Server::Reply Server::read(uint16_t tag, Reader& r, size_t max_reply) {
  const uint32_t id = r.u32();
  const uint64_t offset = r.u64();
  uint32_t count = r.u32();
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  if (!f->open.valid() || f->is_dir) return errno_error(EBADF);
  if (offset > INT64_MAX) return errno_error(EINVAL);
  Writer w(kTread + 1, tag);
  const size_t room = std::min<size_t>(max_reply, msize_) - w.size() - 4;
  count = static_cast<uint32_t>(std::min<size_t>(count, room));
  w.u32(0);  // the count, set below
  uint8_t* data = w.extend(count);
  ssize_t n = pread(f->open.get(), data, count, static_cast<off_t>(offset));
  if (n < 0) return errno_error(errno);
  w.shrink(count - static_cast<size_t>(n));
  auto msg = std::move(w).finish();
  const uint32_t got = static_cast<uint32_t>(n);
  std::memcpy(msg.data() + kHeaderSize, &got, 4);
  return msg;
}

Server::Reply Server::write(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32();
  const uint64_t offset = r.u64();
  const uint32_t count = r.u32();
  auto data = r.bytes(count);
  if (!r.ok() || offset > INT64_MAX) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  if (!f->open.valid() || f->is_dir) return errno_error(EBADF);
  VMRUN_TRY(writable());
  ssize_t n = pwrite(f->open.get(), data.data(), data.size(), static_cast<off_t>(offset));
  if (n < 0) return errno_error(errno);
  Writer w(kTwrite + 1, tag);
  w.u32(static_cast<uint32_t>(n));
  return std::move(w).finish();
}

std::vector<uint8_t> Server::handle_io(std::span<const uint8_t> head,
                                       std::span<const iovec> data) {
  Reader r(head);
  r.u32();  // size: the caller checked it against the chain
  const uint8_t type = r.u8();
  const uint16_t tag = r.u16();
  const uint32_t id = r.u32();
  const uint64_t offset = r.u64();
  const uint32_t count = r.u32();
  if (!r.ok() || (type != kTread && type != kTwrite) || offset > INT64_MAX) {
    return error_reply(r.ok() ? tag : kNoTag, EINVAL);
  }
  auto f = fid(id);
  if (!f || !(*f)->open.valid() || (*f)->is_dir) return error_reply(tag, EBADF);
  if (type == kTwrite && read_only_) return error_reply(tag, EROFS);
  // At most `count` bytes, and for a read no more than msize allows.
  std::vector<iovec> iov;
  size_t limit = type == kTread ? std::min<size_t>(count, msize_ - 11) : count;
  for (const iovec& v : data) {
    if (limit == 0) break;
    const size_t n = std::min(v.iov_len, limit);
    iov.push_back({v.iov_base, n});
    limit -= n;
  }
  if (type == kTwrite && limit != 0) return error_reply(tag, EINVAL);  // short data
  const int fd = (*f)->open.get();
  const int cnt = static_cast<int>(std::min<size_t>(iov.size(), IOV_MAX));
  ssize_t n = type == kTread ? preadv(fd, iov.data(), cnt, static_cast<off_t>(offset))
                             : pwritev(fd, iov.data(), cnt, static_cast<off_t>(offset));
  if (n < 0) return error_reply(tag, errno);
  Writer w(static_cast<uint8_t>(type + 1), tag);
  w.u32(static_cast<uint32_t>(n));
  auto reply = std::move(w).finish();
  if (type == kTread) {
    // The size field counts the data that went into `data`.
    const uint32_t size = static_cast<uint32_t>(reply.size() + static_cast<size_t>(n));
    std::memcpy(reply.data(), &size, 4);
  }
  return reply;
}

Server::Reply Server::fsync(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32(), datasync = r.u32();
  if (!r.ok()) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  if (!f->open.valid()) return errno_error(EBADF);
  if ((datasync ? fdatasync(f->open.get()) : ::fsync(f->open.get())) < 0) {
    return errno_error(errno);
  }
  return Writer(kTfsync + 1, tag).finish();
}

namespace {

// 9P lock types are F_RDLCK, F_WRLCK, F_UNLCK as numbers 0, 1, 2.
bool lock_type(uint8_t t, short* out) {
  static const short kTypes[] = {F_RDLCK, F_WRLCK, F_UNLCK};
  if (t > 2) return false;
  *out = kTypes[t];
  return true;
}
uint8_t lock_type_back(short t) { return t == F_RDLCK ? 0 : t == F_WRLCK ? 1 : 2; }

// The byte range and type both lock messages carry, as a struct flock.
bool lock_range(uint8_t type, uint64_t start, uint64_t length, struct flock* fl) {
  *fl = {};
  if (!lock_type(type, &fl->l_type) || start > INT64_MAX || length > INT64_MAX) return false;
  fl->l_whence = SEEK_SET;
  fl->l_start = static_cast<off_t>(start);
  fl->l_len = static_cast<off_t>(length);
  return true;
}

}  // namespace

// Locks are open-file-description locks on the host file, so they hold
// against other processes on the host too. Never blocking: a held lock is
// answered "blocked" and the client retries.
Server::Reply Server::lock(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32();
  const uint8_t type = r.u8();
  r.u32();  // flags (block/reclaim): never block the server
  const uint64_t start = r.u64(), length = r.u64();
  r.u32();  // proc_id
  r.str();  // client_id
  struct flock fl;
  if (!r.ok() || !lock_range(type, start, length, &fl)) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  if (!f->open.valid()) return errno_error(EBADF);
  uint8_t status = 0;  // success
  if (fcntl(f->open.get(), F_OFD_SETLK, &fl) < 0) {
    status = (errno == EAGAIN || errno == EACCES) ? 1 : 2;  // blocked : error
  }
  Writer w(kTlock + 1, tag);
  w.u8(status);
  return std::move(w).finish();
}

Server::Reply Server::getlock(uint16_t tag, Reader& r) {
  const uint32_t id = r.u32();
  const uint8_t type = r.u8();
  const uint64_t start = r.u64(), length = r.u64();
  const uint32_t proc_id = r.u32();
  const std::string client = r.str();
  struct flock fl;
  if (!r.ok() || !lock_range(type, start, length, &fl)) return errno_error(EINVAL);
  Fid* f = VMRUN_TRY(fid(id));
  if (!f->open.valid()) return errno_error(EBADF);
  if (fcntl(f->open.get(), F_OFD_GETLK, &fl) < 0) return errno_error(errno);
  Writer w(kTgetlock + 1, tag);
  w.u8(lock_type_back(fl.l_type));
  w.u64(static_cast<uint64_t>(fl.l_start));
  w.u64(static_cast<uint64_t>(fl.l_len));
  w.u32(fl.l_type == F_UNLCK ? proc_id : static_cast<uint32_t>(fl.l_pid));
  w.str(client);
  return std::move(w).finish();
}

}  // namespace vmrun::devices::p9
