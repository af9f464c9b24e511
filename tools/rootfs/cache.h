// The conversion cache (docs/rootfs-images.md):
//   CACHE/HEX/            a finished entry: rootfs.ext4, config, used
//   CACHE/index/KEY       HEX of the image an input file (by path, device,
//                         inode, size, mtime) held when last converted
//   CACHE/locks/HEX.lock  flock'ed while HEX is being built
//   CACHE/tmp/build.*     entries being built (each dir flock'ed by its
//                         builder), and evicted ones being removed
// An entry appears only by rename(2), so it is complete when it exists.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace vmrun::rootfs {

// A directory under CACHE/tmp, removed with what it holds when this goes.
class BuildDir {
 public:
  BuildDir(std::string path, UniqueFd lock);
  BuildDir(BuildDir&&) = default;
  ~BuildDir();
  const std::string& path() const { return path_; }
  std::string entry() const { return path_ + "/entry"; }

 private:
  std::string path_;
  UniqueFd lock_;
};

class Cache {
 public:
  // Makes the directory and its parts when missing.
  static Result<Cache> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string entry_path(const std::string& hex) const {
    return dir_ + "/" + hex;
  }

  // A finished entry, marked used now; nullopt when there is none.
  std::optional<std::string> find(const std::string& hex) const;
  // The entry an input key was last converted to, when it still exists.
  std::optional<std::string> find_input(const std::string& key) const;
  Result<void> remember_input(const std::string& key,
                              const std::string& hex) const;

  Result<BuildDir> begin_build() const;
  // Held while building `hex`, so two processes do not both build it.
  Result<UniqueFd> lock(const std::string& hex) const;
  // Moves the build's entry into place; when another process put one
  // there first, that one is used. Returns the entry's path.
  Result<std::string> publish(const BuildDir& build,
                              const std::string& hex) const;
  // Removes least recently used entries until the cache holds at most
  // max_bytes, never `keep` nor an entry used in the last minute (a vmrun
  // may be about to open it). Best effort.
  void evict(uint64_t max_bytes, const std::string& keep) const;

 private:
  void sweep_builds() const;
  std::string dir_;
};

// The key of an input for the index: its real path, device, inode, size
// and mtime (for a layout directory: those of its index.json), and the
// NAME:TAG asked for.
Result<std::string> input_key(const std::string& path,
                              const std::string& selector);

// Removes a directory tree (never following symlinks). Best effort.
void remove_tree(const std::string& path);

}  // namespace vmrun::rootfs
