// A 9P2000.L file server over one host directory (the share), as Linux's
// v9fs client uses it. Everything the guest sends is hostile:
//
// - Confinement: each fid holds an O_PATH descriptor of its file, reached
//   one name at a time from the share's root. Names with '/' or NUL are
//   refused; a walk opens `name` relative to the parent's descriptor with
//   openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so no symlink on the
//   host is ever followed (the guest kernel resolves symlinks itself, with
//   readlink and further walks) and `..` never leaves the root. Files are
//   opened for I/O through their descriptor (/proc/self/fd), never by path.
// - Only regular files and directories are opened: a device node in the
//   share could otherwise open a host device. Creating device nodes is
//   refused.
// - A read-only share answers every change with EROFS.
// - Ownership: files the guest creates belong to the user running vmrun;
//   chown from the guest is accepted and ignored (there is no mapping of
//   guest users to host users), and set-user/group-ID bits are dropped.
//
// One request at a time (the virtio device's worker thread calls handle()).
#pragma once

#include <sys/stat.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "devices/p9/wire.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace vmrun::devices::p9 {

class Server {
 public:
  static constexpr uint32_t kMaxMsize = 1 << 20;
  // Bounds the descriptors a guest can make vmrun hold.
  static constexpr size_t kMaxFids = 1 << 16;

  static Result<std::unique_ptr<Server>> create(const std::string& dir, bool read_only);

  // Answers one request. The reply is at most max(`max_reply`, 11) bytes:
  // reads and directory listings are cut to fit, anything else that would
  // not fit becomes an error.
  std::vector<uint8_t> handle(std::span<const uint8_t> request, size_t max_reply);

  // Tread and Twrite with the data straight in guest memory (no copy):
  // `head` is the message up to its data (23 bytes: size, type, tag, fid,
  // offset, count), `data` the host views of the guest's buffers the data
  // goes to (Tread; their total bounds the count) or comes from (Twrite;
  // exactly `count` bytes). Returns the reply without its data: a Tread's
  // count says how many bytes were put in `data`.
  std::vector<uint8_t> handle_io(std::span<const uint8_t> head, std::span<const iovec> data);

  uint32_t msize() const { return msize_; }
  size_t fid_count() const { return fids_.size(); }

 private:
  struct Fid {
    // O_PATH | O_NOFOLLOW: names the file, cannot do I/O. Shared: a walked
    // fid keeps its directory's as `parent` (for Tremove and Trename, which
    // name the file by fid alone).
    std::shared_ptr<UniqueFd> path;
    std::shared_ptr<UniqueFd> parent;  // null for the root
    std::string name;                  // in `parent`
    UniqueFd open;                     // after lopen/lcreate
    bool is_dir = false;
  };
  using Reply = Result<std::vector<uint8_t>>;

  Server(UniqueFd root, bool read_only);

  Reply dispatch(uint8_t type, uint16_t tag, Reader& r, size_t max_reply);
  // Fid table.
  Result<Fid*> fid(uint32_t id);
  Result<Fid*> new_fid(uint32_t id);
  Result<Qid> qid_of(int fd);
  Result<UniqueFd> walk_one(int dir, const std::string& name);
  Result<UniqueFd> reopen(int path_fd, int flags);
  Result<void> writable() const;
  bool is_root(int fd) const;
  bool beneath_root(int fd) const;
  // After a rename of (dir, name) to (new_dir, new_name): every fid of the
  // moved file follows it; fids of a file the rename replaced lose their
  // name (it is no longer theirs).
  void renamed(int dir, const std::string& name, const std::shared_ptr<UniqueFd>& new_dir,
               const std::string& new_name);

  Reply version(uint16_t tag, Reader& r);
  Reply attach(uint16_t tag, Reader& r);
  Reply walk(uint16_t tag, Reader& r);
  Reply clunk(uint16_t tag, Reader& r, bool remove);
  Reply lopen(uint16_t tag, Reader& r);
  Reply lcreate(uint16_t tag, Reader& r);
  Reply read(uint16_t tag, Reader& r, size_t max_reply);
  Reply write(uint16_t tag, Reader& r);
  Reply fsync(uint16_t tag, Reader& r);
  Reply lock(uint16_t tag, Reader& r);
  Reply getlock(uint16_t tag, Reader& r);
  Reply getattr(uint16_t tag, Reader& r);
  Reply setattr(uint16_t tag, Reader& r);
  Reply statfs(uint16_t tag, Reader& r);
  Reply readlink(uint16_t tag, Reader& r);
  Reply readdir(uint16_t tag, Reader& r, size_t max_reply);
  Reply mkdir(uint16_t tag, Reader& r);
  Reply symlink(uint16_t tag, Reader& r);
  Reply mknod(uint16_t tag, Reader& r);
  Reply link(uint16_t tag, Reader& r);
  Reply rename(uint16_t tag, Reader& r);
  Reply renameat(uint16_t tag, Reader& r);
  Reply unlinkat(uint16_t tag, Reader& r);

  UniqueFd root_;
  struct stat root_stat_{};
  bool read_only_;
  uint32_t msize_ = 8192;
  std::unordered_map<uint32_t, Fid> fids_;
};

// A name the guest may use for one directory entry: not empty, not "." or
// "..", no '/' or NUL, at most 255 bytes.
bool valid_name(const std::string& name);

}  // namespace vmrun::devices::p9
