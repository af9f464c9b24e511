#include "tools/rootfs/flatten.h"

#include <string_view>

#include "tools/rootfs/entry.h"
#include "tools/rootfs/errors.h"

namespace vmrun::rootfs {
namespace {

constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";
// aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): never part of the tree.
constexpr std::string_view kAufsMeta = ".wh..wh.";

using Path = std::vector<std::string>;

class Merger {
 public:
  explicit Merger(const Limits& limits) : limits_(limits) {
    tree_.root.inode = std::make_shared<Inode>();
  }

  Result<void> add_layer(uint32_t layer, const TarInput& in) {
    layer_ = layer;
    ReadArchive a = VMRUN_TRY(open_tar(in));
    archive_entry* e = nullptr;
    for (uint64_t ordinal = 0;; ++ordinal) {
      int rc = archive_read_next_header(a.get(), &e);
      if (rc == ARCHIVE_EOF) return ok();
      // WARN is for what libarchive could still read (a name in another
      // charset); RETRY and FATAL are a damaged layer.
      if (rc < ARCHIVE_WARN || rc == ARCHIVE_RETRY) {
        return input_error(archive_message(a.get()));
      }
      if (++entries_ > limits_.max_entries) {
        return input_error("the layers hold more than " +
                           std::to_string(limits_.max_entries) + " entries");
      }
      VMRUN_TRY(add_entry(e, ordinal));
      // Skipping a compressed entry still inflates it; the sizes counted
      // above bound that work.
      if (archive_read_data_skip(a.get()) != ARCHIVE_OK) {
        return input_error(archive_message(a.get()));
      }
    }
  }

  MergedTree take() { return std::move(tree_); }

 private:
  Result<void> add_entry(archive_entry* e, uint64_t ordinal) {
    const char* raw =
        entry_name(archive_entry_pathname(e), archive_entry_pathname_utf8(e));
    if (!raw) return input_error("an entry has no name");
    const std::string what = "entry " + quote(raw);
    Path path = VMRUN_TRY(split_entry_path(raw, "entry", limits_.max_path));
    int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (size < 0) return input_error(what + " has a negative size");
    if (static_cast<uint64_t>(size) > limits_.max_entry_bytes) {
      return input_error(what + " is " + std::to_string(size) +
                         " bytes, more than the limit of " +
                         std::to_string(limits_.max_entry_bytes));
    }
    total_bytes_ += static_cast<uint64_t>(size);
    if (total_bytes_ > limits_.max_total_bytes) {
      return input_error("the layers hold more than " +
                         std::to_string(limits_.max_total_bytes) +
                         " bytes (VMRUN_ROOTFS_MAX_BYTES)");
    }
    if (!path.empty() && path.back().starts_with(kWhiteout)) {
      return whiteout(path, raw);
    }
    // A socket is not image content (docker drops them too).
    if (archive_entry_filetype(e) == AE_IFSOCK) return ok();
    const char* link =
        entry_name(archive_entry_hardlink(e), archive_entry_hardlink_utf8(e));
    std::shared_ptr<Inode> inode;
    if (link) {
      inode = VMRUN_TRY(link_target(link, what));
    } else {
      inode = VMRUN_TRY(read_inode(e, size, limits_, what));
      inode->layer = layer_;
      inode->ordinal = ordinal;
    }
    if (path.empty()) {
      if (inode->type != FileType::kDirectory) {
        return input_error(what + " replaces the root directory");
      }
      tree_.root.inode = inode;
      tree_.root.layer = layer_;
      return ok();
    }
    Node* parent = VMRUN_TRY(walk(path, path.size() - 1, true, what));
    std::unique_ptr<Node>& slot = parent->children[path.back()];
    // A directory over a directory merges: new metadata, children kept.
    // Anything else replaces the node and whatever was below it.
    if (!slot || !slot->is_dir() || inode->type != FileType::kDirectory) {
      slot = std::make_unique<Node>();
    }
    slot->inode = std::move(inode);
    slot->layer = layer_;
    return ok();
  }

  Result<std::shared_ptr<Inode>> link_target(const char* link,
                                             const std::string& what) {
    const std::string bad = what + ": hard link to " + quote(link);
    Path target =
        VMRUN_TRY(split_entry_path(link, "hard link target", limits_.max_path));
    Node* node = nullptr;
    if (!target.empty()) {
      Node* parent = VMRUN_TRY(walk(target, target.size() - 1, false, bad));
      if (parent) {
        auto it = parent->children.find(target.back());
        if (it != parent->children.end()) node = it->second.get();
      }
    }
    if (!node || node->is_dir()) {
      return input_error(bad + ", which is not a file in the image");
    }
    return node->inode;
  }

  // `.wh.NAME` removes NAME as the layers below left it; `.wh..wh..opq`
  // hides everything the layers below put in its directory. Both are
  // applied as if before the layer's own entries, wherever they are in
  // the layer's stream: only nodes of lower layers go.
  Result<void> whiteout(const Path& path, const char* raw) {
    const std::string what = "whiteout " + quote(raw);
    const std::string& base = path.back();
    Node* dir = VMRUN_TRY(walk(path, path.size() - 1, false, what));
    if (base == kOpaque) {
      if (dir) hide_children(*dir);
      return ok();
    }
    if (base.starts_with(kAufsMeta)) return ok();
    const std::string name = base.substr(kWhiteout.size());
    if (name.empty() || name == "." || name == "..") {
      return input_error(what + " names " + quote(name));
    }
    if (!dir) return ok();
    auto it = dir->children.find(name);
    if (it != dir->children.end() && hide_lower(*it->second)) {
      dir->children.erase(it);
    }
    return ok();
  }

  // True when the node itself came from a lower layer (the caller drops
  // it); otherwise drops what lower layers put below it.
  bool hide_lower(Node& node) {
    if (node.layer < layer_) return true;
    hide_children(node);
    return false;
  }

  void hide_children(Node& dir) {
    for (auto it = dir.children.begin(); it != dir.children.end();) {
      if (hide_lower(*it->second)) {
        it = dir.children.erase(it);
      } else {
        ++it;
      }
    }
  }

  // The directory holding path[count-1]'s children: path[0..count). A
  // missing directory is made (create) or ends the walk (nullptr). A
  // component that is a symlink or a file is refused: the tree never
  // follows a symlink, so nothing is ever written through one.
  Result<Node*> walk(const Path& path, size_t count, bool create,
                     const std::string& what) {
    Node* cur = &tree_.root;
    for (size_t i = 0; i < count; ++i) {
      auto it = cur->children.find(path[i]);
      if (it == cur->children.end()) {
        if (!create) return static_cast<Node*>(nullptr);
        auto dir = std::make_unique<Node>();
        dir->inode =
            std::make_shared<Inode>();  // 0755 root, as docker makes it
        dir->layer = layer_;
        cur =
            cur->children.emplace(path[i], std::move(dir)).first->second.get();
        continue;
      }
      Node* next = it->second.get();
      if (!next->is_dir()) {
        const bool symlink = next->inode->type == FileType::kSymlink;
        return input_error(what + " is below " +
                           (symlink ? "the symlink " : "") +
                           quote(join_path(path, i + 1)) +
                           (symlink ? "" : ", which is not a directory"));
      }
      cur = next;
    }
    return cur;
  }

  const Limits& limits_;
  MergedTree tree_;
  uint32_t layer_ = 0;
  uint64_t entries_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace

Result<MergedTree> merge_layers(const std::vector<TarInput>& layers,
                                const Limits& limits) {
  Merger m(limits);
  for (size_t i = 0; i < layers.size(); ++i) {
    const uint32_t layer = static_cast<uint32_t>(i + 1);
    VMRUN_TRY_CTX(m.add_layer(layer, layers[i]),
                  "layer " + std::to_string(layer));
  }
  return m.take();
}

}  // namespace vmrun::rootfs
