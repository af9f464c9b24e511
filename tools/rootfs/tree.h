// The merged file tree of an image's layers. Paths are never resolved
// through symlinks: a node's children are only its own entries.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vmrun::rootfs {

enum class FileType : uint8_t {
  kRegular,
  kDirectory,
  kSymlink,
  kCharDevice,
  kBlockDevice,
  kFifo,
};

// What a path points at. Hard links share one Inode.
struct Inode {
  FileType type = FileType::kDirectory;
  uint32_t mode = 0755;  // permission bits with setuid, setgid, sticky
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;
  int32_t mtime_nsec = 0;
  uint64_t size = 0;  // regular files
  uint32_t rdev_major = 0, rdev_minor = 0;
  std::string symlink;
  std::vector<std::pair<std::string, std::string>> xattrs;
  // A regular file's data: the entry with this ordinal in this layer,
  // read again when the flattened tar is written.
  uint32_t layer = 0;
  uint64_t ordinal = 0;
};

struct Node {
  std::shared_ptr<Inode> inode;
  // The layer that last put an entry at this path: whiteouts and opaque
  // directories of layer N hide what layers below N put there.
  uint32_t layer = 0;
  std::map<std::string, std::unique_ptr<Node>> children;

  bool is_dir() const { return inode->type == FileType::kDirectory; }
};

struct MergedTree {
  Node root;
};

}  // namespace vmrun::rootfs
