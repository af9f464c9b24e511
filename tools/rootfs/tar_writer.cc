#include "tools/rootfs/tar_writer.h"

#include <unistd.h>

#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "tools/rootfs/errors.h"

namespace vmrun::rootfs {
namespace {

using Visit = std::function<Result<void>(const std::string&, const Node&)>;

// Pre-order, children in name order: parents first, and the same tree
// always gives the same stream.
Result<void> walk_tree(const Node& node, const std::string& path,
                       const Visit& visit) {
  VMRUN_TRY(visit(path, node));
  for (const auto& [name, child] : node.children) {
    VMRUN_TRY(walk_tree(*child, path == "." ? name : path + "/" + name, visit));
  }
  return ok();
}

mode_t ae_type(FileType t) {
  switch (t) {
    case FileType::kRegular:
      return AE_IFREG;
    case FileType::kDirectory:
      return AE_IFDIR;
    case FileType::kSymlink:
      return AE_IFLNK;
    case FileType::kCharDevice:
      return AE_IFCHR;
    case FileType::kBlockDevice:
      return AE_IFBLK;
    case FileType::kFifo:
      return AE_IFIFO;
  }
  return AE_IFREG;
}

la_ssize_t append_to_string(archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

class Writer {
 public:
  Result<void> open(TarOutput out) {
    a_.reset(archive_write_new());
    if (!a_) return Error("archive_write_new: out of memory");
    // pax: long names, large files and xattrs. A name that is not UTF-8
    // goes out as raw bytes (libarchive marks that entry hdrcharset=BINARY).
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    int rc = out.buffer ? archive_write_open(a_.get(), out.buffer, nullptr,
                                             append_to_string, nullptr)
                        : archive_write_open_fd(a_.get(), out.fd);
    if (rc != ARCHIVE_OK) return failed();
    return ok();
  }

  Result<void> header(const std::string& path, const Inode& inode,
                      const std::string* hardlink_to) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(
        archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), ae_type(inode.type));
    archive_entry_set_perm(e.get(), inode.mode);
    archive_entry_set_uid(e.get(), inode.uid);
    archive_entry_set_gid(e.get(), inode.gid);
    archive_entry_set_mtime(e.get(), inode.mtime, inode.mtime_nsec);
    if (hardlink_to) {
      archive_entry_set_hardlink(e.get(), hardlink_to->c_str());
      archive_entry_set_size(e.get(), 0);
    } else {
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(inode.size));
      if (inode.type == FileType::kSymlink) {
        archive_entry_set_symlink(e.get(), inode.symlink.c_str());
      }
      archive_entry_set_rdevmajor(e.get(), inode.rdev_major);
      archive_entry_set_rdevminor(e.get(), inode.rdev_minor);
      for (const auto& [name, value] : inode.xattrs) {
        archive_entry_xattr_add_entry(e.get(), name.c_str(), value.data(),
                                      value.size());
      }
    }
    if (archive_write_header(a_.get(), e.get()) < ARCHIVE_WARN) {
      return failed();
    }
    return ok();
  }

  Result<void> data(const void* buf, size_t n) {
    if (archive_write_data(a_.get(), buf, n) != static_cast<la_ssize_t>(n)) {
      return failed();
    }
    return ok();
  }

  Result<void> close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return failed();
    return ok();
  }

 private:
  Error failed() {
    return Error("writing the flattened tar: " + archive_message(a_.get()));
  }
  WriteArchive a_;
};

// Copies the data of the regular files whose data live in `layer` (by
// entry ordinal), each under its first path.
Result<void> copy_layer_data(
    Writer& w, uint32_t layer, const TarInput& in,
    const std::map<uint64_t, const Inode*>& wanted,
    const std::unordered_map<const Inode*, std::string>& first) {
  ReadArchive a = VMRUN_TRY(open_tar(in));
  std::vector<char> buf(256 * 1024);
  archive_entry* e = nullptr;
  auto next = wanted.begin();
  for (uint64_t ordinal = 0; next != wanted.end(); ++ordinal) {
    int rc = archive_read_next_header(a.get(), &e);
    if (rc < ARCHIVE_WARN || rc == ARCHIVE_RETRY || rc == ARCHIVE_EOF) {
      return input_error("layer " + std::to_string(layer) + ": " +
                         (rc == ARCHIVE_EOF ? "changed while it was read"
                                            : archive_message(a.get())));
    }
    if (ordinal != next->first) continue;
    const Inode& inode = *next->second;
    ++next;
    if (archive_entry_filetype(e) != AE_IFREG ||
        archive_entry_size(e) != static_cast<la_int64_t>(inode.size)) {
      return input_error("layer " + std::to_string(layer) +
                         ": changed while it was read");
    }
    VMRUN_TRY(w.header(first.at(&inode), inode, nullptr));
    uint64_t copied = 0;
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
      if (n < 0) {
        return input_error("layer " + std::to_string(layer) + ": " +
                           archive_message(a.get()));
      }
      if (n == 0) break;
      copied += static_cast<uint64_t>(n);
      if (copied > inode.size) break;
      VMRUN_TRY(w.data(buf.data(), static_cast<size_t>(n)));
    }
    if (copied != inode.size) {
      return input_error("layer " + std::to_string(layer) + ": entry " +
                         quote(first.at(&inode)) + " is truncated");
    }
  }
  return ok();
}

}  // namespace

Result<void> write_flat_tar(const MergedTree& tree,
                            const std::vector<TarInput>& layers,
                            TarOutput out) {
  // An inode's first path in tree order carries it; its other paths
  // become hard links to that one.
  std::unordered_map<const Inode*, std::string> first;
  std::vector<std::map<uint64_t, const Inode*>> wanted(layers.size() + 1);
  VMRUN_TRY(
      walk_tree(tree.root, ".",
                [&](const std::string& path, const Node& n) -> Result<void> {
                  const Inode* inode = n.inode.get();
                  if (n.is_dir() || !first.emplace(inode, path).second)
                    return ok();
                  if (inode->type == FileType::kRegular && inode->size > 0) {
                    if (inode->layer < 1 || inode->layer > layers.size()) {
                      return Error("internal: file data in no layer");
                    }
                    wanted[inode->layer][inode->ordinal] = inode;
                  }
                  return ok();
                }));

  Writer w;
  VMRUN_TRY(w.open(out));
  // Directories, and what has no data, first.
  VMRUN_TRY(
      walk_tree(tree.root, ".",
                [&](const std::string& path, const Node& n) -> Result<void> {
                  const Inode& inode = *n.inode;
                  if (n.is_dir()) return w.header(path, inode, nullptr);
                  if (first.at(&inode) != path) return ok();
                  if (inode.type == FileType::kRegular && inode.size > 0)
                    return ok();
                  return w.header(path, inode, nullptr);
                }));
  for (uint32_t layer = 1; layer <= layers.size(); ++layer) {
    if (wanted[layer].empty()) continue;
    VMRUN_TRY(
        copy_layer_data(w, layer, layers[layer - 1], wanted[layer], first));
  }
  // Last, the hard links: each names a path already written.
  VMRUN_TRY(
      walk_tree(tree.root, ".",
                [&](const std::string& path, const Node& n) -> Result<void> {
                  if (n.is_dir()) return ok();
                  const std::string& to = first.at(n.inode.get());
                  return to == path ? ok() : w.header(path, *n.inode, &to);
                }));
  return w.close();
}

ImageSize image_size(const MergedTree& tree) {
  constexpr uint64_t kBlock = 4096, kInode = 256;
  uint64_t bytes = 0, entries = 0;
  std::unordered_set<const Inode*> seen;
  (void)walk_tree(
      tree.root, ".", [&](const std::string&, const Node& n) -> Result<void> {
        ++entries;
        for (const auto& [name, child] : n.children) {
          bytes += (8 + name.size() + 3) & ~uint64_t{3};  // its directory entry
        }
        const Inode* inode = n.inode.get();
        if (!seen.insert(inode).second) return ok();
        bytes += kInode;
        if (n.is_dir()) bytes += kBlock;
        if (inode->type == FileType::kRegular) {
          bytes += (inode->size + kBlock - 1) / kBlock * kBlock;
        }
        if (inode->symlink.size() > 59) bytes += kBlock;  // not inline
        if (!inode->xattrs.empty()) bytes += kBlock;
        return ok();
      });
  ImageSize s;
  const uint64_t spare = bytes / 4 + (64ull << 20);
  s.bytes = (bytes + spare + kBlock - 1) / kBlock * kBlock;
  s.inodes = entries * 2 + 4096;
  return s;
}

}  // namespace vmrun::rootfs
