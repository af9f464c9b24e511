// Helpers shared by the server's source files.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "devices/p9/wire.h"
#include "vmm/result.h"

namespace vmrun::devices::p9 {

// Operations fail with an errno for the guest (Rlerror). It travels inside
// an Error as "errno N" so the usual VMRUN_TRY plumbing carries it.
inline Error errno_error(int err) { return Error("errno " + std::to_string(err)); }

inline int errno_of(const Error& e) {
  const std::string& m = e.message();
  if (m.rfind("errno ", 0) == 0) {
    int v = std::atoi(m.c_str() + 6);
    if (v > 0) return v;
  }
  return EIO;
}

inline Qid qid_from_stat(const struct stat& st) {
  Qid q;
  q.type = S_ISDIR(st.st_mode) ? kQidDir : S_ISLNK(st.st_mode) ? kQidSymlink : 0;
  // The inode number names the file; the device keeps files of different
  // filesystems under the share apart.
  q.path = static_cast<uint64_t>(st.st_ino) ^ (static_cast<uint64_t>(st.st_dev) << 48);
  return q;
}

// The guest's open flags (Linux's, which 9P2000.L uses unchanged on x86)
// reduced to what the server honours: access mode, truncate, append, sync.
// Creation is a separate message; O_DIRECT's alignment rules and
// O_NONBLOCK/O_ASYNC make no sense for the host file.
inline int host_open_flags(uint32_t guest) {
  const int keep = O_ACCMODE | O_TRUNC | O_APPEND | O_DSYNC | O_SYNC | O_DIRECTORY | O_NOATIME;
  // No O_NOFOLLOW: files are reopened through /proc/self/fd/N, a magic
  // link to the very inode the fid holds, which must be followed.
  return static_cast<int>(guest) & keep;
}

inline bool wants_write(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND));
}

// Modes the guest may set on host files: no set-user/group-ID.
inline mode_t safe_mode(uint32_t mode) { return static_cast<mode_t>(mode) & 01777; }

}  // namespace vmrun::devices::p9
